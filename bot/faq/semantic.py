"""The meaning channel: cosine similarity of sentence embeddings, message against entries."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bot.faq.embedding import EmbeddingCache, Vectors, normalise_rows, one_blas_thread
from bot.faq.model import FaqSet
from bot.faq.normalize import question_part
from bot.faq.postings import FloatArray, IntArray

# How much of an entry's question score is its centroid's (the rest: its closest wording).
# Leave-one-domain-out favoured 0.5 (recall +3 points at equal precision), but then a
# topic-only message (「メールについて」) is answered with one of the entries it could mean
# instead of being offered them as choices: kept at 0 until more domains settle it.
CENTROID_SHARE = 0.0
# Entries whose single wordings are compared with the message: the best by centroid. The
# others keep their centroid's cosine. Below this many entries every wording is compared.
WORDING_SHORTLIST = 64


@dataclass(frozen=True)
class Meaning:
    """Per-entry meaning scores of one message (arrays over all entries)."""

    questions: FloatArray  # closest question or alternative (see SemanticIndex.cosine)
    answers: FloatArray  # closest answer
    profile: FloatArray  # the entry as a whole: all its questions and answers together


class RowRanges:
    """Which rows of a matrix (rows sorted by entry) belong to each entry."""

    def __init__(self, owners: list[int], n_entries: int) -> None:
        self.n_rows = len(owners)
        bounds = np.searchsorted(np.asarray(owners, dtype=np.int64), np.arange(n_entries + 1))
        self.starts, self.lengths = bounds[:-1], np.diff(bounds)

    def best(self, matrix: Vectors, entries: IntArray, vector: Vectors) -> FloatArray:
        """For each of `entries`, the best cosine of `vector` with one of its rows."""
        if len(entries) == len(self.starts):
            cosines, segments = matrix @ vector, self.starts  # every row: no copy
        else:
            lengths = self.lengths[entries]
            segments = np.cumsum(lengths) - lengths
            rows = np.arange(int(lengths.sum())) + np.repeat(
                self.starts[entries] - segments, lengths
            )
            cosines = matrix[rows] @ vector
        return np.asarray(np.maximum.reduceat(cosines, segments), dtype=np.float64)


class SemanticIndex:
    """Embeddings of every entry's questions (and alternatives) and answers, built once per load.

    Scoring a message is one product with a contiguous float32 matrix of one row per entry
    (the centroid of its questions), then products with the wordings and answers of the
    WORDING_SHORTLIST entries nearest by centroid only: wordings and answers are most of
    the vectors, and streaming all of them from memory for every message is what made a
    large FAQ slow.
    """

    def __init__(self, faq: FaqSet, cache: EmbeddingCache) -> None:
        self.cache = cache
        texts: list[str] = []
        owners: list[int] = []
        for i, entry in enumerate(faq.entries):
            for text in entry.texts:
                texts.append(text)
                owners.append(i)
        self.n_entries = n = len(faq.entries)
        # Answers say what an entry covers in other words than its questions (one per language).
        answers: list[str] = []
        answer_owners: list[int] = []
        for i, entry in enumerate(faq.entries):
            for text in entry.answer.values() if isinstance(entry.answer, dict) else [entry.answer]:
                answers.append(text)
                answer_owners.append(i)
        # One call: the cache keeps exactly the texts of this load.
        vectors = cache.embed_all(texts + answers)
        self.wording_rows = RowRanges(owners, n)
        self.answer_rows = RowRanges(answer_owners, n)
        self.wordings: Vectors = np.ascontiguousarray(vectors[: len(texts)], dtype=np.float32)
        self.answers: Vectors = np.ascontiguousarray(vectors[len(texts) :], dtype=np.float32)
        starts = self.wording_rows.starts
        self.centroids: Vectors = np.ascontiguousarray(
            normalise_rows(np.add.reduceat(self.wordings.astype(np.float64), starts))
            if n
            else np.zeros((0, self.wordings.shape[1] if self.wordings.ndim == 2 else 0)),
            dtype=np.float32,
        )
        # An entry's profile: the normalised sum of all its wordings and answers, what the
        # entry is about as a whole. It ranks the right entry first more often than any
        # single wording (a paraphrase rarely matches one wording but shares the topic).
        answer_sums = (
            np.add.reduceat(self.answers.astype(np.float64), self.answer_rows.starts)
            if n and len(self.answers)
            else np.zeros_like(self.centroids, dtype=np.float64)
        )
        wording_sums = (
            np.add.reduceat(self.wordings.astype(np.float64), starts)
            if n
            else np.zeros_like(answer_sums)
        )
        self.profiles: Vectors = np.ascontiguousarray(
            normalise_rows(wording_sums + answer_sums) if n else self.centroids,
            dtype=np.float32,
        )

    def embed_message(self, text: str) -> FloatArray:
        """The message's vector: a long message is represented by its question."""
        return self.cache.embed_message(question_part(text) or text)

    def cosine(self, text: str) -> tuple[FloatArray, FloatArray]:
        """Per entry, how close the message is to the entry's questions, and to its answer.

        The questions' score is the best single question or alternative (a near
        paraphrase of one wording), blended with the centroid of all of them (what the
        entry is about as a whole) by CENTROID_SHARE. Entries outside the
        WORDING_SHORTLIST nearest by centroid score their centroid's cosine for both
        (they are far from the message).
        """
        if self.n_entries == 0:
            return np.zeros(0), np.zeros(0)
        if not text.strip():
            return np.zeros(self.n_entries), np.zeros(self.n_entries)
        return self.scores(self.embed_message(text))

    def meaning(self, text: str) -> Meaning:
        """Every meaning score of the message: `cosine`'s two and the entries' profiles."""
        n = self.n_entries
        if n == 0 or not text.strip():
            return Meaning(np.zeros(n), np.zeros(n), np.zeros(n))
        return self.meaning_of(self.embed_message(text))

    def scores(self, vector: FloatArray) -> tuple[FloatArray, FloatArray]:
        """`cosine` for a message already embedded."""
        meaning = self.meaning_of(vector)
        return meaning.questions, meaning.answers

    def meaning_of(self, vector: FloatArray) -> Meaning:
        """`meaning` for a message already embedded.

        Like wordings and answers, profiles are compared for the WORDING_SHORTLIST entries
        nearest by centroid only; the others keep their centroid's cosine.
        """
        n = self.n_entries
        if n == 0:
            return Meaning(np.zeros(0), np.zeros(0), np.zeros(0))
        vector32: Vectors = np.asarray(vector, dtype=np.float32)
        with one_blas_thread():
            centroid = (self.centroids @ vector32).astype(np.float64)
            if n <= WORDING_SHORTLIST:
                near = np.arange(n)
                profile = (self.profiles @ vector32).astype(np.float64)
            else:
                near = np.sort(np.argpartition(-centroid, WORDING_SHORTLIST)[:WORDING_SHORTLIST])
                profile = centroid.copy()
                profile[near] = self.profiles[near] @ vector32
            best = self.wording_rows.best(self.wordings, near, vector32)
            answer = self.answer_rows.best(self.answers, near, vector32)
        questions = centroid.copy()
        questions[near] = (1.0 - CENTROID_SHARE) * best + CENTROID_SHARE * centroid[near]
        answers = centroid.copy()  # an entry far from the message: its answer is as far
        answers[near] = answer
        return Meaning(questions, answers, profile)
