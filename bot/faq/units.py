"""Word matching by units of meaning, scored over all texts at once with numpy.

A unit is one word of a text with its thesaurus concepts; it matches when any of its
terms is shared. Coverage is counted per unit, so a word matched through a synonym
counts as fully as a word matched verbatim.
"""

from __future__ import annotations

import math

import numpy as np

from bot.faq.postings import FloatArray, IntArray

Units = list[tuple[frozenset[str], float]]


class UnitChannel:
    """Postings from terms to the text units that contain them."""

    def __init__(self, texts: list[Units], owners: IntArray, n_entries: int) -> None:
        self.n_texts = len(texts)
        self.n_entries = n_entries
        self.owners = owners
        entry_df: dict[str, set[int]] = {}
        for units, owner in zip(texts, owners.tolist(), strict=True):
            for terms, _ in units:
                for term in terms:
                    entry_df.setdefault(term, set()).add(owner)
        self.idf = {t: math.log(1.0 + n_entries / len(e)) for t, e in entry_df.items()}
        # A word no entry knows is as telling as the rarest one: it is what the FAQ lacks.
        self.unknown_idf = math.log(1.0 + max(n_entries, 1))
        postings: dict[str, list[int]] = {}
        unit_text: list[int] = []
        unit_weight: list[float] = []
        for text_id, units in enumerate(texts):
            for terms, weight in units:
                uid = len(unit_text)
                unit_text.append(text_id)
                unit_weight.append(weight * self.weight_of(terms))
                for term in terms:
                    postings.setdefault(term, []).append(uid)
        self.postings = {t: np.asarray(p, dtype=np.int64) for t, p in postings.items()}
        self.unit_text = np.asarray(unit_text, dtype=np.int64)
        self.unit_weight = np.asarray(unit_weight, dtype=np.float64)
        self.text_mass = np.bincount(self.unit_text, self.unit_weight, minlength=self.n_texts)
        self.starts = np.searchsorted(owners, np.arange(n_entries))

    def weight_of(self, terms: frozenset[str]) -> float:
        """A unit weighs as much as its most specific known term."""
        known = [self.idf[t] for t in terms if t in self.idf]
        return max(known) if known else self.unknown_idf

    def scores(self, query: Units) -> tuple[FloatArray, FloatArray]:
        """Per entry: share of the query covered, and best share of one text covered."""
        zeros = np.zeros(self.n_entries)
        if not query or self.n_texts == 0:
            return zeros, zeros
        query_cover = np.zeros(self.n_entries)
        total = 0.0
        hit_lists = []
        for terms, weight in query:
            w = weight * self.weight_of(terms)
            total += w
            lists = [self.postings[t] for t in terms if t in self.postings]
            if not lists:
                continue
            hits = np.concatenate(lists)
            hit_lists.append(hits)
            entries = np.unique(self.owners[self.unit_text[hits]])
            query_cover[entries] += w
        query_cover /= max(total, 1e-9)
        if not hit_lists:
            return query_cover, zeros
        units = np.unique(np.concatenate(hit_lists))
        covered = np.bincount(
            self.unit_text[units], self.unit_weight[units], minlength=self.n_texts
        )
        share = np.divide(
            covered, self.text_mass, out=np.zeros_like(covered), where=self.text_mass > 0
        )
        return query_cover, np.maximum.reduceat(share, self.starts)
