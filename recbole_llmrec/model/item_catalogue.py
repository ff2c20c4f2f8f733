"""``ItemCatalogue``: what a model needs to know of its items, without a RecBole dataset.

Index ``i`` of every list describes item id ``i``; index 0 is RecBole's padding item (``"[PAD]"``,
title ``""``). :meth:`ItemCatalogue.from_dataset` reads it from a RecBole dataset (the training split's,
for ``trained``); ``LLMRec.from_catalogue`` / ``TitleKNN.from_catalogue`` build a model from it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import torch

from recbole_llmrec.data.item_counts import item_train_counts
from recbole_llmrec.data.titles import PAD_TOKEN, load_domains, load_titles


@dataclass(frozen=True)
class ItemCatalogue:
    """Items in id order: raw id, title, domain name and whether training reached the item.

    * ``item_ids``: raw item tokens (index 0 = ``"[PAD]"``);
    * ``titles``: index 0 = ``""``;
    * ``domains``: domain names (index 0 and unknown = ``""``), or None: the items have no domains;
    * ``trained``: True where the item had at least one training interaction (its id vector is
      learned, ``id_fusion``), or None: every item counts as trained;
    * ``domain_names``: the domain vocabulary in id order (index 0 = padding), as RecBole numbers
      domains (in-domain negatives group items by these ids); None: names in sorted order.
    """

    item_ids: list[str]
    titles: list[str]
    domains: Optional[list[str]] = None
    trained: Optional[list[bool]] = None
    domain_names: Optional[list[str]] = None

    def __post_init__(self) -> None:
        n = len(self.item_ids)
        if n < 1 or self.item_ids[0] != PAD_TOKEN:
            raise ValueError(f"item_ids[0] must be the padding token {PAD_TOKEN!r}")
        for name in ("titles", "domains", "trained"):
            values = getattr(self, name)
            if values is not None and len(values) != n:
                raise ValueError(f"catalogue has {n} item ids but {len(values)} {name}")

    def __len__(self) -> int:
        return len(self.item_ids)

    def domain_ids(self) -> Optional[torch.Tensor]:
        """Domain id of every item [n_items] (0 = padding or unknown), or None without domains."""
        return domain_ids(self.domains, self.domain_names)

    @classmethod
    def from_dataset(cls, dataset: Any, title_field: str = "title", domain_field: str = "domain") -> "ItemCatalogue":
        """The items of a loaded RecBole ``dataset`` in its id order; ``trained`` is counted on its
        interactions (pass the training split's dataset, as RecBole passes it to a model)."""
        tokens = [str(t) for t in dataset.field2id_token[dataset.iid_field]]
        titles = load_titles(dataset, title_field)
        domains = names = None
        ids = load_domains(dataset, domain_field)
        if ids is not None:
            names = ["" if i == 0 else str(t) for i, t in enumerate(dataset.field2id_token[domain_field])]
            domains = [names[d] for d in ids.tolist()]
        trained = (item_train_counts(dataset) > 0).tolist()
        return cls(tokens, titles, domains, trained, names)


def domain_ids(domains: Optional[Sequence[str]], names: Optional[Sequence[str]] = None) -> Optional[torch.Tensor]:
    """Ids [n_items] of domain names (index 0 and ``""`` -> 0): ``names`` is the vocabulary in id order
    (None: the sorted distinct names, from 1)."""
    if domains is None:
        return None
    if names is None:
        names = [""] + sorted({d for d in domains[1:] if d})
    index = {name: i for i, name in enumerate(names) if i > 0}
    return torch.tensor([index.get(d, 0) if i else 0 for i, d in enumerate(domains)], dtype=torch.long)


class CatalogueSize:
    """What RecBole's ``SequentialRecommender.__init__`` reads of a dataset (``dataset.num(ITEM_ID)``),
    answered from a catalogue: the one thing a model built from a catalogue hands RecBole instead."""

    def __init__(self, catalogue: ItemCatalogue) -> None:
        self.catalogue = catalogue

    def num(self, field: str) -> int:
        """Item ids of the catalogue (padding included), for any field name (RecBole asks for ``ITEM_ID``)."""
        return len(self.catalogue)
