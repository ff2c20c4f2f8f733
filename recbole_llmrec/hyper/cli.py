"""``run_hyper.py``: the command line of the hyper-parameter search."""
from __future__ import annotations

import argparse
import logging
from typing import List, Optional, Sequence

from recbole_llmrec.utils.cli_errors import run_cli
from recbole_llmrec.utils.cli_spellings import modernize
from recbole_llmrec.utils.overwrite import refuse_existing
from recbole_llmrec.hyper.search import ALGOS, TOOLS, tune_model
from recbole_llmrec.hyper.trials import TuningJob
from recbole_llmrec.config.overrides import parse_config_overrides


def parse_args(argv: Optional[Sequence[str]] = None):
    """Our options, plus every other ``--key=value`` as a fixed config entry of every trial (old spellings:
    ``--output`` is RecBole's ``--output_file``, dashed flags, ``--set``: warned, accepted)."""
    parser = argparse.ArgumentParser(
        # No prefix matching: --seed (a config key) must not be read as --seeds.
        allow_abbrev=False,
        description="Hyper-parameter search through recbole_llmrec's run(). Any other "
        "--key=value is a fixed config entry of every trial (e.g. --epochs=5)."
    )
    parser.add_argument("--model", "-m", required=True, help="model name (plugin or RecBole)")
    parser.add_argument("--dataset", "-d", default="amazon_mixed", help="dataset name")
    parser.add_argument("--params_file", required=True,
                        help="search space in RecBole's format (see properties/hyper/)")
    parser.add_argument("--max_evals", type=int, default=10, help="most trials")
    parser.add_argument("--algo", choices=ALGOS, default="exhaustive", help="search algorithm")
    parser.add_argument("--tool", choices=TOOLS, default="hyperopt", help="search back end")
    parser.add_argument("--output_file", default=None, help="write the result JSON here")
    parser.add_argument("--config_files", default=None,
                        help="space-separated YAML files layered over the plugin's properties")
    parser.add_argument("--search_seed", type=int, default=2020,
                        help="seed of the search algorithm (the model's is --seed)")
    parser.add_argument("--early_stop", type=int, default=10,
                        help="hyperopt: stop after this many trials without improvement")
    parser.add_argument("--cpus_per_trial", type=float, default=1, help="ray: CPUs per trial")
    parser.add_argument("--gpus_per_trial", type=float, default=0,
                        help="ray: GPUs per trial (0: trials run on CPU)")
    parser.add_argument("--nproc", type=int, default=1,
                        help="processes per trial (> 1: each trial is a DDP job; on GPUs give "
                        "--gpus_per_trial >= --nproc)")
    parser.add_argument("--max_concurrent", type=int, default=1, help="ray: trials at once")
    parser.add_argument("--ray_dir", default="ray_results", help="ray: experiment folder")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output_file")
    args, rest = parser.parse_known_args(modernize(argv,
                                                   {"--output": "--output_file"}))
    return args, parse_config_overrides(rest)


def main(argv: Optional[List[str]] = None) -> int:
    """The search; returns 0, or 1 when every trial failed (bad input raises)."""
    args, overrides = parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    refuse_existing(args.output_file, args.overwrite)
    job = TuningJob(args.model, args.dataset,
                    args.config_files.split() if args.config_files else [], overrides,
                    args.nproc)
    summary = tune_model(
        job, args.params_file, args.max_evals, algo=args.algo, tool=args.tool,
        output=args.output_file, seed=args.search_seed, early_stop=args.early_stop,
        cpus_per_trial=args.cpus_per_trial, gpus_per_trial=args.gpus_per_trial,
        max_concurrent=args.max_concurrent, ray_dir=args.ray_dir,
    )
    return 0 if summary["best_params"] is not None else 1


def cli(argv: Optional[List[str]] = None) -> int:
    """``run_hyper.py``: :func:`main` with one ``error: ...`` line and exit status 2 on bad input."""
    return run_cli(main, argv)
