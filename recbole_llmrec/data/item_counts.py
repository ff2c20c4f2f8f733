"""How many training interactions each item has (RecBole's training split)."""
from __future__ import annotations

from typing import Any

import torch


def item_target_counts(train_dataset: Any) -> torch.Tensor:
    """Rows of RecBole's training split per target item id [item_num]: how often each item is a
    training example's positive (a user's first item never is)."""
    counts = torch.bincount(train_dataset.inter_feat[train_dataset.iid_field].long().view(-1),
                            minlength=train_dataset.item_num)
    counts[0] = 0
    return counts[: train_dataset.item_num]


def item_train_counts(train_dataset: Any) -> torch.Tensor:
    """Training interactions of every item id, counted on RecBole's training split.

    A sequential training split holds one row per training target (with its history in
    ``ITEM_LIST_LENGTH_FIELD``-long lists); a user's first item is a target of no row, so it is
    counted from the rows of history length 1. A general (non-sequential) split holds one row per
    interaction.
    """
    iid = train_dataset.iid_field
    inter = train_dataset.inter_feat
    counts = item_target_counts(train_dataset)
    length_field = train_dataset.config["ITEM_LIST_LENGTH_FIELD"]
    list_field = iid + train_dataset.config["LIST_SUFFIX"]
    if length_field in inter.interaction and list_field in inter.interaction:
        first = inter[list_field][inter[length_field] == 1][:, 0].long()
        counts += torch.bincount(first, minlength=train_dataset.item_num)
    return counts
