"""Adaptors from frozen LM title vectors to the recommender's item space: whitening, an MLP, or a
mixture of parametric-whitening experts (UniSRec)."""
from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import nn


def map_in_chunks(vectors: torch.Tensor, rows: int, map_rows: Callable[[torch.Tensor], torch.Tensor],
                  dtype: Optional[torch.dtype] = None) -> torch.Tensor:
    """``map_rows(vectors)``; for a whole catalogue mapped without gradient (2-D, more than ``rows``
    rows) ``rows`` at a time into one preallocated result (of ``dtype``; None: the chunks' own), so
    memory holds the result and one chunk's intermediates."""
    if vectors.dim() != 2 or vectors.shape[0] <= rows or torch.is_grad_enabled():
        return map_rows(vectors)
    out: Optional[torch.Tensor] = None
    for start in range(0, vectors.shape[0], rows):
        mapped = map_rows(vectors[start: start + rows])
        if out is None:
            out = mapped.new_empty((vectors.shape[0], *mapped.shape[1:]), dtype=dtype or mapped.dtype)
        out[start: start + len(mapped)] = mapped
    return out


class Whitening(nn.Module):
    """ZCA whitening with statistics of the training catalogue, fixed once fitted (WhitenRec).

    The mean and whitening matrix are persistent buffers: a checkpoint keeps them, so another
    catalogue (zero-shot) is mapped with the statistics the model was trained with.
    """

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("matrix", torch.eye(dim))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    #: Rows per step when fitting to, or mapping, a whole catalogue: memory holds one such chunk in
    #: float64 (a 1,000,000 x 384 catalogue at once took 9 GiB of float64 copies to fit).
    rows_per_chunk = 65536

    @torch.no_grad()
    def fit(self, vectors: torch.Tensor) -> None:
        """Fit mean and ZCA matrix to ``vectors`` [N, dim] (float64 sums, for a stable eigendecomposition;
        :attr:`rows_per_chunk` rows at a time; covariance with ``N - 1``, as ``torch.cov``)."""
        n, dim = vectors.shape
        step = self.rows_per_chunk
        total = torch.zeros(dim, dtype=torch.float64, device=vectors.device)
        for start in range(0, n, step):
            total += vectors[start: start + step].double().sum(0)
        mean = total / n
        cov = torch.zeros(dim, dim, dtype=torch.float64, device=vectors.device)
        for start in range(0, n, step):
            x = vectors[start: start + step].double() - mean
            cov += x.T @ x
        cov /= n - 1
        values, vecs = torch.linalg.eigh(cov)
        matrix = vecs @ torch.diag(values.clamp(min=0).add(self.eps).rsqrt()) @ vecs.T
        self.mean.copy_(mean.float())
        self.matrix.copy_(matrix.float())
        self.fitted.fill_(True)

    def forward(self, vectors: torch.Tensor) -> torch.Tensor:
        # unit variance per direction, scaled to a unit-norm vector on average; a whole catalogue without
        # gradient: the result and one chunk, not a centred copy of the input
        return map_in_chunks(vectors, self.rows_per_chunk, self._map,
                             dtype=torch.result_type(vectors, self.matrix))

    def _map(self, vectors: torch.Tensor) -> torch.Tensor:
        return (vectors - self.mean) @ self.matrix * self.mean.shape[0] ** -0.5


class MixtureOfWhitening(nn.Module):
    """UniSRec's MoE adaptor: ``experts`` parametric whitenings ``(x - b_k) W_k`` (a learned shift and a
    linear map each, trained on the training catalogue's titles), mixed by a softmax gate read from ``x``.

    Nothing is fitted to one catalogue's statistics, so another catalogue's titles go through the same
    learned maps (the inductive setting UniSRec transfers with).
    """

    def __init__(self, text_dim: int, out_dim: int, experts: int, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.shift = nn.Parameter(torch.zeros(experts, text_dim))
        self.maps = nn.Parameter(torch.empty(experts, text_dim, out_dim).normal_(std=0.02))
        self.gate = nn.Linear(text_dim, experts, bias=False)
        nn.init.zeros_(self.gate.weight)  # starts as the experts' mean

    #: Rows per step when mapping a whole catalogue without gradient: the experts' outputs are
    #: [rows, experts, out], so memory holds that for one chunk only.
    rows_per_chunk = 65536

    def forward(self, vectors: torch.Tensor) -> torch.Tensor:
        return map_in_chunks(vectors, self.rows_per_chunk, self._map)

    def _map(self, vectors: torch.Tensor) -> torch.Tensor:
        x = self.dropout(vectors)
        gates = torch.softmax(self.gate(x), dim=-1)  # [..., E]
        experts = torch.einsum("...d,edo->...eo", x, self.maps) - (self.shift.unsqueeze(1) @ self.maps).squeeze(1)
        return (gates.unsqueeze(-1) * experts).sum(-2)


class TextAdaptor(nn.Module):
    """``adaptor``: none (a linear map), whiten (whitening + linear), mlp (2-layer MLP), whiten_mlp (both),
    moe (a mixture of ``experts`` parametric whitenings, :class:`MixtureOfWhitening`)."""

    def __init__(self, kind: str, text_dim: int, out_dim: int, dropout: float, experts: int = 8) -> None:
        super().__init__()
        self.whitening = Whitening(text_dim) if kind in ("whiten", "whiten_mlp") else None
        self.head: nn.Module
        if kind == "moe":  # initialised by the mixture itself (its gate starts at 0)
            self.head = MixtureOfWhitening(text_dim, out_dim, experts, dropout)
            return
        if kind in ("mlp", "whiten_mlp"):
            self.head = nn.Sequential(
                nn.Linear(text_dim, text_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(text_dim, out_dim)
            )
        else:
            self.head = nn.Linear(text_dim, out_dim)
        for module in self.head.modules():  # as RecBole's SASRec: small N(0, 0.02) weights, zero biases
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)

    @property
    def needs_fit(self) -> bool:
        return self.whitening is not None and not bool(self.whitening.fitted)

    def fit(self, vectors: torch.Tensor) -> None:
        """Fit the whitening statistics (no-op without whitening)."""
        if self.whitening is not None:
            self.whitening.fit(vectors)

    def fixed(self, vectors: torch.Tensor) -> torch.Tensor:
        """The untrained part (whitening, or nothing): computed once per catalogue by the model."""
        return self.whitening(vectors) if self.whitening is not None else vectors

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """The trained part, applied to :meth:`fixed` features."""
        return self.head(features)
