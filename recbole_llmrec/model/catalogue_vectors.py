"""LLMRec's vectors for tools: a bound catalogue's title and item vectors, out and back in (``recommend``
caches them on disk), and text-only vectors of arbitrary titles."""
from __future__ import annotations

from typing import Optional, Sequence

import torch

from recbole_llmrec.model.text.title_words import TitleWords


class CatalogueVectors:
    """Mixed into :class:`~recbole_llmrec.model.llmrec.LLMRec` (uses its ``text``, ``users``, ``n_items``)."""

    def title_vectors(self) -> Optional[torch.Tensor]:
        """The frozen LM vector of every bound title [n_items, H], or None (the LM is trained)."""
        return self.text.title_vectors() if self.users.reads_frozen_titles else None

    lm_title_vectors = title_vectors

    def title_words(self) -> TitleWords:
        """The bound titles' tf-idf word vectors (the title similarity's lexical part)."""
        return self.text.title_words()

    def encode_titles(self, titles: Sequence[str]) -> torch.Tensor:
        """Text-only item vectors [N, D] of arbitrary titles (no id part), without gradient."""
        with torch.no_grad():
            vectors = self.text.encode_titles(titles)
            return self.users.text_item_vectors(vectors) if self.users.reads_frozen_titles else vectors

    def scored_item_rows(self, start: int, stop: int) -> torch.Tensor:
        """Rows ``start..stop-1`` of the item table as scored (one chunk of full-catalogue scoring)."""
        return self.users.scored(self.item_table()[start:stop])

    def load_item_table(self, table: torch.Tensor) -> None:
        """Use ``table`` [n_items, D] (e.g. from an on-disk cache) as the evaluation item table."""
        expected = (self.n_items, self.item_table_width)
        if tuple(table.shape) != expected:
            raise ValueError(f"item table has shape {tuple(table.shape)}, expected {expected}")
        self.users.tables.put("item_table", table.to(self.text.device))

    def catalogue_vectors(self) -> dict[str, torch.Tensor]:
        """What to cache of the bound catalogue: ``item_table`` and, where read, ``title_vectors``."""
        with torch.no_grad():
            vectors = {"item_table": self.item_table().detach().float().cpu()}
            if self.users.reads_frozen_titles:
                vectors["title_vectors"] = self.text.title_vectors().detach().float().cpu()
        return vectors

    def load_catalogue_vectors(self, vectors: dict[str, torch.Tensor], extra_titles: Sequence[str] = ()) -> None:
        """Restore :meth:`catalogue_vectors` of a catalogue bound with ``extra_titles`` after it (history
        titles outside it, never ranked: zero item rows; their title vectors are encoded)."""
        table = vectors["item_table"]
        table = torch.cat([table, table.new_zeros(len(extra_titles), table.shape[1])])
        if "title_vectors" in vectors and self.users.reads_frozen_titles:
            text = vectors["title_vectors"]
            if extra_titles:
                text = torch.cat([text, self.text.encode_titles(list(extra_titles)).float().cpu()])
            self.text.load_title_vectors(text)
        self.load_item_table(table)


class ScoredItems:
    """The model's item vectors as the negative strategies see them (as scored: normalized where cosines)."""

    def __init__(self, model: "CatalogueVectors") -> None:
        self.model = model

    def item_vectors(self, item_ids: torch.Tensor) -> torch.Tensor:
        return self.model.users.scored(self.model.item_vectors(item_ids))

    def training_item_table(self, fresh_ids: torch.Tensor, fresh_vectors: torch.Tensor) -> torch.Tensor:
        return self.model.users.scored(self.model.training_item_table(fresh_ids, fresh_vectors))
