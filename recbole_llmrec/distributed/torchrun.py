"""Processes started by ``torchrun`` (``python -m torch.distributed.run``): one process = one rank.

torchrun (and SLURM jobs that call it) starts every rank itself and tells each process who it is
through the environment (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``LOCAL_WORLD_SIZE``,
``MASTER_ADDR``, ``MASTER_PORT``). Such a process spawns nothing: :func:`torchrun_rank_config`
turns the environment into the config entries of a DDP rank, and
:func:`~recbole_llmrec.distributed.process_group.init_distributed_device` joins the group with
``init_method="env://"`` (torchrun's agent already hosts the store at ``MASTER_PORT``).
"""
from __future__ import annotations

import logging
import os
from typing import Any, Dict, Mapping, Optional

logger = logging.getLogger(__name__)

#: What torchrun sets in every worker's environment (all six: a torchrun rank).
TORCHRUN_VARIABLES = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR",
                      "MASTER_PORT")
_INTEGERS = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_PORT")

#: ``init_method`` of a torchrun rank (the config entry :func:`init_distributed_device` reads).
ENV_INIT = "env://"


def torchrun_environment(environ: Optional[Mapping[str, str]] = None) -> Optional[Dict[str, Any]]:
    """This process's place in a torchrun job, or None when torchrun did not start it.

    Returns ``{"rank", "local_rank", "world_size", "local_world_size", "master_addr",
    "master_port"}`` (``environ``: default ``os.environ``). None unless all of
    :data:`TORCHRUN_VARIABLES` are set; bad values raise a one-line ``ValueError``.
    """
    env = os.environ if environ is None else environ
    present = [name for name in TORCHRUN_VARIABLES if env.get(name, "").strip()]
    if len(present) < len(TORCHRUN_VARIABLES):
        if present and any(name in present for name in ("RANK", "LOCAL_RANK")):
            logger.warning("%s set but not %s: not a torchrun rank, running as a plain process",
                           ", ".join(present),
                           ", ".join(n for n in TORCHRUN_VARIABLES if n not in present))
        return None
    values: Dict[str, Any] = {}
    for name in TORCHRUN_VARIABLES:
        text = env[name].strip()
        if name in _INTEGERS:
            try:
                values[name.lower()] = int(text)
            except ValueError:
                raise ValueError(
                    f"torchrun environment: {name}={text!r} is not an integer") from None
        else:
            values[name.lower()] = text
    if not 0 <= values["local_rank"] < values["local_world_size"] <= values["world_size"]:
        raise ValueError(f"torchrun environment: LOCAL_RANK={values['local_rank']}, "
                         f"LOCAL_WORLD_SIZE={values['local_world_size']}, "
                         f"WORLD_SIZE={values['world_size']} are inconsistent")
    if not values["local_rank"] <= values["rank"] < values["world_size"]:
        raise ValueError(f"torchrun environment: RANK={values['rank']} with LOCAL_RANK="
                         f"{values['local_rank']} is outside WORLD_SIZE={values['world_size']}")
    return values


def check_torchrun_options(env: Mapping[str, Any], nproc: int, world_size: Optional[int],
                           group_offset: int) -> None:
    """A one-line ``ValueError`` when explicit launch options contradict torchrun's ``env``.

    The defaults (``nproc=1``, ``world_size<=0``, ``group_offset=0``) mean "not given"; values
    equal to torchrun's are accepted.
    """
    hint = "leave it out under torchrun, which sets it"
    if nproc != 1 and nproc != env["local_world_size"]:
        raise ValueError(f"--nproc={nproc} conflicts with torchrun's --nproc_per_node="
                         f"{env['local_world_size']} (LOCAL_WORLD_SIZE): {hint}")
    if world_size is not None and world_size > 0 and world_size != env["world_size"]:
        raise ValueError(f"--world_size={world_size} conflicts with torchrun's WORLD_SIZE="
                         f"{env['world_size']}: {hint}")
    offset = env["rank"] - env["local_rank"]
    if group_offset != 0 and group_offset != offset:
        raise ValueError(f"--group_offset={group_offset} conflicts with torchrun's ranks: this "
                         f"node's first rank is {offset}: {hint}")


def torchrun_rank_config(nproc: int = 1, world_size: Optional[int] = -1, group_offset: int = 0,
                         environ: Optional[Mapping[str, str]] = None) -> Optional[Dict[str, Any]]:
    """Config entries that make this process join torchrun's job as its rank.

    None when torchrun did not start this process, or started only one rank (``WORLD_SIZE=1``:
    a plain single-process run). The explicit launch options are checked first
    (:func:`check_torchrun_options`). The entries are those of a spawned rank
    (``local_rank``, ``nproc``, ``world_size``, ``offset``, ``ip``, ``port``) plus
    ``init_method: env://``.
    """
    env = torchrun_environment(environ)
    if env is None:
        return None
    check_torchrun_options(env, nproc, world_size, group_offset)
    if env["world_size"] == 1:
        logger.info("started by torchrun with WORLD_SIZE=1: a single-process run")
        return None
    return {
        "local_rank": env["local_rank"],
        "nproc": env["local_world_size"],
        "world_size": env["world_size"],
        "offset": env["rank"] - env["local_rank"],
        "ip": env["master_addr"],
        "port": env["master_port"],
        "init_method": ENV_INIT,
    }
