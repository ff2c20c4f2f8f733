"""The plugin's trainers and their lookup: RecBole's trainers with our mixins, and LLMRec's
per-epoch example budget.

RecBole's ``fit`` and ``evaluate`` drive everything; the mixins only override the hooks they call
(``_save_checkpoint``, ``_train_epoch``, ``evaluate``, ``_valid_epoch``, the batch-eval hooks):
:class:`~recbole_llmrec.runs.checkpoint_mixin.SafeCheckpointMixin` (safe checkpoints, resuming),
:class:`~recbole_llmrec.evaluation.grouped_eval_mixin.GroupedEvalMixin` (per-domain and
per-popularity metrics, per-row metrics),
:class:`~recbole_llmrec.distributed.trainer_mixins.DistributedTrainerMixin` (DDP fixes),
:class:`TrainerEventsMixin` (announces epochs, validation and evaluations: :mod:`recbole_llmrec.utils.events`).
"""
from __future__ import annotations

import functools
import logging
import os
from typing import Any, Dict, Optional, Type

import numpy as np
import torch
import torch.distributed as dist
from recbole.data.dataloader import FullSortEvalDataLoader, TrainDataLoader
from recbole.trainer import Trainer
from recbole.utils import ModelType
from recbole.utils import get_trainer as recbole_get_trainer

from recbole_llmrec.runs.checkpoint import atomic_save, load_checkpoint
from recbole_llmrec.runs.checkpoint_mixin import SafeCheckpointMixin
from recbole_llmrec.data.bucketing import bucketed_loader
from recbole_llmrec.data.prefix_sampling import sample_prefix_rows
from recbole_llmrec.distributed.collectives import broadcast_object
from recbole_llmrec.distributed.trainer_mixins import DDPConstruction, DistributedTrainerMixin
from recbole_llmrec.evaluation.calibration import Calibration, active_keys, calibrate, check_grid
from recbole_llmrec.evaluation.grouped_eval_mixin import GroupedEvalMixin
from recbole_llmrec.runs.files import verify_sha256
from recbole_llmrec.utils.events import announce

logger = logging.getLogger(__name__)


class TrainerEventsMixin:
    """Announces RecBole's training epochs (with their examples), validation epochs and evaluations
    (:mod:`recbole_llmrec.utils.events`); placed just above RecBole's trainer, so the epoch it
    announces is the one RecBole runs (after the other mixins chose its examples)."""

    _in_validation = False

    def _train_epoch(self, train_data, epoch_idx, loss_func=None, show_progress=False):
        examples = len(train_data._dataset) if hasattr(train_data, "_dataset") else None
        with announce("train_epoch", epoch=epoch_idx, examples=examples):
            return super()._train_epoch(train_data, epoch_idx, loss_func=loss_func, show_progress=show_progress)

    def _valid_epoch(self, valid_data, show_progress=False):
        self._in_validation = True
        try:
            with announce("valid_epoch"):
                return super()._valid_epoch(valid_data, show_progress=show_progress)
        finally:
            self._in_validation = False

    def evaluate(self, eval_data, load_best_model=True, model_file=None, show_progress=False):
        with announce("evaluate", validation=self._in_validation):
            return super().evaluate(eval_data, load_best_model=load_best_model, model_file=model_file,
                                    show_progress=show_progress)


@functools.lru_cache(maxsize=None)
def safe_trainer_class(base: Type) -> Type:
    """RecBole trainer ``base`` with our mixins (safe checkpoints, per-domain metrics, DDP, events)."""
    return type(f"Safe{base.__name__}",
                (SafeCheckpointMixin, GroupedEvalMixin, DistributedTrainerMixin, TrainerEventsMixin, base,
                 DDPConstruction),
                {"__module__": __name__})


