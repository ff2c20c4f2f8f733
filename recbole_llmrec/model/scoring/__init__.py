"""Scoring terms of LLMRec's ranking score (one module each); the score is their sum."""
from __future__ import annotations

from typing import Any, Iterator, Mapping, Optional

import torch

from recbole_llmrec.model.scoring.base import ScoringModel, ScoringTerm
from recbole_llmrec.model.scoring.learned import LearnedScore
from recbole_llmrec.model.scoring.title_similarity import TitleSimilarity

#: Term name -> class, in summation order. Adding a term: one module + one line here + its YAML keys.
SCORING_TERMS: dict[str, type[ScoringTerm]] = {
    "learned": LearnedScore,
    "title_similarity": TitleSimilarity,
}


class Scoring:
    """The registered terms with their values (weights as data); :meth:`scores` sums the active ones.

    Full-catalogue scores are computed in chunks of ``chunk_items`` items (``score_chunk_items``; None:
    one chunk): each term's intermediate matrices are [B, chunk]; :meth:`scores` writes the chunks
    into the one [B, n_items] result, :meth:`top_k` keeps only a running top-k.
    """

    def __init__(self, values: Mapping[str, Any], chunk_items: Optional[int] = None) -> None:
        self.terms: dict[str, ScoringTerm] = {name: cls(values) for name, cls in SCORING_TERMS.items()}
        #: Whether :meth:`values` were fitted (then saved with checkpoints and restored on loading).
        self.fitted = False
        #: Items per full-catalogue scoring chunk (None: the whole catalogue at once).
        self.chunk_items = chunk_items

    def values(self) -> dict[str, Any]:
        """Every term's keys and values."""
        return {key: value for term in self.terms.values() for key, value in term.values.items()}

    def set_values(self, values: Mapping[str, Any], fitted: bool = False) -> None:
        """Replace some terms' values (validated by each term); ``fitted`` marks fitted values."""
        known = self.values()
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"no scoring term has the key(s) {unknown}; keys: {sorted(known)}")
        for term in self.terms.values():
            mine = {k: values[k] for k in term.keys if k in values}
            if mine:
                merged = {**term.values, **mine}
                term.check(merged)
                term.values = merged
        self.fitted = self.fitted or fitted

    def active_terms(self, model: ScoringModel, terms: Optional[list[str]] = None) -> list[ScoringTerm]:
        """The terms named (default: all) that add anything now, in summation order."""
        names = list(self.terms) if terms is None else terms
        unknown = [n for n in names if n not in self.terms]
        if unknown:
            raise ValueError(f"unknown scoring term(s) {unknown}; terms: {list(self.terms)}")
        return [self.terms[name] for name in names if self.terms[name].active(model)]

    def scores(self, model: ScoringModel, item_seq: torch.Tensor, item_len: torch.Tensor,
               items: Optional[torch.Tensor] = None, terms: Optional[list[str]] = None) -> torch.Tensor:
        """Sum of the active terms (only ``terms`` when given; zeros when none is active): [B, n_items],
        or [B] for ``items`` [B]."""
        if items is None:
            return self._full(model, item_seq, item_len, terms)
        total: Optional[torch.Tensor] = None
        for term in self.active_terms(model, terms):
            part = term.pointwise(model, item_seq, item_len, items)
            total = part if total is None else total + part
        return torch.zeros(item_seq.shape[0], device=item_seq.device) if total is None else total

    def chunks(self, model: ScoringModel, item_seq: torch.Tensor, item_len: torch.Tensor,
               terms: Optional[list[str]] = None, start: int = 0,
               stop: Optional[int] = None) -> Iterator[tuple[int, torch.Tensor]]:
        """``(first item id, scores [B, width])`` of consecutive chunks of item ids ``start..stop-1``
        (default: every item); each term's user side is computed once."""
        stop = model.n_items if stop is None else stop
        sides = [(term, term.user_side(model, item_seq, item_len)) for term in self.active_terms(model, terms)]
        step = max(stop - start, 1) if self.chunk_items is None else self.chunk_items
        for lo in range(start, stop, step):
            hi = min(lo + step, stop)
            total: Optional[torch.Tensor] = None
            for term, users in sides:
                part = term.columns(model, users, lo, hi)
                total = part if total is None else total + part
            if total is None:  # every named term is off now: they add nothing
                total = torch.zeros((item_seq.shape[0], hi - lo), device=item_seq.device)
            yield lo, total

    def _full(self, model: ScoringModel, item_seq: torch.Tensor, item_len: torch.Tensor,
              terms: Optional[list[str]]) -> torch.Tensor:
        """[B, n_items], the only full-size tensor: the chunks are written into it."""
        out: Optional[torch.Tensor] = None
        for lo, block in self.chunks(model, item_seq, item_len, terms):
            if lo == 0 and block.shape[1] == model.n_items:
                return block
            if out is None:
                out = block.new_empty((block.shape[0], model.n_items))
            out[:, lo: lo + block.shape[1]] = block
        return out if out is not None else torch.zeros((item_seq.shape[0], model.n_items), device=item_seq.device)

    def top_k(self, model: ScoringModel, item_seq: torch.Tensor, item_len: torch.Tensor, k: int,
              start: int = 0, stop: Optional[int] = None, exclude: Optional[torch.Tensor] = None,
              terms: Optional[list[str]] = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``k`` best of item ids ``start..stop-1`` per user: ``(scores [B, k'], ids [B, k'])`` in
        descending order (float32; k' = min(k, items)), chunk by chunk with a running top-k. ``exclude``
        (ids [E]) score -inf for every user."""
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        best: Optional[tuple[torch.Tensor, torch.Tensor]] = None
        for lo, block in self.chunks(model, item_seq, item_len, terms, start, stop):
            ids = torch.arange(lo, lo + block.shape[1], device=block.device)
            block = block.float()
            if exclude is not None:
                block = block.masked_fill(torch.isin(ids, exclude.to(ids.device)), float("-inf"))
            ids = ids.expand(block.shape[0], -1)
            if best is not None:
                block, ids = torch.cat([best[0], block], dim=1), torch.cat([best[1], ids], dim=1)
            values, where = block.topk(min(k, block.shape[1]), dim=1)
            best = (values, ids.gather(1, where))
        if best is None:
            empty = torch.empty((item_seq.shape[0], 0), device=item_seq.device)
            return empty, empty.long()
        return best


__all__ = ["SCORING_TERMS", "Scoring", "ScoringModel", "ScoringTerm"]
