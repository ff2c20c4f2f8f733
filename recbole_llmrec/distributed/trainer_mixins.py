"""DDP fixes for RecBole's trainers, from the outside (no-ops in a single process).

* :class:`DDPConstruction`: a CPU module gets ``DistributedDataParallel(device_ids=None)``.
* :class:`DistributedTrainerMixin`: one checkpoint path for all ranks (rank 0's, broadcast), a
  barrier before reloading it, and evaluation on the gathered rows of every rank
  (:class:`~recbole_llmrec.distributed.collector.RowGatheringCollector`).
"""
from __future__ import annotations

import inspect
from typing import Any, Dict

import torch
import torch.distributed as dist
from recbole.trainer.trainer import AbstractTrainer
from torch.nn.parallel import DistributedDataParallel

from recbole_llmrec.distributed.collector import RowGatheringCollector


class DDPConstruction(AbstractTrainer):
    """RecBole's ``AbstractTrainer.__init__`` with a DDP wrapper that also works on CPU.

    Put it right after RecBole's trainer in the bases (``(..., Trainer, DDPConstruction)``):
    ``Trainer.__init__`` then calls this instead of ``AbstractTrainer.__init__``. RecBole passes
    ``device_ids=[local_rank]``, which DDP refuses for CPU modules. Buffers are not broadcast on
    every step: RecBole never runs the real forward through the wrapper, and batch-norm
    statistics are synchronised by ``SyncBatchNorm``.
    """

    def __init__(self, config: Any, model: torch.nn.Module) -> None:  # noqa: D107
        self.config = config
        self.model = model
        if not config["single_spec"]:
            self.model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
            device = config["device"]
            device_ids = [device.index] if device.type == "cuda" else None
            self.distributed_model = DistributedDataParallel(
                self.model, device_ids=device_ids, **_no_buffer_sync()
            )


def _no_buffer_sync() -> Dict[str, bool]:
    """DDP's keyword that turns off buffer broadcasts on forward (renamed in recent torch)."""
    params = inspect.signature(DistributedDataParallel.__init__).parameters
    if "forward_sync_buffers" in params:
        return {"forward_sync_buffers": False}
    return {"broadcast_buffers": False}


class DistributedTrainerMixin:
    """DDP fixes for a RecBole trainer; a no-op in a single process.

    Must come after :class:`~recbole_llmrec.evaluation.grouped_eval_mixin.GroupedEvalMixin` in the bases (it reads
    the per-domain evaluator's row list that mixin sets up).
    """

    def __init__(self, config: Any, model: torch.nn.Module) -> None:
        super().__init__(config, model)
        if config["single_spec"]:
            return
        self.eval_collector = RowGatheringCollector(config)
        # The checkpoint's name is rank 0's on every rank: SafeCheckpointMixin broadcasts it.

    def evaluate(self, eval_data, load_best_model=True, model_file=None, show_progress=False):
        if self.config["single_spec"] or not eval_data:
            return super().evaluate(eval_data, load_best_model=load_best_model,
                                    model_file=model_file, show_progress=show_progress)
        if load_best_model:
            dist.barrier()  # the writer (local rank 0) has finished the checkpoint
        self.eval_collector.shard_indices = list(eval_data.sampler)
        self.eval_collector.extra_rows = getattr(self.evaluator, "row_info", None)
        return super().evaluate(eval_data, load_best_model=load_best_model,
                                model_file=model_file, show_progress=show_progress)

    def _map_reduce(self, result, num_sample):
        if getattr(self.eval_collector, "gathered", False):
            return result  # already computed on the rows of every rank
        return super()._map_reduce(result, num_sample)
