"""An evaluation collector that gathers every rank's rows before RecBole computes metrics.

RecBole averages per-rank metrics weighted by batch counts and counts the ``DistributedSampler``'s
padding twice; with :class:`RowGatheringCollector` metrics are computed once, on all rows.
"""
from __future__ import annotations

import logging
from typing import Any, List, Optional

import torch
from recbole.evaluator.collector import Collector, DataStruct

from recbole_llmrec.distributed.collectives import all_true, gather_rows, merge_shards
from recbole_llmrec.evaluation.groups import ROW_KEYS

logger = logging.getLogger(__name__)


class RowGatheringCollector(Collector):
    """RecBole's Collector that, when given this rank's sample indices, returns the rows of
    every rank in sample order (see :func:`merge_shards`).

    ``extra_rows`` (a list of tensors filled during evaluation, row-aligned with the collected
    rows, e.g. the grouped evaluator's ``row_info``) is gathered the same way, in place.
    If some rank's rows do not map one-to-one to its sample indices (value evaluation with
    negatives), nothing is gathered and :attr:`gathered` stays False.
    """

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.shard_indices: Optional[List[int]] = None
        self.extra_rows: Optional[List[torch.Tensor]] = None
        self.gathered = False

    def get_data_struct(self) -> DataStruct:  # noqa: D102 - RecBole's
        struct = super().get_data_struct()
        self.gathered = False
        if self.shard_indices is None:
            return struct
        indices = torch.as_tensor(self.shard_indices, dtype=torch.long)
        extra = self.extra_rows
        self.shard_indices, self.extra_rows = None, None
        keys = [key for key in ROW_KEYS if key in struct]
        counts = [struct[key].shape[0] for key in keys]
        if extra is not None:
            counts.append(sum(int(t.shape[0]) for t in extra))
        if not all_true(all(c == len(indices) for c in counts)):
            logger.warning("evaluation rows do not map one-to-one to samples: metrics are "
                           "RecBole's weighted per-rank averages")
            return struct
        all_indices = gather_rows(indices)
        for key in keys:
            struct[key] = merge_shards(gather_rows(struct[key]), all_indices)
        if extra is not None:
            local = torch.cat(extra) if extra else torch.empty(0, dtype=torch.long)
            extra[:] = [merge_shards(gather_rows(local), all_indices)]
        self.gathered = True
        return struct
