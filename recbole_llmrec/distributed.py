"""Distributed (DDP) training and evaluation on top of RecBole's own DDP support.

RecBole 1.2.1 already shards data loaders with a ``DistributedSampler`` and syncs gradients
through a ``DistributedDataParallel`` wrapper (``Trainer.set_reduce_hook``). What it gets wrong
is fixed here, from the outside:

* :func:`init_distributed_device` (called by ``PluginConfig._init_device``): gloo on CPU, nccl
  on CUDA (RecBole hard-codes nccl and ``cuda:<local_rank>``).
* :class:`DDPConstruction`: a CPU module gets ``DistributedDataParallel(device_ids=None)``.
* :class:`DistributedTrainerMixin`: one checkpoint path for all ranks (rank 0's, broadcast), a
  barrier before reloading it, and evaluation on the gathered rows of every rank (RecBole
  averages per-rank metrics weighted by batch counts and counts the sampler's padding twice).
* :func:`launch`: ``torch.multiprocessing`` spawn of one process per local rank.
"""
from __future__ import annotations

import hashlib
import inspect
import logging
import os
import socket
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.distributed as dist
from recbole.evaluator.collector import Collector, DataStruct
from recbole.trainer.trainer import AbstractTrainer
from torch.nn.parallel import DistributedDataParallel

logger = logging.getLogger(__name__)

#: DataStruct keys RecBole's Collector fills with one row per evaluated sample.
ROW_KEYS = ("rec.items", "rec.topk", "rec.meanrank", "rec.score", "data.label")


# ---------------------------------------------------------------------------------- process group
def find_free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (bind to port 0 and read the port back)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def check_launch(nproc: int, world_size: int, group_offset: int, gpu_id: str) -> int:
    """Validate launch options; returns the effective world size (``nproc`` when -1)."""
    if nproc < 1:
        raise ValueError(f"--nproc must be >= 1, got {nproc}")
    world = nproc if world_size in (-1, None) or world_size <= 0 else int(world_size)
    if group_offset < 0 or group_offset + nproc > world:
        raise ValueError(
            f"--group_offset={group_offset} with --nproc={nproc} needs ranks "
            f"{group_offset}..{group_offset + nproc - 1}, outside --world_size={world}"
        )
    if gpu_id and torch.cuda.is_available():
        listed = len([g for g in str(gpu_id).split(",") if g.strip()])
        if nproc > listed:
            raise ValueError(f"--nproc={nproc} processes but gpu_id={gpu_id!r} lists {listed} GPU(s)")
        if nproc > torch.cuda.device_count():
            raise ValueError(
                f"--nproc={nproc} processes but only {torch.cuda.device_count()} CUDA device(s) are "
                "visible; lower --nproc or set gpu_id/CUDA_VISIBLE_DEVICES"
            )
    return world


def init_distributed_device(final: Dict[str, Any]) -> None:
    """RecBole's ``Config._init_device`` for a DDP rank (``local_rank`` set), backend from device.

    CUDA (``gpu_id`` not empty and CUDA available): nccl, device ``cuda:<local_rank>``.
    Otherwise: gloo, device ``cpu``. Global rank = ``local_rank + offset``. The rest is
    RecBole's behaviour: ``CUDA_VISIBLE_DEVICES=gpu_id``, ``single_spec=False``, quiet ranks != 0.
    """
    gpu_id = final["gpu_id"]
    gpu_id = ",".join(map(str, gpu_id)) if isinstance(gpu_id, (tuple, list)) else str(gpu_id)
    final["gpu_id"] = gpu_id
    os.environ["CUDA_VISIBLE_DEVICES"] = gpu_id
    local_rank = int(final["local_rank"])
    nproc = int(final.get("nproc") or 1)
    world_size = check_launch(nproc, int(final.get("world_size") or nproc),
                              int(final.get("offset") or 0), gpu_id)
    use_cuda = len(gpu_id) > 0 and torch.cuda.is_available()
    backend = "nccl" if use_cuda else "gloo"
    if use_cuda:
        torch.cuda.set_device(local_rank)
        final["device"] = torch.device("cuda", local_rank)
    else:
        final["device"] = torch.device("cpu")
    rank = local_rank + int(final.get("offset") or 0)
    if dist.is_initialized():
        if dist.get_world_size() != world_size or dist.get_rank() != rank:
            raise ValueError(
                f"a process group (rank {dist.get_rank()} of {dist.get_world_size()}) already "
                f"exists; this config asks for rank {rank} of {world_size}"
            )
    else:
        dist.init_process_group(
            backend=backend, rank=rank, world_size=world_size,
            init_method=f"tcp://{final.get('ip') or 'localhost'}:{final.get('port') or 5678}",
        )
        logger.info("rank %d of %d joined (%s, %s)", rank, world_size, backend, final["device"])
    final["single_spec"] = False
    if local_rank != 0:
        final["state"] = "error"
        final["show_progress"] = False
        final["verbose"] = False


