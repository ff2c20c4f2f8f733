"""Safe checkpoints and resumable runs for any RecBole trainer (a mixin over its hooks)."""
from __future__ import annotations

import logging
import os
from typing import Any, Dict, List, Optional

import torch

from recbole_llmrec.runs.checkpoint import atomic_save, load_checkpoint
from recbole_llmrec.config.plugin_config import single_process_config
from recbole_llmrec.distributed.collectives import broadcast_object
from recbole_llmrec.utils.plain import plain_result
from recbole_llmrec.runs.resume import capture_rng_state, last_checkpoint_path, restore_rng_state
from recbole_llmrec.runs.files import file_sha256, reserve, reserve_unique, unique_path, verify_sha256

logger = logging.getLogger(__name__)


class SafeCheckpointMixin:
    """Atomic, ``weights_only``-loadable checkpoints, and resumable runs.

    The best checkpoint keeps RecBole's layout (``config``, ``epoch``, ``cur_step``,
    ``best_valid_score``, ``state_dict``, ``other_parameter``, ``optimizer``), so RecBole's
    ``resume_checkpoint``, ``evaluate(load_best_model=True)`` and ``load_data_and_model`` read it.

    With ``saved=True`` (and ``save_last_checkpoint`` not false) ``fit`` also writes the run's
    *last* checkpoint (:func:`recbole_llmrec.runs.resume.last_checkpoint_path`) after every epoch:
    the best checkpoint's keys plus ``best_valid_result``, ``best_checkpoint``, ``finished``,
    ``rng`` (torch/numpy/python), ``train_generator`` (the train loader's shuffling state),
    ``valid_per_domain`` and ``train_loss``. :meth:`resume_checkpoint` restores all of it, so a
    resumed run continues exactly as the interrupted one would have.

    Only local rank 0 writes (one writer per node: under DDP every rank holds the same weights,
    and each node reloads the file it wrote, so nodes need no shared filesystem); the config is
    stored as a single-process one (rank 0's view without the DDP entries).

    The best checkpoint's name cannot collide with another run's: ``<model>-<run id>.pth``
    (:func:`recbole_llmrec.runs.files.unique_run_id`: microseconds, pid, random suffix), reserved
    with ``O_EXCL`` before the first write. Every write records the file's SHA-256
    (``saved_model_sha256``), and ``evaluate(load_best_model=True)`` verifies it before loading.
    """

    def __init__(self, config: Any, model: torch.nn.Module) -> None:
        super().__init__(config, model)
        self.saved_model_file = unique_path(self.checkpoint_dir, config["model"], ".pth")
        if not config["single_spec"]:  # every rank loads the file rank 0 names
            self.saved_model_file = broadcast_object(self.saved_model_file)
        #: SHA-256 of the best checkpoint as this run last wrote it (None: not written yet).
        self.saved_model_sha256: Optional[str] = None
        self._reserved: Optional[str] = None  # the file name this run created exclusively
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
            "config": single_process_config(self.config),
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
        if saved_model_file == self.saved_model_file:
            saved_model_file = self._reserve_best_file()
        digest = atomic_save(self._checkpoint_state(epoch), saved_model_file)
        if saved_model_file == self.saved_model_file:
            self.saved_model_sha256 = digest
        if verbose:
            logger.info("Saving current: %s", saved_model_file)

    def _reserve_best_file(self) -> str:
        """Create the best checkpoint's file exclusively before its first write (a name another
        process already created is never written: single process, a new name; DDP, an error)."""
        if self._reserved == self.saved_model_file:
            return self.saved_model_file
        if not reserve(self.saved_model_file):
            if not self.config["single_spec"]:
                raise FileExistsError(f"checkpoint {self.saved_model_file} already exists: "
                                      "another run created it")
            taken = self.saved_model_file
            self.saved_model_file = reserve_unique(
                lambda: unique_path(self.checkpoint_dir, self.config["model"], ".pth"))
            logger.warning("checkpoint %s exists (another run): saving to %s", taken,
                           self.saved_model_file)
        self._reserved = self.saved_model_file
        return self.saved_model_file

    def _save_last_checkpoint(self, epoch: int, finished: bool) -> None:
        """Write the resumable state after ``epoch`` (called before anything of the next epoch)."""
        if not self._is_writer():
            return
        generator = getattr(self._train_loader, "generator", None)
        state = self._checkpoint_state(epoch)
        state.update({
            "best_valid_result": plain_result(self.best_valid_result),
            "best_checkpoint": self.saved_model_file,
            "best_checkpoint_sha256": self.saved_model_sha256,
            "finished": finished,
            "rng": capture_rng_state(),
            "train_generator": generator.get_state() if generator is not None else None,
            "valid_per_domain": [[float(score), plain_result(per_domain)]
                                 for score, per_domain in getattr(self, "valid_per_domain", [])],
            "train_loss": {int(k): plain_result(v) for k, v in self.train_loss_dict.items()},
        })
        atomic_save(state, self.last_checkpoint_file)
        logger.info("last checkpoint (epoch %d%s): %s", epoch, ", finished" if finished else "",
                    self.last_checkpoint_file)

    def _unwrapped_model(self) -> torch.nn.Module:
        return getattr(self.model, "module", self.model)

    # ------------------------------------------------------------------ the training loop
    def fit(self, train_data, valid_data=None, verbose=True, saved=True, show_progress=False,
            callback_fn=None):
        """RecBole's ``fit``, writing the last checkpoint; a finished resumed run trains no more;
        ``epochs: 0`` trains nothing, saves the model as it is and validates it once."""
        if self.epochs == 0 and self.start_epoch == 0 and not self._resumed_finished:
            return self._fit_untrained(valid_data, saved, show_progress)
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

    def _fit_untrained(self, valid_data: Any, saved: bool, show_progress: bool):
        """``epochs: 0`` (a model with nothing to train, e.g. TitleKNN): one validation of the
        model as built; its checkpoint is the best one (so the test evaluation reads it)."""
        if valid_data:
            self.best_valid_score, self.best_valid_result = self._valid_epoch(
                valid_data, show_progress=show_progress)
            logger.info("epochs: 0, nothing trained; valid result: %s", self.best_valid_result)
        if saved:
            self._save_checkpoint(-1)
        return self.best_valid_score, self.best_valid_result

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
        if best is None:  # a best checkpoint: RecBole's behaviour (improvements are saved into it)
            self.saved_model_file = self._reserved = resume_file
            self.saved_model_sha256 = file_sha256(resume_file)
        else:
            if not os.path.isfile(best):
                raise FileNotFoundError(
                    f"cannot resume from {resume_file}: its best checkpoint {best} is missing"
                )
            digest = checkpoint.get("best_checkpoint_sha256")  # absent in files of older versions
            if digest is not None:
                verify_sha256(best, digest, "best checkpoint")
            self.saved_model_file = self._reserved = best
            self.saved_model_sha256 = digest or file_sha256(best)
            self.best_valid_result = checkpoint["best_valid_result"]
            self._resumed_finished = bool(checkpoint["finished"])
            self._pending_rng = checkpoint["rng"]
            self._pending_generator = checkpoint["train_generator"]
            if hasattr(self, "valid_per_domain"):
                self.valid_per_domain = [(s, d) for s, d in checkpoint["valid_per_domain"]]
            self.train_loss_dict = dict(checkpoint["train_loss"])
        logger.info("resumed from %s: training continues at epoch %d", resume_file, self.start_epoch)

    # ------------------------------------------------------------------ evaluating
    def evaluate(self, eval_data, load_best_model=True, model_file=None, show_progress=False):
        """RecBole's ``evaluate``; the best checkpoint this run wrote is verified (SHA-256) first."""
        if (eval_data and load_best_model and model_file is None and self._is_writer()
                and self.saved_model_sha256 is not None):
            verify_sha256(self.saved_model_file, self.saved_model_sha256)
        return super().evaluate(eval_data, load_best_model=load_best_model, model_file=model_file,
                                show_progress=show_progress)

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
                  if k not in ignore and plain_result(old.get(k)) != plain_result(new.get(k)))
