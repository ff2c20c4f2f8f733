"""``python -m recbole_llmrec.export``: a trained checkpoint as a self-contained model folder, and back.

::

    python -m recbole_llmrec.export --checkpoint saved/LLMRec-....pth --output my_model \\
        [--include_lm] [--overwrite] [--result RUN.json [--baseline SASRec.json ...]]
    python -m recbole_llmrec.export --to_checkpoint my_model --output LLMRec-from-folder.pth

The folder (:mod:`recbole_llmrec.serving.model_folder`) holds ``config.json``, ``model.safetensors``,
``catalogue.jsonl``, ``item_vectors.safetensors`` and a model card ``README.md``; it is written into a
temporary folder and renamed into place, and an existing output is never replaced without
``--overwrite``. Nothing is downloaded. ``--to_checkpoint`` writes a RecBole checkpoint that
``recbole.quick_start.load_data_and_model`` reads (it reloads the dataset the config names).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from recbole_llmrec.model.folder_io import check_output
from recbole_llmrec.serving.model_folder import save_model_folder, to_checkpoint
from recbole_llmrec.serving.recommender import load_checkpoint_pipeline
from recbole_llmrec.utils.cli_errors import run_cli

logger = logging.getLogger(__name__)


def read_run_result(path: str) -> Dict[str, Any]:
    """A run's result JSON (``run_recbole_llmrec.py --result_file``): ``ValueError`` naming a bad file."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"result file not found: {path}")
    try:
        with open(path, encoding="utf-8") as handle:
            result = json.load(handle)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON (line {err.lineno}: {err.msg})") from None
    if not isinstance(result, dict) or not isinstance(result.get("test_result"), dict):
        raise ValueError(f"{path}: not a run result (no 'test_result' object)")
    return result


def export_checkpoint(checkpoint: str, output: str, include_lm: bool = False, overwrite: bool = False,
                      result: Optional[str] = None, baselines: Sequence[str] = (),
                      data_path: Optional[str] = None, command: Optional[str] = None) -> Path:
    """Write ``checkpoint`` (LLMRec or TitleKNN) as a model folder at ``output``; ``result`` / ``baselines``:
    run result files whose test metrics the model card shows. The checkpoint is loaded the RecBole way
    (its dataset must be where the config says, or under ``data_path``)."""
    check_output(Path(output), overwrite)  # before the slow load
    card: Dict[str, Any] = {"command": command}
    if result is not None:
        card["result"] = read_run_result(result)
    card["baselines"] = [dict(read_run_result(path), label=Path(path).stem) for path in baselines]
    built = load_checkpoint_pipeline(checkpoint, data_path=data_path)  # the model remembers its training items
    config = built.config
    card["train_command"] = (card.get("result") or {}).get("command") or (
        f"python run_recbole_llmrec.py --model={config['model']} --dataset={config['dataset']}")
    return save_model_folder(built.model, output, include_lm=include_lm, overwrite=overwrite, card_info=card)


def folder_size(folder: Path) -> Dict[str, int]:
    """Bytes of each file in a folder (sub-folders summed under their name)."""
    sizes: Dict[str, int] = {}
    for path in sorted(folder.iterdir()):
        if path.is_dir():
            sizes[path.name + "/"] = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        else:
            sizes[path.name] = path.stat().st_size
    return sizes


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m recbole_llmrec.export",
        description="Write a trained LLMRec/TitleKNN checkpoint as a model folder (or a folder back "
                    "as a RecBole checkpoint).")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="a checkpoint (.pth) to export")
    source.add_argument("--to_checkpoint", metavar="DIR", help="a model folder to convert to a checkpoint")
    parser.add_argument("--output", required=True, help="the model folder (or, with --to_checkpoint, .pth) to write")
    parser.add_argument("--include_lm", action="store_true",
                        help="copy the LM's folder into the model folder (default: referenced by llm_path "
                             "and the SHA-256 of its weights)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    parser.add_argument("--result", default=None, metavar="RUN.json",
                        help="the run's result file (--result_file): its test metrics go in the model card")
    parser.add_argument("--baseline", nargs="+", default=[], metavar="RUN.json",
                        help="baseline runs' result files shown beside the model's metrics")
    parser.add_argument("--data_path", default=None,
                        help="folder holding the checkpoint's dataset, if it moved since training")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """``python -m recbole_llmrec.export ...``; returns the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    started = time.perf_counter()
    if args.to_checkpoint:
        if args.include_lm or args.result or args.baseline:
            raise ValueError("--include_lm, --result and --baseline apply to --checkpoint, not --to_checkpoint")
        path = to_checkpoint(args.to_checkpoint, args.output, args.overwrite)
        print(f"wrote {path} ({os.path.getsize(path) / 1e6:.1f} MB) in {time.perf_counter() - started:.1f} s")
        return 0
    command = "python -m recbole_llmrec.export " + shlex.join(sys.argv[1:] if argv is None else argv)
    folder = export_checkpoint(args.checkpoint, args.output, args.include_lm, args.overwrite, args.result,
                               args.baseline, args.data_path, command)
    sizes = folder_size(folder)
    print(f"wrote {folder} ({sum(sizes.values()) / 1e6:.1f} MB) in {time.perf_counter() - started:.1f} s")
    for name, size in sizes.items():
        print(f"  {name:<28} {size / 1e6:9.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