def rank_and_world() -> Tuple[int, int]:
    """(global rank, world size) of the default process group; (0, 1) without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _comm_device() -> torch.device:
    """Where collective tensors must live for the default group's backend."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """``obj`` of rank ``src`` on every rank."""
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_true(flag: bool) -> bool:
    """True on every rank when ``flag`` is true on every rank."""
    value = torch.tensor([1 if flag else 0], device=_comm_device())
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return bool(value.item())


def gather_rows(local: torch.Tensor) -> List[torch.Tensor]:
    """Every rank's ``local`` (same trailing shape and dtype, any number of rows), by rank."""
    device = _comm_device()
    world = dist.get_world_size()
    count = torch.tensor([local.shape[0]], dtype=torch.long, device=device)
    counts = [torch.zeros_like(count) for _ in range(world)]
    dist.all_gather(counts, count)
    sizes = [int(c.item()) for c in counts]
    padded = local.new_zeros((max(sizes),) + tuple(local.shape[1:]))
    padded[: local.shape[0]] = local
    padded = padded.to(device)
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    return [part[:size].to(local.device) for part, size in zip(parts, sizes)]


def merge_shards(rows: Sequence[torch.Tensor], indices: Sequence[torch.Tensor]) -> torch.Tensor:
    """Rows of all ranks put back in sample order: ``out[indices[r][j]] = rows[r][j]``.

    A ``DistributedSampler`` pads the last shards with repeats of the first samples; a repeat
    lands on the same position, so every sample counts once, as in a single process.
    """
    all_indices = torch.cat([torch.as_tensor(i, dtype=torch.long) for i in indices])
    stacked = torch.cat(list(rows))
    n = int(all_indices.max().item()) + 1 if len(all_indices) else 0
    out = stacked.new_zeros((n,) + tuple(stacked.shape[1:]))
    out[all_indices.to(stacked.device)] = stacked
    return out


def gather_sharded_items(local: torch.Tensor, order: torch.Tensor, world: int) -> torch.Tensor:
    """The full item table from each rank's vectors of ``order[rank::world]`` ([n_r, D])."""
    parts = gather_rows(local)
    table = local.new_empty((len(order), local.shape[1]))
    for rank, part in enumerate(parts):
        table[order[rank::world].to(table.device)] = part.to(table.device)
    return table