class LLMRecTrainer(SafeCheckpointMixin, GroupedEvalMixin, DistributedTrainerMixin, TrainerEventsMixin,
                    Trainer, DDPConstruction):
    """Trainer for LLMRec.

    * ``train_prefixes_per_user`` (int or None): each epoch trains on this many history prefixes
      per user, drawn afresh every epoch with ``seed + epoch`` (None: every prefix, RecBole's
      default). On a CPU this turns one hour-long pass into several short epochs, each followed
      by validation, so early stopping sees progress.
    * ``train_prefix_window`` (int or None): draw those prefixes only from each user's most recent
      ``window`` prefixes (None: from all). Recent prefixes are closest in time to the
      validation and test targets.
    * Under DDP, each rank encodes a shard of the item table (``model.items.shard``).
    * ``length_bucketing`` (bool): batches of examples with similar user-sentence length
      (:mod:`recbole_llmrec.data.bucketing`), deterministic per ``seed + epoch``; single process only.
    * ``calibrate_scoring`` (bool), ``calibration_grid``, ``calibration_max_users``,
      ``calibration_chunk_users``: after training,
      fit the ranking-time scoring weights on the validation split (:meth:`calibrate`); under DDP
      every rank scores its shard of the validation users and all ranks fit the same values.
    """

    def __init__(self, config: Any, model: torch.nn.Module) -> None:
        super().__init__(config, model)
        if not config["single_spec"] and hasattr(self.model, "items"):
            self.model.items.shard = True
        #: What :meth:`calibrate` fitted after training (None: not calibrated).
        self.calibration: Optional[Calibration] = None

    def fit(self, train_data, valid_data=None, verbose=True, saved=True, show_progress=False,
            callback_fn=None):
        """RecBole's ``fit``; then, with ``calibrate_scoring``, :meth:`calibrate` on ``valid_data``."""
        result = super().fit(train_data, valid_data, verbose=verbose, saved=saved,
                             show_progress=show_progress, callback_fn=callback_fn)
        if self.config["calibrate_scoring"] and valid_data and not self._resumed_finished:
            self.calibrate(valid_data, saved)  # a finished run's checkpoint holds its fitted values
        return result

    def calibrate(self, valid_data: Any, saved: bool = True) -> Optional[Calibration]:
        """Fit the ranking-time scoring weights of ``calibration_grid`` on the validation split
        (:mod:`recbole_llmrec.evaluation.calibration`) for the best model, and store them in its
        checkpoint (``saved``), where the test evaluation, ``recommend`` and
        ``--evaluate_checkpoint`` read them (announced as the ``calibration`` event)."""
        with announce("calibration"):
            return self._calibrate(valid_data, saved)

    def _calibrate(self, valid_data: Any, saved: bool) -> Optional[Calibration]:
        if not isinstance(valid_data, FullSortEvalDataLoader):
            logger.warning("calibrate_scoring: needs full-ranking validation (eval_args mode: full); "
                           "this run keeps the configured scoring weights")
            return None
        distributed = not self.config["single_spec"]
        model = self._unwrapped_model()
        checkpoint = None
        has_best = self.saved_model_sha256 is not None  # DDP: only the writers know; rank 0 tells all
        if distributed:
            has_best = broadcast_object(has_best)
            dist.barrier()  # the writers have finished the best checkpoint
        if saved and has_best:  # the best epoch's weights
            if self.saved_model_sha256 is not None:
                verify_sha256(self.saved_model_file, self.saved_model_sha256)
            checkpoint = load_checkpoint(self.saved_model_file, map_location=self.device)
            model.load_state_dict(checkpoint["state_dict"])
            model.load_other_parameter(checkpoint.get("other_parameter"))
        grid = check_grid(self.config["calibration_grid"], model.scoring.values())
        active = active_keys(model, list(grid))
        if not active:
            logger.info("calibrate_scoring: no term of %s applies to this model; nothing to fit", sorted(grid))
            return None
        grid = {key: grid[key] for key in active}
        self.calibration = calibrate(model, valid_data, grid, self.config["valid_metric"], self.device,
                                     max_users=self.config["calibration_max_users"],
                                     chunk_users=self.config["calibration_chunk_users"],
                                     shard_indices=list(valid_data.sampler) if distributed else None,
                                     heap_trim_batches=self.config["eval_heap_trim_batches"])
        if checkpoint is not None and self._is_writer():
            checkpoint["other_parameter"] = model.other_parameter()
            self.saved_model_sha256 = atomic_save(checkpoint, self.saved_model_file)
            logger.info("fitted scoring weights stored in %s", self.saved_model_file)
            self._record_best_digest()
        if distributed:
            dist.barrier()  # every rank reads the stored values from here on
        return self.calibration

    def _record_best_digest(self) -> None:
        """The run's last checkpoint names the best one with its digest: update that digest after
        the best checkpoint was rewritten (so ``--resume`` verifies the file as it now is)."""
        if not os.path.isfile(self.last_checkpoint_file):
            return
        last = load_checkpoint(self.last_checkpoint_file, map_location="cpu")
        if last.get("best_checkpoint") == self.saved_model_file:
            last["best_checkpoint_sha256"] = self.saved_model_sha256
            atomic_save(last, self.last_checkpoint_file)

    def _train_epoch(self, train_data, epoch_idx, loss_func=None, show_progress=False):
        """RecBole's epoch, with the learning rate of ``lr_schedule`` for this epoch."""
        schedule = self.config["lr_schedule"] or "constant"
        if schedule not in ("constant", "linear"):
            raise ValueError(f"lr_schedule must be 'constant' or 'linear', got {schedule!r}")
        if schedule == "linear":  # learning_rate * (1 - epoch / epochs): the last epoch runs at lr / epochs
            for group in self.optimizer.param_groups:
                group["lr"] = self.learning_rate * (1.0 - epoch_idx / max(int(self.epochs), 1))
        return super()._train_epoch(train_data, epoch_idx, loss_func=loss_func, show_progress=show_progress)

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


#: Plugin trainers for plugin models, by model name.
PLUGIN_TRAINERS: Dict[str, Type] = {"LLMRec": LLMRecTrainer}


def get_trainer(model_type: ModelType, model_name: str) -> Type:
    """The trainer class for a model: the plugin's for plugin models, else RecBole's trainer
    with our mixins (:func:`safe_trainer_class`)."""
    if model_name in PLUGIN_TRAINERS:
        return PLUGIN_TRAINERS[model_name]
    return safe_trainer_class(recbole_get_trainer(model_type, model_name))
