"""Per-domain metrics: every RecBole metric, computed again on the test users of each domain.

A test user counts for the domain of the item being predicted (its target). The split is
done on RecBole's own collected data (``rec.topk`` rows), so the numbers are exactly what
RecBole's evaluator would report on that subset of users.
"""
from __future__ import annotations

import copy
import logging
from collections import OrderedDict
from typing import Dict, List, Optional

import torch
from recbole.evaluator import Evaluator
from recbole.evaluator.collector import DataStruct

logger = logging.getLogger(__name__)

#: Row-aligned keys of RecBole's DataStruct (one row per evaluated user).
_ROW_KEYS = ("rec.topk", "rec.items", "rec.meanrank")


def item_domains(dataset, domain_field: Optional[str]) -> Optional[torch.Tensor]:
    """Domain token id of every item id (index 0 is padding), or None without a domain field."""
    if not domain_field or dataset.item_feat is None or domain_field not in dataset.item_feat:
        return None
    domains = dataset.item_feat[domain_field]
    return domains.clone().long().view(-1)


def domain_names(dataset, domain_field: str) -> List[str]:
    """Domain token strings indexed by token id."""
    return list(dataset.field2id_token[domain_field])


def row_domains(positive_u: torch.Tensor, positive_i: torch.Tensor, table: torch.Tensor,
                n_rows: int) -> torch.Tensor:
    """Domain id of each evaluated row: the domain of that row's target item (-1 if none)."""
    rows = torch.full((n_rows,), -1, dtype=torch.long)
    rows[positive_u.cpu().long()] = table[positive_i.cpu().long()]
    return rows


class PerDomainEvaluator(Evaluator):
    """RecBole's evaluator that also splits the collected rows by target domain.

    Before an evaluation, the trainer sets :attr:`row_domains` (a list it fills batch by batch)
    and :attr:`names`; after it, :attr:`per_domain` holds ``{domain: {metric: value}}``.
    """

    def __init__(self, config) -> None:
        super().__init__(config)
        self.row_domains: Optional[List[torch.Tensor]] = None
        self.names: List[str] = []
        self.per_domain: Optional[Dict[str, OrderedDict]] = None

    def evaluate(self, dataobject: DataStruct) -> OrderedDict:  # noqa: D102 - RecBole's
        result = super().evaluate(dataobject)
        if self.row_domains is not None:
            domains = torch.cat(self.row_domains) if self.row_domains else torch.empty(0)
            self.row_domains = None  # the subsets below are evaluated with plain RecBole
            self.per_domain = self.evaluate_per_domain(dataobject, domains, self.names)
        return result

    def evaluate_per_domain(self, struct: DataStruct, domains: torch.Tensor,
                            names: List[str]) -> Dict[str, "OrderedDict[str, float]"]:
        """``{domain name: {metric: value}}`` for every domain with at least one row."""
        results: Dict[str, OrderedDict] = {}
        for domain_id in sorted(set(domains.tolist())):
            if domain_id < 0:
                continue
            mask = domains == domain_id
            subset = DataStruct()
            for key, value in struct._data_dict.items():
                subset[key] = value[mask] if key in _ROW_KEYS else copy.deepcopy(value)
            results[names[domain_id]] = self.evaluate(subset)
        return results


def format_per_domain(results: Dict[str, Dict[str, float]]) -> str:
    """A small text table: one line per domain."""
    lines = []
    for name, metrics in results.items():
        values = "    ".join(f"{k} : {v}" for k, v in metrics.items())
        lines.append(f"{name}: {values}")
    return "\n".join(lines)
