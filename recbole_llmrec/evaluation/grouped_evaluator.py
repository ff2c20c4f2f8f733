"""RecBole's evaluator, run again on the rows of each group (domain, item popularity, ...), plus
per-row metric values for paired comparisons of two models on the same test rows.

The split is done on RecBole's own collected data (``rec.topk`` rows), so each group's numbers
are exactly what RecBole's evaluator reports on that subset of rows.
"""
from __future__ import annotations

import copy
import inspect
import logging
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence

import torch
from recbole.evaluator import Evaluator
from recbole.evaluator.collector import DataStruct

from recbole_llmrec.evaluation.groups import ROW_KEYS, Grouping

logger = logging.getLogger(__name__)

#: Columns of a row-info tensor before the group ids.
USER_COL, TARGET_COL, FIRST_GROUP_COL = 0, 1, 2


def row_info(users: torch.Tensor, positive_u: torch.Tensor, positive_i: torch.Tensor,
             n_rows: int, groupings: Sequence[Grouping]) -> torch.Tensor:
    """One line per evaluated row: user id, target item id, then the target's group in each grouping.

    ``users[r]`` is row ``r``'s user; ``positive_u``/``positive_i`` are RecBole's (row, target)
    pairs. A row with several targets takes the last one's groups; -1 marks "none".
    """
    info = torch.full((n_rows, FIRST_GROUP_COL + len(groupings)), -1, dtype=torch.long)
    info[:, USER_COL] = users.cpu().long().view(-1)
    rows, targets = positive_u.cpu().long(), positive_i.cpu().long()
    info[rows, TARGET_COL] = targets
    for j, grouping in enumerate(groupings):
        info[rows, FIRST_GROUP_COL + j] = grouping.item_group[targets]
    return info


def subset_struct(struct: DataStruct, mask: torch.Tensor) -> DataStruct:
    """The rows ``mask`` selects of every row-aligned key; other keys copied unchanged."""
    subset = DataStruct()
    for key, value in struct._data_dict.items():
        if key in ROW_KEYS and torch.is_tensor(value) and value.shape[0] == mask.shape[0]:
            subset[key] = value[mask]
        else:
            subset[key] = copy.deepcopy(value)
    return subset


def parse_row_metrics(names: Any) -> List[str]:
    """``row_metrics`` as lower-case ``metric@k`` names (None or [] -> no per-row metrics)."""
    if names is None:
        return []
    if not isinstance(names, (list, tuple)):
        raise ValueError(f"row_metrics must be a list such as ['ndcg@10', 'recall@10'], got {names!r}")
    parsed = []
    for name in names:
        metric, _, k = str(name).lower().partition("@")
        if not k.isdigit() or int(k) < 1:
            raise ValueError(f"row_metrics entries must look like 'ndcg@10', got {name!r}")
        parsed.append(f"{metric}@{int(k)}")
    return parsed


class GroupedEvaluator(Evaluator):
    """RecBole's evaluator that also evaluates each group of rows and keeps per-row metrics.

    Before an evaluation the trainer sets :attr:`groupings` and :attr:`row_info` (a list it fills
    batch by batch with :func:`row_info` tensors). After it, :attr:`per_group` holds
    ``{grouping name: {group label: {metric: value}}}`` and :attr:`rows` the per-row user ids,
    target ids, group label in each grouping (``domain``, ``popularity``) and the
    ``row_metrics`` values.
    """

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.groupings: List[Grouping] = []
        self.row_info: Optional[List[torch.Tensor]] = None
        self.row_metric_names = parse_row_metrics(config["row_metrics"])
        self.per_group: Dict[str, Dict[str, OrderedDict]] = {}
        self.rows: Optional[Dict[str, Any]] = None
        topk = config["topk"]
        top = max(topk) if isinstance(topk, (list, tuple)) else int(topk or 0)
        usable = [n for n in self.row_metric_names
                  if n.split("@")[0] in self.metric_class and int(n.split("@")[1]) <= top]
        if usable != self.row_metric_names:
            logger.warning("row_metrics %s skipped: not among metrics %s at a cut-off <= %d",
                           sorted(set(self.row_metric_names) - set(usable)),
                           sorted(self.metric_class), top)
        self.row_metric_names = usable

    def evaluate(self, dataobject: DataStruct) -> OrderedDict:  # noqa: D102 - RecBole's
        result = super().evaluate(dataobject)
        if self.row_info is None:
            return result
        width = FIRST_GROUP_COL + len(self.groupings)
        info = torch.cat(self.row_info) if self.row_info else torch.empty((0, width), dtype=torch.long)
        self.row_info = None  # the subsets below are evaluated with plain RecBole
        if "rec.topk" not in dataobject or dataobject["rec.topk"].shape[0] != info.shape[0]:
            logger.warning("evaluated rows do not map one-to-one to users: no per-group metrics")
            return result
        self.per_group = {
            grouping.name: self.evaluate_groups(dataobject, info[:, FIRST_GROUP_COL + j],
                                                grouping.labels)
            for j, grouping in enumerate(self.groupings)
        }
        groups = {
            grouping.name: [grouping.labels[g] if g >= 0 else None
                            for g in info[:, FIRST_GROUP_COL + j].tolist()]
            for j, grouping in enumerate(self.groupings)
        }
        self.rows = {"user": info[:, USER_COL], "target": info[:, TARGET_COL], **groups,
                     **self.row_metrics(dataobject)}
        return result

    def evaluate_groups(self, struct: DataStruct, groups: torch.Tensor,
                        labels: List[str]) -> Dict[str, "OrderedDict[str, float]"]:
        """``{group label: {metric: value}}`` for every group with at least one row, in label order."""
        results: Dict[str, OrderedDict] = {}
        for group_id in sorted(set(groups.tolist())):
            if group_id < 0:
                continue
            results[labels[group_id]] = self.evaluate(subset_struct(struct, groups == group_id))
        return results

    def row_metrics(self, struct: DataStruct) -> Dict[str, List[float]]:
        """Each ``row_metrics`` value of every row: what RecBole averages into that metric."""
        out: Dict[str, List[float]] = {}
        for name in self.row_metric_names:
            metric, k = name.split("@")
            cls = self.metric_class[metric]
            info = cls.used_info(struct)
            n_args = len(inspect.signature(cls.metric_info).parameters)
            values = cls.metric_info(*info[:n_args])
            out[name] = [float(v) for v in values[:, int(k) - 1]]
        return out
