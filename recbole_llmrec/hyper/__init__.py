"""Hyper-parameter search (``run_hyper.py``), one concern per module:

* :mod:`.params_file`: RecBole's params-file format -> :class:`Param` list (and the grid).
* :mod:`.trials`: the job, launching and recording one trial, the best trial, the trials table.
* :mod:`.hyperopt_backend`: RecBole's ``HyperTuning`` (exhaustive / random / bayes).
* :mod:`.ray_backend`: Ray Tune (optional extra).
* :mod:`.search`: :func:`tune_model`, the search and its JSON summary.
* :mod:`.cli`: the command line.

(Not to be confused with the model setting ``tuning: full|lora|frozen``, which says how the LM
is trained.)
"""
from recbole_llmrec.hyper.cli import cli, main, parse_args
from recbole_llmrec.hyper.params_file import Param, TuningError, grid, parse_params_file
from recbole_llmrec.hyper.search import ALGOS, TOOLS, tune_model
from recbole_llmrec.hyper.trials import TuningJob, best_trial, trials_table

__all__ = [
    "ALGOS", "TOOLS", "Param", "TuningError", "TuningJob", "best_trial", "cli", "grid", "main",
    "parse_args", "parse_params_file", "trials_table", "tune_model",
]
