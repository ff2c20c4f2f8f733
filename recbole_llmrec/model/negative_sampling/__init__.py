"""Training negative-sampling strategies, chosen by ``negative_sampling`` (one module each)."""
from __future__ import annotations

import logging
from typing import Any, Optional

from recbole_llmrec.model.negative_sampling.base import NegativeStrategy
from recbole_llmrec.model.negative_sampling.both import InDomainAndInBatchNegatives
from recbole_llmrec.model.negative_sampling.domain_sampler import DomainSampler
from recbole_llmrec.model.negative_sampling.full_catalogue import FullCatalogueNegatives
from recbole_llmrec.model.negative_sampling.in_batch import InBatchNegatives
from recbole_llmrec.model.negative_sampling.in_domain import InDomainNegatives
from recbole_llmrec.model.negative_sampling.sampled import SampledSoftmaxNegatives

logger = logging.getLogger(__name__)

#: ``negative_sampling`` value -> strategy class. Adding a strategy: one module + one line here + YAML doc.
STRATEGIES: dict[str, type[NegativeStrategy]] = {
    "in_domain": InDomainNegatives,
    "in_batch": InBatchNegatives,
    "both": InDomainAndInBatchNegatives,
    "full_catalogue": FullCatalogueNegatives,
    "sampled": SampledSoftmaxNegatives,
}

#: ``negative_sampling: auto``: ``full_catalogue`` up to this many items, ``sampled`` above. The exact
#: softmax costs about 1.4e-5 s per item per 256-example step on one AVX2 thread and was measured as
#: accurate as ``sampled`` up to 23,844 items; at 63,651 ``sampled`` trained 4x faster and validated
#: higher (docs/PERFORMANCE.md, "Large catalogues").
AUTO_FULL_CATALOGUE_ITEMS = 32_768
#: What ``auto`` may resolve to (settings check both).
AUTO_CHOICES = ("full_catalogue", "sampled")


def resolve_strategy(name: str, n_items: Optional[int]) -> str:
    """``name``, or for ``auto`` the strategy for a catalogue of ``n_items`` ids (None: full_catalogue)."""
    if name != "auto":
        return name
    return "sampled" if n_items is not None and n_items > AUTO_FULL_CATALOGUE_ITEMS else "full_catalogue"


def build_strategy(settings: Any, n_items: Optional[int] = None) -> NegativeStrategy:
    """The strategy named by ``settings.negative_sampling`` (``auto``: chosen by ``n_items``)."""
    name = resolve_strategy(settings.negative_sampling, n_items)
    if name != settings.negative_sampling:
        logger.info("negative_sampling auto: %s for %s items (sampled above %s)", name, n_items,
                    f"{AUTO_FULL_CATALOGUE_ITEMS:,}")
    return STRATEGIES[name](settings)


__all__ = ["AUTO_CHOICES", "AUTO_FULL_CATALOGUE_ITEMS", "STRATEGIES", "NegativeStrategy", "DomainSampler",
           "build_strategy", "resolve_strategy"]
