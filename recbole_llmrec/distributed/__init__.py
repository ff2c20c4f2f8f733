"""Distributed (DDP) training and evaluation on top of RecBole's own DDP support.

RecBole 1.2.1 already shards data loaders with a ``DistributedSampler`` and syncs gradients
through a ``DistributedDataParallel`` wrapper (``Trainer.set_reduce_hook``). What it gets wrong
is fixed here, from the outside, one concern per module:

* :mod:`.process_group`: launch-option checks and joining the group (gloo on CPU, nccl on CUDA;
  called by ``PluginConfig._init_device``).
* :mod:`.collectives`: broadcasts and row gathering (a leaf: the model layer may import it).
* :mod:`.collector`: RecBole's Collector that gathers every rank's rows before metrics.
* :mod:`.trainer_mixins`: DDP construction that works on CPU; one checkpoint path for all ranks.
* :mod:`.launch`: ``torch.multiprocessing`` spawn of one process per local rank.
* :mod:`.torchrun`: a process started by ``torchrun`` is one rank (from its environment).

This package's namespace re-exports the leaf modules (collectives, process group, torchrun).
"""
from recbole_llmrec.distributed.collectives import (
    all_true,
    broadcast_object,
    gather_objects,
    gather_rows,
    gather_sharded_items,
    merge_shards,
    rank_and_world,
    state_digest,
)
from recbole_llmrec.distributed.process_group import (
    check_launch,
    find_free_port,
    init_distributed_device,
)
from recbole_llmrec.distributed.torchrun import torchrun_environment, torchrun_rank_config

__all__ = [
    "all_true", "broadcast_object", "check_launch", "find_free_port", "gather_objects",
    "gather_rows", "gather_sharded_items", "init_distributed_device", "merge_shards",
    "rank_and_world", "state_digest", "torchrun_environment", "torchrun_rank_config",
]
