"""Spawning one process per local rank (``torch.multiprocessing``, ``spawn``)."""
from __future__ import annotations

import logging
from typing import Any, Callable, Dict, Optional, Tuple

import torch.distributed as dist
import torch.multiprocessing as mp

from recbole_llmrec.utils.atomic import write_json_atomic

logger = logging.getLogger(__name__)


def _worker(local_rank: int, fn: Callable[..., Optional[Dict[str, Any]]], args: Tuple,
            kwargs: Dict[str, Any], dist_entries: Dict[str, Any], result_path: str) -> None:
    """One spawned rank: ``fn(*args, config_dict=..., **kwargs)``; global rank 0 saves the result."""
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
    dist_entries = {"nproc": nproc, "world_size": world_size, "ip": ip, "port": port,
                    "offset": group_offset}
    logger.info("spawning %d process(es), ranks %d..%d of %d, at %s:%s", nproc, group_offset,
                group_offset + nproc - 1, world_size, ip, port)
    mp.start_processes(_worker, args=(fn, args, kwargs, dist_entries, result_path),
                       nprocs=nproc, join=True, start_method="spawn")
