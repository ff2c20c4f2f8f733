"""The paper's protocol: rank the target against N negatives drawn from the target's domain.

Select it with a sampled eval mode (``eval_args: {mode: {valid: uni1000, test: uni1000}}``) and
``eval_neg_scope: domain`` (see ``properties/protocol/paper.yaml``). RecBole's sampled
evaluation then runs unchanged, for every model; only its sampler is swapped for
:class:`DomainNegativeSampler`, whose negatives depend on (seed, user, target) alone, so every
epoch, run and model sees the same candidates.
"""
from __future__ import annotations

import logging
from typing import Any, Dict

import numpy as np
import torch

from recbole_llmrec.data.titles import load_domains

logger = logging.getLogger(__name__)

SCOPES = ("all", "domain")


class DomainNegativeSampler:
    """Stands in for RecBole's phase sampler in ``NegSampleEvalDataLoader``.

    Negatives come from the target item's domain and never include the target or any item the
    user interacted with up to that phase (RecBole's ``used_ids``).
    """

    def __init__(self, phase_sampler: Any, item_domain: torch.Tensor, seed: int) -> None:
        self.phase = phase_sampler.phase
        self.used_ids = phase_sampler.used_ids
        self.seed = int(seed)
        domains = item_domain.numpy()
        self.item_domain = domains
        self.pools: Dict[int, np.ndarray] = {
            int(d): np.flatnonzero(domains == d) for d in np.unique(domains[1:])
        }

    def sample_for(self, user_id: int, target: int, num: int) -> np.ndarray:
        """``num`` distinct negatives for one (user, target), reproducible from the seed."""
        pool = self.pools[int(self.item_domain[target])]
        excluded = np.fromiter(self.used_ids[user_id], dtype=np.int64)
        excluded = np.append(excluded, target)
        candidates = pool[~np.isin(pool, excluded)]
        if len(candidates) < num:
            raise ValueError(
                f"domain-sampled evaluation needs {num} negatives, but the target's domain has "
                f"only {len(candidates)} items the user has not interacted with (user id "
                f"{user_id}); lower N in eval mode 'uni{num}'"
            )
        rng = np.random.default_rng([self.seed, int(user_id), int(target)])
        return rng.choice(candidates, size=num, replace=False)

    def sample_by_user_ids(self, user_ids, item_ids, num: int) -> torch.Tensor:
        """RecBole's layout: negatives ``j`` of all rows come before negatives ``j + 1``."""
        rows = [self.sample_for(int(u), int(i), num) for u, i in zip(user_ids, item_ids)]
        if not rows:
            return torch.empty(0, dtype=torch.long)
        return torch.from_numpy(np.stack(rows, axis=1).reshape(-1)).long()


def apply_eval_neg_scope(config: Any, *loaders: Any) -> None:
    """Swap the samplers of sampled-evaluation loaders when ``eval_neg_scope`` is ``domain``."""
    scope = config["eval_neg_scope"] or "all"
    if scope not in SCOPES:
        raise ValueError(f"eval_neg_scope must be one of {SCOPES}, got {scope!r}")
    if scope == "all":
        return
    for loader in loaders:
        sampler = getattr(loader, "_sampler", None)
        if sampler is None or loader.neg_sample_args.get("sample_num") in (None, "none"):
            raise ValueError(
                "eval_neg_scope: domain needs a sampled eval mode such as "
                "eval_args: {mode: {valid: uni1000, test: uni1000}}"
            )
        table = load_domains(loader._dataset, config["domain_field"])
        if table is None:
            raise ValueError(
                f"eval_neg_scope: domain needs the item column {config['domain_field']!r} "
                f"(domain_field) in dataset {config['dataset']!r}"
            )
        loader._sampler = DomainNegativeSampler(sampler, table, config["seed"])
        logger.info("%s negatives: %s per target, from the target's domain",
                    sampler.phase, loader.neg_sample_args["sample_num"])
