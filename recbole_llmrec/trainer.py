"""Small subclasses of RecBole's trainers: safe checkpoints, per-domain metrics, and LLMRec's
per-epoch example budget.

RecBole's ``fit`` and ``evaluate`` drive everything; we only override the hooks they call
(``_save_checkpoint``, ``_train_epoch``, ``evaluate``, ``_valid_epoch``, the batch-eval hooks).
"""
from __future__ import annotations

import functools
import logging
from typing import Any, Dict, List, Optional, Tuple, Type

import numpy as np
import torch
from recbole.data.dataloader import TrainDataLoader
from recbole.trainer import Trainer

from recbole_llmrec.checkpoint import atomic_save
from recbole_llmrec.evaluation.per_domain import (
    PerDomainEvaluator,
    domain_names,
    format_per_domain,
    item_domains,
    row_domains,
)

logger = logging.getLogger(__name__)


class SafeCheckpointMixin:
    """Write checkpoints atomically, with the config as plain data (``weights_only`` loadable).

    Only rank 0 writes; the layout is RecBole's (``config``, ``epoch``, ``cur_step``,
    ``best_valid_score``, ``state_dict``, ``other_parameter``, ``optimizer``), so RecBole's
    ``resume_checkpoint``, ``evaluate(load_best_model=True)`` and ``load_data_and_model`` read it.
    """

    def _save_checkpoint(self, epoch: int, verbose: bool = True, **kwargs: Any) -> None:
        if not self.config["single_spec"] and self.config["local_rank"] != 0:
            return
        saved_model_file = kwargs.pop("saved_model_file", self.saved_model_file)
        state = {
            "config": _plain_config(self.config),
            "epoch": epoch,
            "cur_step": self.cur_step,
            "best_valid_score": float(self.best_valid_score),
            "state_dict": self._unwrapped_model().state_dict(),
            "other_parameter": self._unwrapped_model().other_parameter(),
            "optimizer": self.optimizer.state_dict(),
        }
        atomic_save(state, saved_model_file)
        if verbose:
            logger.info("Saving current: %s", saved_model_file)

    def _unwrapped_model(self) -> torch.nn.Module:
        return getattr(self.model, "module", self.model)


def _plain_config(config: Any) -> Any:
    """The config as a :class:`PluginConfig` (plain-data pickling), converting if needed."""
    from recbole_llmrec.checkpoint import config_from_state, config_to_state
    from recbole_llmrec.config import PluginConfig

    if isinstance(config, PluginConfig):
        return config
    plain = PluginConfig.__new__(PluginConfig)
    config_from_state(plain, config_to_state(config))
    return plain


class PerDomainEvalMixin:
    """After every evaluation, :attr:`last_per_domain` holds each metric per target domain.

    The domain of an item is read from the item column named by the ``domain_field`` config
    key; datasets without it get no per-domain metrics (``last_per_domain`` stays None).
    Validation results are kept in :attr:`valid_per_domain` next to their valid score, so the
    best epoch's per-domain numbers can be reported.
    """

    def __init__(self, config: Any, model: torch.nn.Module) -> None:
        super().__init__(config, model)
        self.evaluator = PerDomainEvaluator(config)
        self.last_per_domain: Optional[Dict[str, Dict[str, float]]] = None
        self.valid_per_domain: List[Tuple[float, Optional[Dict[str, Dict[str, float]]]]] = []
        self._domain_table: Optional[torch.Tensor] = None

    def evaluate(self, eval_data, load_best_model=True, model_file=None, show_progress=False):
        self._domain_table = item_domains(eval_data._dataset, self.config["domain_field"])
        self.evaluator.per_domain = None
        if self._domain_table is not None:
            self.evaluator.row_domains = []
            self.evaluator.names = domain_names(eval_data._dataset, self.config["domain_field"])
        result = super().evaluate(eval_data, load_best_model=load_best_model,
                                  model_file=model_file, show_progress=show_progress)
        self.last_per_domain = self.evaluator.per_domain
        if self.last_per_domain:
            logger.info("per-domain result:\n%s", format_per_domain(self.last_per_domain))
        return result

    def _valid_epoch(self, valid_data, show_progress=False):
        valid_score, valid_result = super()._valid_epoch(valid_data, show_progress=show_progress)
        self.valid_per_domain.append((valid_score, self.last_per_domain))
        return valid_score, valid_result

    def best_valid_per_domain(self) -> Optional[Dict[str, Dict[str, float]]]:
        """Per-domain validation metrics of the epoch RecBole kept as best (first best score)."""
        for score, per_domain in self.valid_per_domain:
            if score == self.best_valid_score:
                return per_domain
        return None

    def _record_rows(self, batch_result):
        if self.evaluator.row_domains is not None:
            _, scores, positive_u, positive_i = batch_result
            self.evaluator.row_domains.append(
                row_domains(positive_u, positive_i, self._domain_table, scores.shape[0]))
        return batch_result

    def _full_sort_batch_eval(self, batched_data):
        return self._record_rows(super()._full_sort_batch_eval(batched_data))

    def _neg_sample_batch_eval(self, batched_data):
        return self._record_rows(super()._neg_sample_batch_eval(batched_data))


