"""The meaning channel: cosine similarity of sentence embeddings, message against entries."""

from __future__ import annotations

import numpy as np

from bot.faq.channel import FloatArray
from bot.faq.embedding import EmbeddingCache
from bot.faq.model import FaqSet
from bot.faq.normalize import question_part


class SemanticIndex:
    """Embeddings of every entry's texts (question and alternatives), built once per load."""

    def __init__(self, faq: FaqSet, cache: EmbeddingCache) -> None:
        self.cache = cache
        texts: list[str] = []
        owners: list[int] = []
        for i, entry in enumerate(faq.entries):
            for text in entry.texts:
                texts.append(text)
                owners.append(i)
        self.n_entries = len(faq.entries)
        self.matrix = cache.embed_all(texts)
        self.starts = np.searchsorted(np.asarray(owners, dtype=np.int64), np.arange(self.n_entries))

    def embed_message(self, text: str) -> FloatArray:
        """The message's vector: a long message is represented by its question."""
        source = question_part(text) or text
        return self.cache.embedder.embed([source])[0]

    def cosine(self, text: str) -> FloatArray:
        """Per entry, the best cosine between the message and one of the entry's texts."""
        if self.n_entries == 0:
            return np.zeros(0)
        if not text.strip():
            return np.zeros(self.n_entries)
        per_text = self.matrix @ self.embed_message(text)
        return np.asarray(np.maximum.reduceat(per_text, self.starts), dtype=np.float64)
