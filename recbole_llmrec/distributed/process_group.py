"""Joining a DDP process group: launch-option checks, gloo on CPU / nccl on CUDA, free ports.

:func:`init_distributed_device` is RecBole's ``Config._init_device`` for a DDP rank (called by
``PluginConfig._init_device``): RecBole hard-codes nccl and ``cuda:<local_rank>``.
"""
from __future__ import annotations

import logging
import os
import socket
from typing import Any, Dict

import torch
import torch.distributed as dist

logger = logging.getLogger(__name__)


def find_free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (bind to port 0 and read the port back)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def check_launch(nproc: int, world_size: int, group_offset: int, gpu_id: str,
                 nproc_option: str = "--nproc") -> int:
    """Validate launch options; returns the effective world size (``nproc`` when -1).

    ``nproc_option``: how errors name the processes per node (torchrun: ``--nproc_per_node``)."""
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
            raise ValueError(f"{nproc_option}={nproc} processes but gpu_id={gpu_id!r} lists "
                             f"{listed} GPU(s): pass --gpu_id with one id per process")
        if nproc > torch.cuda.device_count():
            raise ValueError(
                f"{nproc_option}={nproc} processes but only {torch.cuda.device_count()} CUDA "
                f"device(s) are visible; lower {nproc_option} or set gpu_id/CUDA_VISIBLE_DEVICES"
            )
    return world


def init_distributed_device(final: Dict[str, Any]) -> None:
    """RecBole's ``Config._init_device`` for a DDP rank (``local_rank`` set), backend from device.

    CUDA (``gpu_id`` not empty and CUDA available): nccl, device ``cuda:<local_rank>``.
    Otherwise: gloo, device ``cpu``. Global rank = ``local_rank + offset``. The group is joined
    at ``tcp://<ip>:<port>``, or with ``init_method`` when set (a torchrun rank: ``env://``,
    see :mod:`recbole_llmrec.distributed.torchrun`). The rest is
    RecBole's behaviour: ``CUDA_VISIBLE_DEVICES=gpu_id``, ``single_spec=False``, quiet ranks != 0.
    """
    gpu_id = final["gpu_id"]
    gpu_id = ",".join(map(str, gpu_id)) if isinstance(gpu_id, (tuple, list)) else str(gpu_id)
    final["gpu_id"] = gpu_id
    os.environ["CUDA_VISIBLE_DEVICES"] = gpu_id
    local_rank = int(final["local_rank"])
    nproc = int(final.get("nproc") or 1)
    address = f"{final.get('ip') or 'localhost'}:{final.get('port') or 5678}"
    init_method = final.get("init_method") or f"tcp://{address}"
    world_size = check_launch(
        nproc, int(final.get("world_size") or nproc), int(final.get("offset") or 0), gpu_id,
        "torchrun --nproc_per_node" if init_method == "env://" else "--nproc")
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
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size,
                                init_method=init_method)
        logger.info("rank %d of %d joined (%s, %s)", rank, world_size, backend, final["device"])
    final["single_spec"] = False
    if local_rank != 0:
        final["state"] = "error"
        final["show_progress"] = False
        final["verbose"] = False
