"""Trainer mixin: every evaluation also reports each metric per target domain and per target
popularity bucket, and keeps per-row metric values (for paired comparisons of models)."""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Tuple

import torch

from recbole_llmrec.data.item_counts import item_train_counts
from recbole_llmrec.evaluation.grouped_evaluator import GroupedEvaluator, row_info
from recbole_llmrec.evaluation.groups import (
    Grouping,
    check_bucket_edges,
    domain_grouping,
    popularity_grouping,
)
from recbole_llmrec.utils.heap import HeapTrimmer

logger = logging.getLogger(__name__)

GroupResult = Dict[str, Dict[str, float]]


def format_groups(results: GroupResult) -> str:
    """A small text table: one line per group."""
    lines = []
    for name, metrics in results.items():
        values = "    ".join(f"{k} : {v}" for k, v in metrics.items())
        lines.append(f"{name}: {values}")
    return "\n".join(lines)


def _plain(results: Optional[GroupResult]) -> Optional[GroupResult]:
    if results is None:
        return None
    return {group: {k: float(v) for k, v in metrics.items()} for group, metrics in results.items()}


class GroupedEvalMixin:
    """After every evaluation, per-group metrics and per-row metrics of the evaluated rows.

    * :attr:`last_per_domain`: ``{domain: metrics}``, the target item's domain read from the item
      column named by ``domain_field`` (None for datasets without it);
    * :attr:`last_per_popularity`: ``{bucket: metrics}``, the target item's number of training
      interactions bucketed by ``popularity_buckets`` (None when that key is null, or when no
      training split was seen: :meth:`fit` or :meth:`set_train_dataset` provide it);
    * :attr:`last_rows`: user and target tokens and the ``row_metrics`` values of every row.

    Validation results are kept next to their valid score (:attr:`valid_per_domain`,
    :attr:`valid_per_popularity`), so the best epoch's numbers can be reported. Every
    ``eval_heap_trim_batches`` evaluation batches, freed host memory goes back to the OS
    (:mod:`recbole_llmrec.utils.heap`), so an evaluation's RSS does not grow with its users.
    """

    def __init__(self, config: Any, model: torch.nn.Module) -> None:
        super().__init__(config, model)
        self.evaluator = GroupedEvaluator(config)
        edges = config["popularity_buckets"]
        self._bucket_edges = None if edges is None else check_bucket_edges(edges)
        self._item_counts: Optional[torch.Tensor] = None
        self.last_per_domain: Optional[GroupResult] = None
        self.last_per_popularity: Optional[GroupResult] = None
        self.last_rows: Optional[Dict[str, List[Any]]] = None
        self.valid_per_domain: List[Tuple[float, Optional[GroupResult]]] = []
        self.valid_per_popularity: List[Tuple[float, Optional[GroupResult]]] = []
        self.heap = HeapTrimmer(config["eval_heap_trim_batches"])

    # ------------------------------------------------------------------ training-split counts
    def set_train_dataset(self, train_dataset: Any) -> None:
        """Count each item's training interactions (the popularity buckets' key) on this split."""
        self._item_counts = item_train_counts(train_dataset)

    def fit(self, train_data, *args, **kwargs):  # noqa: D102 - RecBole's
        self.set_train_dataset(train_data._dataset)
        return super().fit(train_data, *args, **kwargs)

    # ------------------------------------------------------------------ evaluation
    def _groupings(self, dataset: Any) -> List[Grouping]:
        groupings = []
        domains = domain_grouping(dataset, self.config["domain_field"])
        if domains is not None:
            groupings.append(domains)
        if self._bucket_edges is not None and self._item_counts is not None:
            counts = self._item_counts
            if counts.shape[0] != dataset.item_num:  # evaluated on another dataset's items
                logger.warning("training counts are for %d items, the evaluated dataset has %d: "
                               "no per-popularity metrics", counts.shape[0], dataset.item_num)
            else:
                groupings.append(popularity_grouping(counts, self._bucket_edges))
        return groupings

    def evaluate(self, eval_data, load_best_model=True, model_file=None, show_progress=False):
        dataset = eval_data._dataset
        self._eval_dataset = dataset
        self.evaluator.groupings = self._groupings(dataset)
        self.evaluator.row_info = []
        self.evaluator.per_group, self.evaluator.rows = {}, None
        result = super().evaluate(eval_data, load_best_model=load_best_model,
                                  model_file=model_file, show_progress=show_progress)
        self.evaluator.row_info = None
        self.last_per_domain = self.evaluator.per_group.get("domain")
        self.last_per_popularity = self.evaluator.per_group.get("popularity")
        self.last_rows = self._row_tokens(dataset, self.evaluator.rows)
        if self.last_per_domain:
            logger.info("per-domain result:\n%s", format_groups(self.last_per_domain))
        if self.last_per_popularity:
            logger.info("per-popularity result (training interactions of the target item):\n%s",
                        format_groups(self.last_per_popularity))
        return result

    @staticmethod
    def _row_tokens(dataset: Any, rows: Optional[Dict[str, Any]]) -> Optional[Dict[str, List[Any]]]:
        if rows is None:
            return None
        out: Dict[str, List[Any]] = {
            "user": [str(t) for t in dataset.id2token(dataset.uid_field, rows["user"].numpy())],
            "target": [str(t) for t in dataset.id2token(dataset.iid_field, rows["target"].numpy())],
        }
        out.update({k: v for k, v in rows.items() if k not in ("user", "target")})
        return out

    def _valid_epoch(self, valid_data, show_progress=False):
        valid_score, valid_result = super()._valid_epoch(valid_data, show_progress=show_progress)
        self.valid_per_domain.append((valid_score, self.last_per_domain))
        self.valid_per_popularity.append((valid_score, self.last_per_popularity))
        return valid_score, valid_result

    def _best(self, history: List[Tuple[float, Optional[GroupResult]]]) -> Optional[GroupResult]:
        for score, results in history:
            if score == self.best_valid_score:
                return results
        return None

    def best_valid_per_domain(self) -> Optional[GroupResult]:
        """Per-domain validation metrics of the epoch RecBole kept as best (first best score)."""
        return self._best(self.valid_per_domain)

    def best_valid_per_popularity(self) -> Optional[GroupResult]:
        """Per-popularity validation metrics of the epoch RecBole kept as best."""
        return self._best(self.valid_per_popularity)

    def grouped_results(self, valid_from_history: bool = True) -> Dict[str, Any]:
        """Result-file blocks beyond ``per_domain``: ``per_popularity`` (valid and test) and
        ``per_row`` (the last evaluation's rows, normally the test split's)."""
        out: Dict[str, Any] = {}
        if self.last_per_popularity is not None:
            valid = self.best_valid_per_popularity() if valid_from_history else None
            out["per_popularity"] = {"edges": list(self._bucket_edges or []),
                                     "valid": _plain(valid), "test": _plain(self.last_per_popularity)}
        if self.last_rows is not None and self.evaluator.row_metric_names:
            out["per_row"] = {"test": self.last_rows}
        return out

    # ------------------------------------------------------------------ row recording
    def _record_rows(self, batch_result, users: torch.Tensor):
        _, scores, positive_u, positive_i = batch_result
        if scores.dim() != 2 or users.shape[0] != scores.shape[0]:
            self.evaluator.row_info = None  # value metrics: rows are not users, no groups
        if self.evaluator.row_info is not None:
            self.evaluator.row_info.append(
                row_info(users, positive_u, positive_i, scores.shape[0], self.evaluator.groupings))
        return batch_result

    def _full_sort_batch_eval(self, batched_data):
        self.heap.step()
        result = super()._full_sort_batch_eval(batched_data)
        users = batched_data[0][self.config["USER_ID_FIELD"]]
        return self._record_rows(result, users)

    def _neg_sample_batch_eval(self, batched_data):
        self.heap.step()
        result = super()._neg_sample_batch_eval(batched_data)
        interaction, row_idx = batched_data[0], batched_data[1]
        n_rows = result[1].shape[0] if result[1].dim() == 2 else 0
        users = torch.zeros(n_rows, dtype=torch.long)
        if n_rows:
            users[row_idx.cpu().long()] = interaction[self.config["USER_ID_FIELD"]].cpu().long()
        return self._record_rows(result, users)
