"""``model.catalogue``: the bound catalogue as vectors beyond the learned score: the frozen LM's title
vectors and the titles' words (what the title-similarity term reads), the groups of items the trained
part knows less about, text-only vectors of arbitrary titles, and the catalogue's vectors out and back
in (``recommend`` caches them on disk, model folders store them)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Sequence

import torch

from recbole_llmrec.model.text.title_words import TitleWords

if TYPE_CHECKING:
    from recbole_llmrec.model.llmrec import LLMRec


class CatalogueVectors:
    """LLMRec's ``model.catalogue`` (reads the model's ``text``, ``users`` and ``items``)."""

    def __init__(self, model: "LLMRec") -> None:
        self._model = model

    def title_vectors(self) -> Optional[torch.Tensor]:
        """The frozen LM vector of every bound title [n_items, H], or None (the LM is trained)."""
        model = self._model
        return model.text.title_vectors() if model.users.reads_frozen_titles else None

    def title_words(self) -> TitleWords:
        """The bound titles' tf-idf word vectors (the title similarity's lexical part)."""
        return self._model.text.title_words()

    def item_groups(self) -> dict[str, torch.Tensor]:
        """Bool masks [n_items] of the items the trained part knows less about (``cold``, ``unseen``)."""
        return self._model.users.item_groups()

    def encode_titles(self, titles: Sequence[str]) -> torch.Tensor:
        """Text-only item vectors [N, D] of arbitrary titles (no id part), without gradient."""
        model = self._model
        with torch.no_grad():
            vectors = model.text.encode_titles(titles)
            return model.users.text_item_vectors(vectors) if model.users.reads_frozen_titles else vectors

    def vectors(self) -> dict[str, torch.Tensor]:
        """What to keep of the bound catalogue (row 0 = padding): ``item_table`` and, where read, ``title_vectors``."""
        model = self._model
        with torch.no_grad():
            vectors = {"item_table": model.items.table().detach().float().cpu()}
            if model.users.reads_frozen_titles:
                vectors["title_vectors"] = model.text.title_vectors().detach().float().cpu()
        return vectors

    def load_vectors(self, vectors: dict[str, torch.Tensor], extra_titles: Sequence[str] = ()) -> None:
        """Restore :meth:`vectors` of a catalogue bound with ``extra_titles`` after it (history titles
        outside it, never ranked: zero item rows; their title vectors are encoded)."""
        model = self._model
        table = vectors["item_table"]
        table = torch.cat([table, table.new_zeros(len(extra_titles), table.shape[1])])
        if "title_vectors" in vectors and model.users.reads_frozen_titles:
            text = vectors["title_vectors"]
            if extra_titles:
                text = torch.cat([text, model.text.encode_titles(list(extra_titles)).float().cpu()])
            model.text.load_title_vectors(text)
        model.items.load(table)
