"""Adaptors from frozen LM title vectors to the recommender's item space: whitening and/or an MLP."""
from __future__ import annotations

import torch
from torch import nn


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

    @torch.no_grad()
    def fit(self, vectors: torch.Tensor) -> None:
        """Fit mean and ZCA matrix to ``vectors`` [N, dim] (float64 for a stable eigendecomposition)."""
        x = vectors.double()
        mean = x.mean(0)
        cov = torch.cov((x - mean).T)
        values, vecs = torch.linalg.eigh(cov)
        matrix = vecs @ torch.diag(values.clamp(min=0).add(self.eps).rsqrt()) @ vecs.T
        self.mean.copy_(mean.float())
        self.matrix.copy_(matrix.float())
        self.fitted.fill_(True)

    def forward(self, vectors: torch.Tensor) -> torch.Tensor:
        # unit variance per direction, scaled to a unit-norm vector on average
        return (vectors - self.mean) @ self.matrix * self.mean.shape[0] ** -0.5


class TextAdaptor(nn.Module):
    """``adaptor``: none (a linear map), whiten (whitening + linear), mlp (2-layer MLP), whiten_mlp (both)."""

    def __init__(self, kind: str, text_dim: int, out_dim: int, dropout: float) -> None:
        super().__init__()
        self.whitening = Whitening(text_dim) if kind in ("whiten", "whiten_mlp") else None
        if kind in ("mlp", "whiten_mlp"):
            self.head: nn.Module = nn.Sequential(
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
