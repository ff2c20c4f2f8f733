"""Small subclasses of RecBole's trainers: safe checkpoints, per-domain metrics, and LLMRec's
per-epoch example budget.

RecBole's ``fit`` and ``evaluate`` drive everything; we only override the hooks they call
(``_save_checkpoint``, ``_train_epoch``, ``evaluate``, ``_valid_epoch``, the batch-eval hooks).
"""
from __future__ import annotations

import functools
import logging
import os
from typing import Any, Dict, List, Optional, Tuple, Type

import numpy as np
import torch
from recbole.data.dataloader import TrainDataLoader
from recbole.trainer import Trainer

from recbole_llmrec.checkpoint import atomic_save, load_checkpoint
from recbole_llmrec.data.bucketing import bucketed_loader
from recbole_llmrec.distributed import DDPConstruction, DistributedTrainerMixin
from recbole_llmrec.evaluation.per_domain import (
    PerDomainEvaluator,
    domain_names,
    format_per_domain,
    item_domains,
    row_domains,
)
from recbole_llmrec.resume import capture_rng_state, last_checkpoint_path, restore_rng_state

logger = logging.getLogger(__name__)


class SafeCheckpointMixin:
    """Atomic, ``weights_only``-loadable checkpoints, and resumable runs.

    The best checkpoint keeps RecBole's layout (``config``, ``epoch``, ``cur_step``,
    ``best_valid_score``, ``state_dict``, ``other_parameter``, ``optimizer``), so RecBole's
    ``resume_checkpoint``, ``evaluate(load_best_model=True)`` and ``load_data_and_model`` read it.

    With ``saved=True`` (and ``save_last_checkpoint`` not false) ``fit`` also writes the run's
    *last* checkpoint (:func:`recbole_llmrec.resume.last_checkpoint_path`) after every epoch:
    the best checkpoint's keys plus ``best_valid_result``, ``best_checkpoint``, ``finished``,
    ``rng`` (torch/numpy/python), ``train_generator`` (the train loader's shuffling state),
    ``valid_per_domain`` and ``train_loss``. :meth:`resume_checkpoint` restores all of it, so a
    resumed run continues exactly as the interrupted one would have.

    Only local rank 0 writes (one writer per node: under DDP every rank holds the same weights,
    and each node reloads the file it wrote, so nodes need no shared filesystem); the config is
    stored as a single-process one (rank 0's view without the DDP entries).
    """

    def __init__(self, config: Any, model: torch.nn.Module) -> None:
        super().__init__(config, model)
        self.last_checkpoint_file = last_checkpoint_path(config)
        self._write_last = False
        self._train_loader: Any = None
        self._last_epoch_trained: Optional[int] = None
        self._resumed_finished = False
        self._pending_rng: Optional[Dict[str, Any]] = None
        self._pending_generator: Optional[torch.Tensor] = None

    # ------------------------------------------------------------------ writing
    def _is_writer(self) -> bool:
        return self.config["single_spec"] or self.config["local_rank"] == 0

    def _checkpoint_state(self, epoch: int) -> Dict[str, Any]:
        return {
            "config": _plain_config(self.config, single_process=True),
            "epoch": epoch,
            "cur_step": self.cur_step,
            "best_valid_score": float(self.best_valid_score),
            "state_dict": self._unwrapped_model().state_dict(),
            "other_parameter": self._unwrapped_model().other_parameter(),
            "optimizer": self.optimizer.state_dict(),
        }

    def _save_checkpoint(self, epoch: int, verbose: bool = True, **kwargs: Any) -> None:
        if not self._is_writer():
            return
        saved_model_file = kwargs.pop("saved_model_file", self.saved_model_file)
        atomic_save(self._checkpoint_state(epoch), saved_model_file)
        if verbose:
            logger.info("Saving current: %s", saved_model_file)

    def _save_last_checkpoint(self, epoch: int, finished: bool) -> None:
        """Write the resumable state after ``epoch`` (called before anything of the next epoch)."""
        if not self._is_writer():
            return
        generator = getattr(self._train_loader, "generator", None)
        state = self._checkpoint_state(epoch)
        state.update({
            "best_valid_result": _plain(self.best_valid_result),
            "best_checkpoint": self.saved_model_file,
            "finished": finished,
            "rng": capture_rng_state(),
            "train_generator": generator.get_state() if generator is not None else None,
            "valid_per_domain": [[float(score), _plain(per_domain)]
                                 for score, per_domain in getattr(self, "valid_per_domain", [])],
            "train_loss": {int(k): _plain(v) for k, v in self.train_loss_dict.items()},
        })
        atomic_save(state, self.last_checkpoint_file)
        logger.info("last checkpoint (epoch %d%s): %s", epoch, ", finished" if finished else "",
                    self.last_checkpoint_file)

    def _unwrapped_model(self) -> torch.nn.Module:
        return getattr(self.model, "module", self.model)

    # ------------------------------------------------------------------ the training loop
    def fit(self, train_data, valid_data=None, verbose=True, saved=True, show_progress=False,
            callback_fn=None):
        """RecBole's ``fit``, writing the last checkpoint; a finished resumed run trains no more."""
        if self._resumed_finished or self.start_epoch >= self.epochs:
            logger.info("resumed run has nothing left to train (epoch %d of %d%s)", self.start_epoch,
                        self.epochs, ", finished" if self._resumed_finished else "")
            return self.best_valid_score, self.best_valid_result
        self._write_last = bool(saved) and self.config["save_last_checkpoint"] is not False
        self._train_loader = train_data
        self._last_epoch_trained = None
        result = super().fit(train_data, valid_data, verbose=verbose, saved=saved,
                             show_progress=show_progress, callback_fn=callback_fn)
        if self._write_last and self._last_epoch_trained is not None:
            self._save_last_checkpoint(self._last_epoch_trained, finished=True)
        return result

    def _train_epoch(self, train_data, epoch_idx, loss_func=None, show_progress=False):
        # The previous epoch (training, validation, early stopping) is complete here and nothing
        # of this one has run yet: the point where the last checkpoint is written and restored.
        if self._write_last and self._last_epoch_trained is not None:
            self._save_last_checkpoint(self._last_epoch_trained, finished=False)
        self._apply_pending_state(train_data)
        train_data = self._epoch_train_data(train_data, epoch_idx)
        loss = super()._train_epoch(train_data, epoch_idx, loss_func=loss_func,
                                    show_progress=show_progress)
        self._last_epoch_trained = epoch_idx
        return loss

    def _epoch_train_data(self, train_data: Any, epoch_idx: int) -> Any:
        """The loader that epoch ``epoch_idx`` trains on (hook; default: ``train_data``)."""
        return train_data

    # ------------------------------------------------------------------ resuming
    def resume_checkpoint(self, resume_file: str) -> None:
        """Continue from a checkpoint of this plugin (``weights_only``), restoring all run state.

        A last checkpoint restores early stopping, the best result and its checkpoint path, the
        random states and the loader's shuffling; a best checkpoint restores what RecBole's does.
        """
        resume_file = str(resume_file)
        checkpoint = load_checkpoint(resume_file, map_location=self.device)
        saved_config = checkpoint["config"]
        for key in ("model", "dataset"):
            if str(saved_config[key]) != str(self.config[key]):
                raise ValueError(
                    f"cannot resume from {resume_file}: it was written for {key} "
                    f"{saved_config[key]!r}, this run is {self.config[key]!r}"
                )
        changed = _changed_keys(saved_config, self.config)
        if changed:
            logger.warning("resuming %s with different settings: %s", resume_file, ", ".join(changed))
        self._unwrapped_model().load_state_dict(checkpoint["state_dict"])
        self._unwrapped_model().load_other_parameter(checkpoint.get("other_parameter"))
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.start_epoch = int(checkpoint["epoch"]) + 1
        self.cur_step = int(checkpoint["cur_step"])
        self.best_valid_score = checkpoint["best_valid_score"]
        best = checkpoint.get("best_checkpoint")
        if best is None:  # a best checkpoint: RecBole's behaviour
            self.saved_model_file = resume_file
        else:
            if not os.path.isfile(best):
                raise FileNotFoundError(
                    f"cannot resume from {resume_file}: its best checkpoint {best} is missing"
                )
            self.saved_model_file = best
            self.best_valid_result = checkpoint["best_valid_result"]
            self._resumed_finished = bool(checkpoint["finished"])
            self._pending_rng = checkpoint["rng"]
            self._pending_generator = checkpoint["train_generator"]
            if hasattr(self, "valid_per_domain"):
                self.valid_per_domain = [(s, d) for s, d in checkpoint["valid_per_domain"]]
            self.train_loss_dict = dict(checkpoint["train_loss"])
        logger.info("resumed from %s: training continues at epoch %d", resume_file, self.start_epoch)

    def _apply_pending_state(self, train_data: Any) -> None:
        if self._pending_rng is not None:
            restore_rng_state(self._pending_rng)
            self._pending_rng = None
        if self._pending_generator is not None:
            generator = getattr(train_data, "generator", None)
            if generator is not None:
                generator.set_state(self._pending_generator.cpu())
            self._pending_generator = None


