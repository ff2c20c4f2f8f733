"""Command line of ``run_benchmark.py``."""
from __future__ import annotations

import argparse
import logging
from typing import List, Optional, Sequence, Tuple

from recbole_llmrec.comparison.manifest import BenchmarkDirError
from recbole_llmrec.comparison.runner import BenchmarkSpec, MissingPerDomainError, run_benchmark
from recbole_llmrec.config.overrides import parse_config_overrides
from recbole_llmrec.utils.cli_spellings import modernize

logger = logging.getLogger(__name__)


def _csv(text: str) -> List[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_args(argv: Optional[Sequence[str]] = None) -> Tuple[argparse.Namespace, BenchmarkSpec]:
    """Our options, plus every other ``--key=value`` as a config entry for every model (old spellings:
    dashed flags, ``--set KEY=VALUE``, warned and accepted)."""
    parser = argparse.ArgumentParser(
        # No prefix matching: --seed (a config key) must not be read as --seeds.
        allow_abbrev=False,
        description="Benchmark several models with the same split and evaluator. Any other "
        "--key=value is passed to every model's RecBole config (e.g. --epochs=5)."
    )
    parser.add_argument("--dataset", "-d", default="amazon_mixed", help="dataset name")
    parser.add_argument("--models", default="LLMRec,TitleKNN,SASRec,GRU4Rec,BERT4Rec,Pop",
                        help="comma-separated models, in report order")
    parser.add_argument("--seeds", default=None,
                        help="comma-separated seeds (default: the configured seed)")
    parser.add_argument("--config_files", default=None,
                        help="space-separated YAML files layered over the plugin's properties")
    parser.add_argument("--output", required=True, help="benchmark folder (results + runs/)")
    parser.add_argument("--overwrite", action="store_true",
                        help="discard results already in --output and start afresh")
    args, rest = parser.parse_known_args(modernize(argv))
    try:
        seeds = [int(s) for s in _csv(args.seeds)] if args.seeds else []
    except ValueError:
        parser.error(f"--seeds must be comma-separated integers, got {args.seeds!r}")
    models = _csv(args.models)
    if not models:
        parser.error("--models is empty")
    spec = BenchmarkSpec(
        dataset=args.dataset,
        models=models,
        seeds=seeds,
        config_files=args.config_files.split() if args.config_files else [],
        overrides=parse_config_overrides(rest),
    )
    return args, spec


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of ``run_benchmark.py``; returns the process exit code."""
    args, spec = parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        run_benchmark(spec, args.output, overwrite=args.overwrite)
    except (BenchmarkDirError, MissingPerDomainError, ValueError, FileNotFoundError) as err:
        logger.error("%s", err)
        print(f"error: {err}")
        return 2
    return 0
