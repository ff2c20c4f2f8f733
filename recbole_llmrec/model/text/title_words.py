"""The words of a catalogue's titles as unit tf-idf vectors: a lexical title similarity beside the LM's.

Words are runs of lower-case letters and digits (HTML entities such as ``&amp;`` unescaped first), of
two characters or more; a word's idf is ``log(N / df)`` over the catalogue's N non-empty titles, so
brand and series names, rare across the catalogue, weigh most. Nothing is trained and nothing but the
titles is read, so the vectors are built for any catalogue, including one the model never saw.
"""
from __future__ import annotations

import html
import re
from typing import Sequence

import numpy as np
import scipy.sparse as sp
import torch

_WORD = re.compile(r"[a-z0-9]{2,}")


def title_words(title: str) -> list[str]:
    """The distinct words of ``title`` in order of first appearance."""
    return list(dict.fromkeys(_WORD.findall(html.unescape(title).lower())))


class TitleWords:
    """Unit tf-idf rows [n_titles, vocabulary] (binary term frequency) of ``titles``, a scipy CSR
    matrix; an empty title (the padding row) is a row of zeros."""

    def __init__(self, titles: Sequence[str]) -> None:
        vocabulary: dict[str, int] = {}
        indptr, indices = [0], []
        for title in titles:
            words = title_words(title) if title else []
            indices.extend(vocabulary.setdefault(word, len(vocabulary)) for word in words)
            indptr.append(len(indices))
        columns = np.asarray(indices, dtype=np.int64)
        documents = int(np.count_nonzero(np.diff(indptr)))
        df = np.bincount(columns, minlength=len(vocabulary)).astype(np.float64)
        idf = np.log(max(documents, 1) / np.maximum(df, 1.0)).astype(np.float32)
        matrix = sp.csr_matrix((idf[columns], columns, np.asarray(indptr, dtype=np.int64)),
                               shape=(len(titles), max(len(vocabulary), 1)), dtype=np.float32)
        norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
        self.matrix: sp.csr_matrix = sp.diags(np.where(norms > 0, 1.0 / np.maximum(norms, 1e-12), 0.0)
                                              .astype(np.float32)) @ matrix
        self.vocabulary_size = len(vocabulary)

    def __len__(self) -> int:
        return self.matrix.shape[0]

    def similarity(self, rows: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        """The cosine [len(rows), stop - start] of titles ``rows`` with titles ``start..stop-1``."""
        users = self.matrix[rows.detach().cpu().numpy()]
        block = (users @ self.matrix[start:stop].T).toarray()
        return torch.from_numpy(block).to(rows.device)

    def pairwise(self, rows: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """The cosine [B] of title ``rows[b]`` with title ``items[b]``."""
        left = self.matrix[rows.detach().cpu().numpy()]
        right = self.matrix[items.detach().cpu().numpy()]
        return torch.from_numpy(np.asarray(left.multiply(right).sum(axis=1), dtype=np.float32).ravel()).to(rows.device)


__all__ = ["TitleWords", "title_words"]