def _changed_keys(saved: Any, current: Any) -> List[str]:
    """Config keys whose values differ between a checkpoint and this run (for a warning)."""
    ignore = {"checkpoint_dir", "data_path", "device", "gpu_id", "state", "show_progress"}
    old, new = saved.final_config_dict, current.final_config_dict
    return sorted(str(k) for k in set(old) | set(new)
                  if k not in ignore and _plain(old.get(k)) != _plain(new.get(k)))


def _plain_key(key: Any) -> Any:
    """A dict key as a plain ``int`` or ``str`` (numpy's ``str_``/``int64`` are not weights_only-safe)."""
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return int(key)
    return str(key)


def _plain(value: Any) -> Any:
    """Metric containers (OrderedDict, numpy scalars) as plain dicts and numbers."""
    if value is None:
        return None
    if isinstance(value, dict):
        return {_plain_key(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, torch.Tensor):
        return value.item()
    return value


#: Config entries of a DDP rank; a checkpoint stores the config without them.
_DDP_KEYS = ("nproc", "world_size", "ip", "port", "offset")


def _plain_config(config: Any, single_process: bool = False) -> Any:
    """The config as a :class:`PluginConfig` (plain-data pickling), converting if needed.

    With ``single_process``, a DDP rank's config becomes a single-process one (rank 0's view),
    so that checkpoints written under DDP load with RecBole's tools in one process.
    """
    from recbole_llmrec.checkpoint import config_from_state, config_to_state
    from recbole_llmrec.config import PluginConfig

    distributed = single_process and not config["single_spec"]
    if isinstance(config, PluginConfig) and not distributed:
        return config
    plain = PluginConfig.__new__(PluginConfig)
    state = config_to_state(config)
    if distributed:
        final = state["final_config_dict"]
        for key in _DDP_KEYS:
            final.pop(key, None)
        final.update(single_spec=True, local_rank=0)
    config_from_state(plain, state)
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
    return type(f"Safe{base.__name__}",
                (SafeCheckpointMixin, PerDomainEvalMixin, DistributedTrainerMixin, base,
                 DDPConstruction),
                {"__module__": __name__})


class LLMRecTrainer(SafeCheckpointMixin, PerDomainEvalMixin, DistributedTrainerMixin, Trainer,
                    DDPConstruction):
    """Trainer for LLMRec.

    * ``train_prefixes_per_user`` (int or None): each epoch trains on this many history prefixes
      per user, drawn afresh every epoch with ``seed + epoch`` (None: every prefix, RecBole's
      default). On a CPU this turns one hour-long pass into several short epochs, each followed
      by validation, so early stopping sees progress.
    * ``train_prefix_window`` (int or None): draw those prefixes only from each user's most recent
      ``window`` prefixes (None: from all). Recent prefixes are closest in time to the
      validation and test targets.
    * Under DDP, each rank encodes a shard of the item table (``LLMRec.shard_item_table``).
    * ``length_bucketing`` (bool): batches of examples with similar user-sentence length
      (:mod:`recbole_llmrec.data.bucketing`), deterministic per ``seed + epoch``; single process only.
    """

    def __init__(self, config: Any, model: torch.nn.Module) -> None:
        super().__init__(config, model)
        if not config["single_spec"] and hasattr(self.model, "shard_item_table"):
            self.model.shard_item_table = True

    def _epoch_train_data(self, train_data: Any, epoch_idx: int) -> Any:
        per_user = self.config["train_prefixes_per_user"]
        if per_user is not None:
            train_data = self._epoch_subset(train_data, int(per_user), epoch_idx)
        if self.config["length_bucketing"] and self.config["single_spec"]:
            seed = int(self.config["seed"]) + epoch_idx
            train_data = bucketed_loader(self.config, train_data, self.model, seed)
        return train_data

    def _epoch_subset(self, train_data: TrainDataLoader, per_user: int, epoch_idx: int):
        dataset = train_data._dataset
        rng = np.random.default_rng(int(self.config["seed"]) + epoch_idx)
        users = dataset.inter_feat[dataset.uid_field].numpy()
        window = self.config["train_prefix_window"]
        rows = sample_prefix_rows(users, per_user, rng, None if window is None else int(window))
        subset = dataset.copy(dataset.inter_feat[torch.from_numpy(rows)])
        loader = TrainDataLoader(self.config, subset, train_data._sampler, shuffle=True)
        loader.generator.manual_seed(int(self.config["seed"]) + epoch_idx)
        logger.info("epoch %d trains on %d of %d prefixes", epoch_idx, len(rows), len(users))
        return loader



def sample_prefix_rows(users: np.ndarray, per_user: int, rng: np.random.Generator,
                       window: Optional[int] = None) -> np.ndarray:
    """Row indices keeping at most ``per_user`` random rows of each user, in original order.

    With ``window``, only each user's last ``window`` rows are candidates (RecBole's augmented
    training rows are in time order within a user, so these are the most recent prefixes).
    """
    if per_user < 1:
        raise ValueError(f"train_prefixes_per_user must be >= 1 or null, got {per_user}")
    if window is not None:
        if window < 1:
            raise ValueError(f"train_prefix_window must be >= 1 or null, got {window}")
        candidates = np.flatnonzero(_rank_from_end(users) < window)
        return candidates[sample_prefix_rows(users[candidates], per_user, rng)]
    order = rng.permutation(len(users))
    # stable sort by user of a random permutation: a random order within each user
    shuffled = order[np.argsort(users[order], kind="stable")]
    sorted_users = users[shuffled]
    starts = np.flatnonzero(np.r_[True, sorted_users[1:] != sorted_users[:-1]])
    rank = np.arange(len(users)) - np.repeat(starts, np.diff(np.r_[starts, len(users)]))
    return np.sort(shuffled[rank < per_user])


def _rank_from_end(users: np.ndarray) -> np.ndarray:
    """For each row, how many later rows of the same user follow it (0 = the user's last row)."""
    order = np.argsort(users, kind="stable")
    sorted_users = users[order]
    starts = np.flatnonzero(np.r_[True, sorted_users[1:] != sorted_users[:-1]])
    ends = np.r_[starts[1:], len(users)]
    sizes = ends - starts
    index_in_user = np.arange(len(users)) - np.repeat(starts, sizes)
    ranks = np.empty(len(users), dtype=np.int64)
    ranks[order] = np.repeat(sizes, sizes) - 1 - index_in_user
    return ranks
