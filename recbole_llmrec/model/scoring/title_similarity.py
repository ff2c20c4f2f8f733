"""``title_similarity``: at ranking time, the cosine of the frozen LM vectors of the user's recent
titles and each candidate's title. Needs no training, so it carries over to any catalogue.

The user side is the last title (``title_similarity_history: 1``) or the recency-weighted mean of
the last ``title_similarity_history`` titles (weight ``title_similarity_decay ** age``, age 0 =
the last title). Each candidate's weight is ``title_similarity_weight``, or for items the trained
part knows less about ``cold_title_similarity_weight`` (training catalogue, no training
interaction) and ``unseen_title_similarity_weight`` (another catalogue).

With ``title_similarity_words`` w > 0 the similarity is ``cos_LM + w * cos_words``: beside the LM
cosine, the cosine of the titles' tf-idf word vectors (:mod:`~recbole_llmrec.model.text.title_words`) of
the last title and each candidate, which rewards shared rare words (brands, series, authors).
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

import torch
from torch import nn

from recbole_llmrec.model.checks import integer, non_negative, number
from recbole_llmrec.model.scoring.base import ScoringModel, ScoringTerm

#: Item group (``model.catalogue.item_groups()``) -> the key of its own weight.
GROUP_WEIGHTS = {"unseen": "unseen_title_similarity_weight", "cold": "cold_title_similarity_weight"}


class TitleSimilarity(ScoringTerm):
    keys = ("title_similarity_weight", "unseen_title_similarity_weight", "cold_title_similarity_weight",
            "title_similarity_history", "title_similarity_decay", "title_similarity_words")

    @classmethod
    def check(cls, values: Mapping[str, Any]) -> None:
        non_negative("title_similarity_weight", values.get("title_similarity_weight"))
        for key in GROUP_WEIGHTS.values():
            non_negative(key, values.get(key), optional=True)
        integer("title_similarity_history", values.get("title_similarity_history"), minimum=1)
        decay = number("title_similarity_decay", values.get("title_similarity_decay"))
        if not 0.0 < decay <= 1.0:
            raise ValueError(f"title_similarity_decay must be in (0, 1], got {decay}")
        non_negative("title_similarity_words", values.get("title_similarity_words", 0.0))

    def active(self, model: ScoringModel) -> bool:
        v = self.values
        return (not model.training and model.catalogue.title_vectors() is not None
                and (v["title_similarity_weight"] > 0 or any(bool(v[k]) for k in GROUP_WEIGHTS.values())))

    def user_side(self, model: ScoringModel, item_seq: torch.Tensor,
                  item_len: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The unit user vectors [B, H] in the frozen LM's space and each history's last item [B]."""
        return self._users(model.catalogue.title_vectors(), item_seq, item_len), _last_items(item_seq, item_len)

    def columns(self, model: ScoringModel, users: tuple[torch.Tensor, torch.Tensor], start: int,
                stop: int) -> torch.Tensor:
        vectors, last = users
        text = nn.functional.normalize(model.catalogue.title_vectors()[start:stop], dim=-1)
        similarity = vectors @ text.T
        words = self._words_weight()
        if words:
            similarity = similarity + words * model.catalogue.title_words().similarity(last, start, stop).to(similarity.dtype)
        return similarity * self.item_weights(model, start, stop)

    def pointwise(self, model: ScoringModel, item_seq: torch.Tensor, item_len: torch.Tensor,
                  items: torch.Tensor) -> torch.Tensor:
        vectors = model.catalogue.title_vectors()
        text = nn.functional.normalize(vectors[items], dim=-1)
        similarity = (self._users(vectors, item_seq, item_len) * text).sum(-1)
        words = self._words_weight()
        if words:
            last = _last_items(item_seq, item_len)
            similarity = similarity + words * model.catalogue.title_words().pairwise(last, items).to(similarity.dtype)
        return similarity * self.item_weights(model)[items]

    def _words_weight(self) -> float:
        return float(self.values.get("title_similarity_words") or 0.0)

    def _users(self, vectors: torch.Tensor, item_seq: torch.Tensor, item_len: torch.Tensor) -> torch.Tensor:
        """Unit user vectors from the (unnormalized) title ``vectors``; only history rows are normalized."""
        history = min(int(self.values["title_similarity_history"]), item_seq.shape[1])
        if history == 1:
            return nn.functional.normalize(vectors[_last_items(item_seq, item_len)], dim=-1)
        age = torch.arange(history, device=item_seq.device)
        position = item_len.long().unsqueeze(1) - 1 - age  # [B, k], age 0 = the last item
        valid = position >= 0
        items = item_seq.gather(1, position.clamp(min=0)) * valid
        weights = float(self.values["title_similarity_decay"]) ** age.float() * valid
        text = nn.functional.normalize(vectors[items], dim=-1)
        return nn.functional.normalize((weights.unsqueeze(-1) * text).sum(1), dim=-1)

    def item_weights(self, model: ScoringModel, start: int = 0, stop: Optional[int] = None) -> torch.Tensor:
        """Per item of ids ``start..stop-1`` (default all) [stop - start]: ``title_similarity_weight``, or
        its group's own weight when set."""
        stop = model.n_items if stop is None else stop
        weight = torch.full((stop - start,), float(self.values["title_similarity_weight"]),
                            device=model.catalogue.title_vectors().device)
        groups = model.catalogue.item_groups()
        for group, key in GROUP_WEIGHTS.items():  # unseen first, then cold (as before the split)
            value: Optional[float] = self.values[key]
            if value is not None and group in groups:
                weight[groups[group][start:stop]] = value
        return weight


def _last_items(item_seq: torch.Tensor, item_len: torch.Tensor) -> torch.Tensor:
    """Each history's last item id [B] (0, the padding, for an empty history)."""
    return item_seq.gather(1, (item_len.long() - 1).clamp(min=0).unsqueeze(1)).squeeze(1)