def state_digest(module: torch.nn.Module) -> str:
    """SHA-256 of a module's state dict (names, dtypes, shapes and bytes, in name order)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        data = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{data.dtype}|{tuple(data.shape)}|".encode())
        digest.update(data.view(torch.uint8).numpy().tobytes() if data.numel() else b"")
    return digest.hexdigest()


def gather_objects(obj: Any) -> List[Any]:
    """``obj`` of every rank, by rank."""
    out: List[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


# ---------------------------------------------------------------------------------- trainers
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


class RowGatheringCollector(Collector):
    """RecBole's Collector that, when given this rank's sample indices, returns the rows of
    every rank in sample order (see :func:`merge_shards`).

    ``extra_rows`` (a list of tensors filled during evaluation, row-aligned with the collected
    rows, e.g. the per-domain evaluator's ``row_domains``) is gathered the same way, in place.
    If some rank's rows do not map one-to-one to its sample indices (value evaluation with
    negatives), nothing is gathered and :attr:`gathered` stays False.
    """

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.shard_indices: Optional[List[int]] = None
        self.extra_rows: Optional[List[torch.Tensor]] = None
        self.gathered = False

    def get_data_struct(self) -> DataStruct:  # noqa: D102 - RecBole's
        struct = super().get_data_struct()
        self.gathered = False
        if self.shard_indices is None:
            return struct
        indices = torch.as_tensor(self.shard_indices, dtype=torch.long)
        extra = self.extra_rows
        self.shard_indices, self.extra_rows = None, None
        keys = [key for key in ROW_KEYS if key in struct]
        counts = [struct[key].shape[0] for key in keys]
        if extra is not None:
            counts.append(sum(int(t.shape[0]) for t in extra))
        if not all_true(all(c == len(indices) for c in counts)):
            logger.warning("evaluation rows do not map one-to-one to samples: metrics are "
                           "RecBole's weighted per-rank averages")
            return struct
        all_indices = gather_rows(indices)
        for key in keys:
            struct[key] = merge_shards(gather_rows(struct[key]), all_indices)
        if extra is not None:
            local = torch.cat(extra) if extra else torch.empty(0, dtype=torch.long)
            extra[:] = [merge_shards(gather_rows(local), all_indices)]
        self.gathered = True
        return struct


class DistributedTrainerMixin:
    """DDP fixes for a RecBole trainer; a no-op in a single process.

    Must come after :class:`~recbole_llmrec.trainer.PerDomainEvalMixin` in the bases (it reads
    the per-domain evaluator's row list that mixin sets up).
    """

    def __init__(self, config: Any, model: torch.nn.Module) -> None:
        super().__init__(config, model)
        if config["single_spec"]:
            return
        self.eval_collector = RowGatheringCollector(config)
        # RecBole names the file from each rank's clock: use rank 0's name everywhere.
        self.saved_model_file = broadcast_object(self.saved_model_file)

    def evaluate(self, eval_data, load_best_model=True, model_file=None, show_progress=False):
        if self.config["single_spec"] or not eval_data:
            return super().evaluate(eval_data, load_best_model=load_best_model,
                                    model_file=model_file, show_progress=show_progress)
        if load_best_model:
            dist.barrier()  # the writer (local rank 0) has finished the checkpoint
        self.eval_collector.shard_indices = list(eval_data.sampler)
        self.eval_collector.extra_rows = getattr(self.evaluator, "row_domains", None)
        return super().evaluate(eval_data, load_best_model=load_best_model,
                                model_file=model_file, show_progress=show_progress)

    def _map_reduce(self, result, num_sample):
        if getattr(self.eval_collector, "gathered", False):
            return result  # already computed on the rows of every rank
        return super()._map_reduce(result, num_sample)


# ---------------------------------------------------------------------------------- launching
def _worker(local_rank: int, fn: Callable[..., Optional[Dict[str, Any]]], args: Tuple,
            kwargs: Dict[str, Any], dist_entries: Dict[str, Any], result_path: str) -> None:
    """One spawned rank: ``fn(*args, config_dict=..., **kwargs)``; global rank 0 saves the result."""
    from recbole_llmrec.quick_start import write_json_atomic

    config_dict = dict(kwargs.pop("config_dict", None) or {})
    config_dict.update(dist_entries, local_rank=local_rank)
    try:
        result = fn(*args, config_dict=config_dict, **kwargs)
        if local_rank + int(dist_entries["offset"]) == 0:
            write_json_atomic(result, result_path)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def launch(fn: Callable[..., Optional[Dict[str, Any]]], args: Tuple, kwargs: Dict[str, Any],
           nproc: int, world_size: int, ip: str, port: Any, group_offset: int,
           result_path: str) -> None:
    """Spawn ``nproc`` ranks (``spawn`` start method) running ``fn``; waits for all of them.

    ``fn`` must be importable (it is pickled by name) and accept ``config_dict``; each rank
    gets ``local_rank``, ``nproc``, ``world_size``, ``ip``, ``port`` and ``offset`` there. Global
    rank 0 writes ``fn``'s JSON-able return value to ``result_path``.
    """
    import torch.multiprocessing as mp

    dist_entries = {"nproc": nproc, "world_size": world_size, "ip": ip, "port": port,
                    "offset": group_offset}
    logger.info("spawning %d process(es), ranks %d..%d of %d, at %s:%s", nproc, group_offset,
                group_offset + nproc - 1, world_size, ip, port)
    mp.start_processes(_worker, args=(fn, args, kwargs, dist_entries, result_path),
                       nprocs=nproc, join=True, start_method="spawn")
