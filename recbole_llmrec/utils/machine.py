"""The machine a measurement ran on: CPU model, cores, native bf16, torch version."""
from __future__ import annotations

import os
import platform
from typing import Any, Dict, Optional

CPUINFO = "/proc/cpuinfo"


def cpu_flags(cpuinfo: str = CPUINFO) -> Optional[str]:
    """The CPU's feature flags line (Linux ``/proc/cpuinfo``), None where there is none."""
    try:
        with open(cpuinfo, encoding="utf-8") as handle:
            for line in handle:
                if line.startswith(("flags", "Features")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_name(cpuinfo: str = CPUINFO) -> str:
    """The CPU model name (``/proc/cpuinfo``; the platform's guess elsewhere)."""
    try:
        with open(cpuinfo, encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def cpu_kind(cpuinfo: str = CPUINFO) -> Dict[str, Any]:
    """``{"cpu", "cores", "avx512_bf16", "torch"}``: what a timing must name beside it (torch: the
    version when torch is importable, else None)."""
    try:
        import torch

        version: Optional[str] = torch.__version__
    except ImportError:  # the converters' benchmarks run without torch
        version = None
    flags = (cpu_flags(cpuinfo) or "").split()
    return {"cpu": cpu_name(cpuinfo), "cores": os.cpu_count(), "avx512_bf16": "avx512_bf16" in flags,
            "torch": version}
