"""The interface of a scoring term: one additive part of LLMRec's ranking score."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Optional, Protocol

import torch

if TYPE_CHECKING:
    from recbole_llmrec.model.text.title_words import TitleWords


class ScoringItems(Protocol):
    """The learned score's vectors (LLMRec's ``model.items``, :class:`~recbole_llmrec.model.item_table.ItemTable`)."""

    def query(self, item_seq: torch.Tensor, item_len: torch.Tensor) -> torch.Tensor: ...

    def scored(self, item_ids: Optional[torch.Tensor] = None) -> torch.Tensor: ...

    def scored_rows(self, start: int, stop: int) -> torch.Tensor: ...


class ScoringCatalogue(Protocol):
    """The bound catalogue's titles (``model.catalogue`` of LLMRec and TitleKNN)."""

    def title_vectors(self) -> Optional[torch.Tensor]: ...

    def title_words(self) -> "TitleWords": ...

    def item_groups(self) -> dict[str, torch.Tensor]: ...


class ScoringModel(Protocol):
    """What a term may read from the model: ``training``, ``n_items`` and two components."""

    training: bool
    n_items: int
    items: ScoringItems
    catalogue: ScoringCatalogue


class ScoringTerm:
    """``weighted scores`` of a batch of histories against a range of items ([B, stop - start],
    :meth:`columns`, on what :meth:`user_side` computed once per batch), against every item
    ([B, n_items], :meth:`full`) or against one candidate each ([B], :meth:`pointwise`); the model's
    score is the sum over the active terms. Full-catalogue scoring calls :meth:`columns` chunk by chunk
    (``score_chunk_items``), so a term that implements it never builds a [B, n_items] matrix; a term
    that overrides :meth:`full` only is still correct (each chunk slices its full matrix).

    A term's weights and options are its YAML keys (:attr:`keys`, defaults in
    ``properties/model/LLMRec.yaml``), held as data in :attr:`values`: settings, or values fitted
    later and saved in the checkpoint. Register a new term in ``SCORING_TERMS``
    (``scoring/__init__.py``) and document its keys in the YAML.
    """

    #: The YAML keys of this term.
    keys: tuple[str, ...] = ()

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.check(values)
        self.values: dict[str, Any] = {key: values.get(key) for key in self.keys}

    @classmethod
    def check(cls, values: Mapping[str, Any]) -> None:
        """Raise ``ValueError`` naming the key of a bad value (called by settings validation)."""

    def active(self, model: ScoringModel) -> bool:
        """Whether the term adds anything now (e.g. only at ranking time, only with a weight > 0)."""
        return True

    def user_side(self, model: ScoringModel, item_seq: torch.Tensor, item_len: torch.Tensor) -> Any:
        """What :meth:`columns` needs of a batch of histories, computed once per batch (default: the histories)."""
        return item_seq, item_len

    def columns(self, model: ScoringModel, users: Any, start: int, stop: int) -> torch.Tensor:
        """Weighted scores [B, stop - start] of item ids ``start..stop-1``; ``users`` from :meth:`user_side`."""
        if type(self).full is ScoringTerm.full:
            raise NotImplementedError(f"{type(self).__name__} implements neither columns nor full")
        item_seq, item_len = users
        return self.full(model, item_seq, item_len)[:, start:stop]

    def full(self, model: ScoringModel, item_seq: torch.Tensor, item_len: torch.Tensor) -> torch.Tensor:
        """Weighted scores [B, n_items] against every item (one chunk)."""
        return self.columns(model, self.user_side(model, item_seq, item_len), 0, model.n_items)

    def pointwise(self, model: ScoringModel, item_seq: torch.Tensor, item_len: torch.Tensor,
                  items: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError
