"""Collectives over the default process group (a leaf module: torch only).

Safe to import from any layer, the model included; every function except
:func:`rank_and_world` and :func:`state_digest` needs an initialised process group.
"""
from __future__ import annotations

import hashlib
from typing import Any, List, Sequence, Tuple

import torch
import torch.distributed as dist


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
