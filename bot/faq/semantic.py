"""The meaning channel: cosine similarity of sentence embeddings, message against entries."""

from __future__ import annotations

import numpy as np

from bot.faq.channel import FloatArray
from bot.faq.embedding import EmbeddingCache, one_blas_thread
from bot.faq.model import FaqSet
from bot.faq.normalize import question_part


class SemanticIndex:
    """Embeddings of every entry's questions (and alternatives) and answers, built once per load."""

    def __init__(self, faq: FaqSet, cache: EmbeddingCache) -> None:
        self.cache = cache
        texts: list[str] = []
        owners: list[int] = []
        for i, entry in enumerate(faq.entries):
            for text in entry.texts:
                texts.append(text)
                owners.append(i)
        self.n_entries = len(faq.entries)
        # Answers say what an entry covers in other words than its questions (one per language).
        answers: list[str] = []
        answer_owners: list[int] = []
        for i, entry in enumerate(faq.entries):
            for text in entry.answer.values() if isinstance(entry.answer, dict) else [entry.answer]:
                answers.append(text)
                answer_owners.append(i)
        # One call: the cache keeps exactly the texts of this load.
        vectors = cache.embed_all(texts + answers)
        self.matrix, self.answers = vectors[: len(texts)], vectors[len(texts) :]
        self.starts = np.searchsorted(np.asarray(owners, dtype=np.int64), np.arange(self.n_entries))
        self.answer_starts = np.searchsorted(
            np.asarray(answer_owners, dtype=np.int64), np.arange(self.n_entries)
        )

    def embed_message(self, text: str) -> FloatArray:
        """The message's vector: a long message is represented by its question."""
        source = question_part(text) or text
        return self.cache.embedder.embed([source])[0]

    def cosine(self, text: str) -> tuple[FloatArray, FloatArray]:
        """Per entry, the best cosine between the message and one of the entry's questions,
        and between the message and the entry's answer."""
        if self.n_entries == 0:
            return np.zeros(0), np.zeros(0)
        if not text.strip():
            return np.zeros(self.n_entries), np.zeros(self.n_entries)
        vector = self.embed_message(text).astype(np.float32)
        with one_blas_thread():
            questions = np.maximum.reduceat(self.matrix @ vector, self.starts)
            answers = np.maximum.reduceat(self.answers @ vector, self.answer_starts)
        return np.asarray(questions, dtype=np.float64), np.asarray(answers, dtype=np.float64)
