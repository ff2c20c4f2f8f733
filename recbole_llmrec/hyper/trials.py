"""One search: what is tuned (:class:`TuningJob`), how one trial is launched and recorded, and
the best trial and the table of all of them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Sequence

from recbole_llmrec.hyper.params_file import TuningError

#: What runs one trial: :func:`recbole_llmrec.runs.quick_start.run`'s signature.
RunFn = Callable[..., Dict[str, Any]]

@dataclass
class TuningJob:
    """What to tune: ``model`` on ``dataset`` with fixed ``config_files`` and ``overrides``;
    sampled params are layered over ``overrides``."""

    model: str
    dataset: str
    config_files: Sequence[str] = ()
    overrides: Optional[Dict[str, Any]] = None
    nproc: int = 1  # processes per trial (> 1: a DDP job)

    def config_dict(self, params: Dict[str, Any]) -> Dict[str, Any]:
        """The config entries of one trial."""
        return {**(self.overrides or {}), **params}


def trial_launch(nproc: int, port: Callable[[], int]) -> Dict[str, Any]:
    """:func:`run` keyword arguments of one trial: a single process, or a DDP job of ``nproc``
    processes meeting on a free local port (trials running at once must not share one)."""
    if nproc < 1:
        raise TuningError(f"--nproc must be >= 1, got {nproc}")
    if nproc == 1:
        return {}
    return {"nproc": nproc, "ip": "127.0.0.1", "port": port()}


def plain_params(params: Dict[str, Any]) -> Dict[str, Any]:
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in params.items()}


def trial_score(result: Dict[str, Any]) -> Any:
    """A trial's validation score as the model is used: after calibration of its ranking weights
    (``result["calibration"]["valid_score"]``) when the run calibrated, else ``best_valid_score``."""
    calibration = result.get("calibration") or {}
    fitted = calibration.get("valid_score")
    return fitted if fitted is not None else result.get("best_valid_score")


def trial_record(index: int, params: Dict[str, Any], result: Optional[Dict[str, Any]],
                  error: Optional[str] = None) -> Dict[str, Any]:
    result = result or {}
    return {
        "index": index,
        "params": plain_params(params),
        "best_valid_score": trial_score(result),
        "calibration": result.get("calibration"),
        "best_valid_result": result.get("best_valid_result"),
        "test_result": result.get("test_result"),
        "wall_time_s": result.get("wall_time_s"),
        "error": error,
    }


def best_trial(trials: Sequence[Dict[str, Any]], bigger: bool) -> Optional[Dict[str, Any]]:
    """The trial with the best valid score (the earliest one on ties); None if all failed."""
    scored = [t for t in trials if t["error"] is None and t["best_valid_score"] is not None]
    if not scored:
        return None
    sign = 1.0 if bigger else -1.0
    return max(scored, key=lambda t: (sign * t["best_valid_score"], -t["index"]))


def trials_table(trials: Sequence[Dict[str, Any]], best_index: Optional[int]) -> str:
    """A plain-text table of the trials for the log."""
    names = sorted({k for t in trials for k in t["params"]})
    header = ["#"] + names + ["valid score", ""]
    rows = []
    for t in trials:
        score = "failed" if t["error"] else f"{t['best_valid_score']:.4f}"
        rows.append([str(t["index"])] + [str(t["params"].get(n)) for n in names]
                    + [score, "<- best" if t["index"] == best_index else ""])
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [header] + rows
    )
