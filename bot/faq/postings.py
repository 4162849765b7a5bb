"""A sparse term index over the FAQ's texts, scored with numpy (no per-entry Python loop)."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class TermPostings:
    """Postings of one kind of term (here: character bigrams) over texts.

    Texts belong to entries (`owners`, sorted); IDF is computed over entries so an entry
    with many alternatives does not make its own words look common.
    """

    def __init__(self, texts: list[dict[str, float]], owners: IntArray, n_entries: int) -> None:
        self.n_texts = len(texts)
        self.n_entries = n_entries
        entry_df: dict[str, set[int]] = {}
        postings: dict[str, list[int]] = {}
        for text_id, (terms, owner) in enumerate(zip(texts, owners.tolist(), strict=True)):
            for term in terms:
                postings.setdefault(term, []).append(text_id)
                entry_df.setdefault(term, set()).add(owner)
        self.idf = {t: math.log(1.0 + n_entries / len(e)) for t, e in entry_df.items()}
        # A term no entry uses is as telling as the rarest one: it is what the FAQ lacks.
        self.unknown_idf = math.log(1.0 + max(n_entries, 1))
        self.postings = {t: np.asarray(p, dtype=np.int64) for t, p in postings.items()}
        self.text_norm = np.asarray(
            [math.sqrt(sum((self.idf[t] * w) ** 2 for t, w in terms.items())) for terms in texts],
            dtype=np.float64,
        )
        self.starts = np.searchsorted(owners, np.arange(n_entries))

    def weigh(self, query: dict[str, float]) -> dict[str, float]:
        """Query terms weighted by IDF (unknown terms get the highest IDF)."""
        return {t: w * self.idf.get(t, self.unknown_idf) for t, w in query.items()}

    def text_overlap(self, values: dict[str, float]) -> FloatArray:
        """For each text, the sum of `values` of the terms it contains."""
        known = [(self.postings[t], v) for t, v in values.items() if t in self.postings]
        if not known:
            return np.zeros(self.n_texts)
        ids = np.concatenate([p for p, _ in known])
        vals = np.repeat([v for _, v in known], [len(p) for p, _ in known])
        return np.asarray(np.bincount(ids, vals, minlength=self.n_texts), dtype=np.float64)

    def per_entry_max(self, per_text: FloatArray) -> FloatArray:
        """The best text's value for each entry."""
        if self.n_texts == 0:
            return np.zeros(self.n_entries)
        return np.asarray(np.maximum.reduceat(per_text, self.starts), dtype=np.float64)
