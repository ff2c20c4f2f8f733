"""Training negative-sampling strategies, chosen by ``negative_sampling`` (one module each)."""
from __future__ import annotations

from typing import Any

from recbole_llmrec.model.negative_sampling.base import NegativeStrategy
from recbole_llmrec.model.negative_sampling.both import InDomainAndInBatchNegatives
from recbole_llmrec.model.negative_sampling.domain_sampler import DomainSampler
from recbole_llmrec.model.negative_sampling.full_catalogue import FullCatalogueNegatives
from recbole_llmrec.model.negative_sampling.in_batch import InBatchNegatives
from recbole_llmrec.model.negative_sampling.in_domain import InDomainNegatives

#: ``negative_sampling`` value -> strategy class. Adding a strategy: one module + one line here + YAML doc.
STRATEGIES: dict[str, type[NegativeStrategy]] = {
    "in_domain": InDomainNegatives,
    "in_batch": InBatchNegatives,
    "both": InDomainAndInBatchNegatives,
    "full_catalogue": FullCatalogueNegatives,
}


def build_strategy(settings: Any) -> NegativeStrategy:
    """The strategy named by ``settings.negative_sampling``."""
    return STRATEGIES[settings.negative_sampling](settings)


__all__ = ["STRATEGIES", "NegativeStrategy", "DomainSampler", "build_strategy"]