@functools.lru_cache(maxsize=None)
def safe_trainer_class(base: Type) -> Type:
    """RecBole trainer ``base`` with :class:`SafeCheckpointMixin` in front of it."""
    return type(f"Safe{base.__name__}", (SafeCheckpointMixin, PerDomainEvalMixin, base),
                {"__module__": __name__})


class LLMRecTrainer(SafeCheckpointMixin, PerDomainEvalMixin, Trainer):
    """Trainer for LLMRec.

    * ``train_prefixes_per_user`` (int or None): each epoch trains on this many history prefixes
      per user, drawn afresh every epoch with ``seed + epoch`` (None: every prefix, RecBole's
      default). On a CPU this turns one hour-long pass into several short epochs, each followed
      by validation, so early stopping sees progress.
    """

    def _train_epoch(self, train_data, epoch_idx, loss_func=None, show_progress=False):
        per_user = self.config["train_prefixes_per_user"]
        if per_user is not None:
            train_data = self._epoch_subset(train_data, int(per_user), epoch_idx)
        return super()._train_epoch(
            train_data, epoch_idx, loss_func=loss_func, show_progress=show_progress
        )

    def _epoch_subset(self, train_data: TrainDataLoader, per_user: int, epoch_idx: int):
        dataset = train_data._dataset
        rng = np.random.default_rng(int(self.config["seed"]) + epoch_idx)
        users = dataset.inter_feat[dataset.uid_field].numpy()
        rows = sample_prefix_rows(users, per_user, rng)
        subset = dataset.copy(dataset.inter_feat[torch.from_numpy(rows)])
        loader = TrainDataLoader(self.config, subset, train_data._sampler, shuffle=True)
        loader.generator.manual_seed(int(self.config["seed"]) + epoch_idx)
        logger.info("epoch %d trains on %d of %d prefixes", epoch_idx, len(rows), len(users))
        return loader



def sample_prefix_rows(users: np.ndarray, per_user: int, rng: np.random.Generator) -> np.ndarray:
    """Row indices keeping at most ``per_user`` random rows of each user, in original order."""
    if per_user < 1:
        raise ValueError(f"train_prefixes_per_user must be >= 1 or null, got {per_user}")
    order = rng.permutation(len(users))
    # stable sort by user of a random permutation: a random order within each user
    shuffled = order[np.argsort(users[order], kind="stable")]
    sorted_users = users[shuffled]
    starts = np.flatnonzero(np.r_[True, sorted_users[1:] != sorted_users[:-1]])
    rank = np.arange(len(users)) - np.repeat(starts, np.diff(np.r_[starts, len(users)]))
    return np.sort(shuffled[rank < per_user])
