"""Scoring terms of LLMRec's ranking score (one module each); the score is their sum."""
from __future__ import annotations

from typing import Any, Mapping, Optional

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
    """The registered terms with their values (weights as data); :meth:`scores` sums the active ones."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.terms: dict[str, ScoringTerm] = {name: cls(values) for name, cls in SCORING_TERMS.items()}
        #: Whether :meth:`values` were fitted (then saved with checkpoints and restored on loading).
        self.fitted = False

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

    def scores(self, model: ScoringModel, item_seq: torch.Tensor, item_len: torch.Tensor,
               items: Optional[torch.Tensor] = None, terms: Optional[list[str]] = None) -> torch.Tensor:
        """Sum of the active terms (only ``terms`` when given; zeros when none is active): [B, n_items],
        or [B] for ``items`` [B]."""
        names = list(self.terms) if terms is None else terms
        unknown = [n for n in names if n not in self.terms]
        if unknown:
            raise ValueError(f"unknown scoring term(s) {unknown}; terms: {list(self.terms)}")
        total: Optional[torch.Tensor] = None
        for name in names:
            term = self.terms[name]
            if not term.active(model):
                continue
            part = term.full(model, item_seq, item_len) if items is None else term.pointwise(model, item_seq, item_len, items)
            total = part if total is None else total + part
        if total is None:  # every named term is off now: they add nothing
            shape = (item_seq.shape[0],) if items is not None else (item_seq.shape[0], model.n_items)
            return torch.zeros(shape, device=item_seq.device)
        return total


__all__ = ["SCORING_TERMS", "Scoring", "ScoringModel", "ScoringTerm"]
