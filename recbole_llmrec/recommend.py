"""``python -m recbole_llmrec.recommend``: rank a catalogue for a history of item titles or ids with a trained
model (see :class:`~recbole_llmrec.serving.recommender.Recommender` for the Python API).

::

    python -m recbole_llmrec.recommend --model_dir DIR --history "Ticket To Ride" "Catan" [--topk 10] [--json]
    python -m recbole_llmrec.recommend --model_dir DIR --history_ids B0001 B0002
    python -m recbole_llmrec.recommend --model_dir DIR --histories IN.jsonl --output OUT.jsonl [--topk 10]
    python -m recbole_llmrec.recommend --checkpoint saved/LLMRec-....pth --user 42

Batches: one user a line, ``{"user": ..., "history": [titles or item ids]}`` (or ``"item_ids": [...]``, which
must all be catalogue ids) in; ``{"user": ..., "items": [{"item_id", "title", "domain", "score"}, ...]}`` out,
written atomically (never half a file; an existing one only with ``--overwrite``).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

from tqdm import tqdm

from recbole_llmrec.serving.recommender import Recommendation, Recommender
from recbole_llmrec.utils.atomic import atomic_output
from recbole_llmrec.utils.cli_errors import run_cli
from recbole_llmrec.utils.cli_spellings import modernize
from recbole_llmrec.utils.overwrite import refuse_existing
from recbole_llmrec.utils.jsonl import read_objects

def format_table(recs: Sequence[Recommendation], title_width: int = 60) -> str:
    """A plain-text table: rank, item id, title, domain, score."""
    def cut(text: str) -> str:
        return text if len(text) <= title_width else text[: title_width - 1] + "…"

    id_width = max([len("item_id")] + [len(r.item_id) for r in recs])
    dom_width = max([len("domain")] + [len(r.domain) for r in recs])
    tw = min(title_width, max([len("title")] + [len(r.title) for r in recs]))
    lines = [f"{'rank':>4}  {'item_id':<{id_width}}  {'title':<{tw}}  {'domain':<{dom_width}}  score"]
    for r in recs:
        lines.append(f"{r.rank:>4}  {r.item_id:<{id_width}}  {cut(r.title):<{tw}}  "
                     f"{r.domain:<{dom_width}}  {r.score:.4f}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ batches
def read_histories(path: str) -> List[Tuple[int, Any, List[Any], bool]]:
    """``(line number, user, entries, ids_only)`` of every non-blank line of a histories JSONL file;
    ``ValueError`` naming the file and line of a bad one."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"histories file not found: {path}")
    rows = []
    for line_no, row in read_objects(path):
        ids_only = "item_ids" in row
        key = "item_ids" if ids_only else "history"
        entries = row.get(key)
        if not isinstance(entries, list):
            raise ValueError(f"{path} line {line_no}: '{key}' must be a list of titles or item ids "
                             f"(got {type(entries).__name__ if key in row else 'nothing'})")
        if not entries:
            raise ValueError(f"{path} line {line_no}: empty history for user {row.get('user')!r}")
        rows.append((line_no, row.get("user"), entries, ids_only))
    if not rows:
        raise ValueError(f"{path}: no histories (one JSON object a line)")
    return rows


def recommend_file(rec: Recommender, source: str, output: str, k: int, include_history: bool = False,
                   chunk_size: int = 256, overwrite: bool = False, progress: Optional[bool] = None) -> Dict[str, Any]:
    """Rank every history of ``source`` (JSONL) and write ``output`` (JSONL) atomically; a summary back
    (``users``, ``seconds``, ``users_per_s``). ``progress`` None: a progress bar on a terminal only."""
    refuse_existing(output, overwrite)
    rows = read_histories(source)
    histories = []
    for line_no, user, entries, ids_only in rows:
        try:
            if ids_only:
                histories.append(rec.item_history([str(e) for e in entries]))
            else:
                histories.append([rec.read_entry(e) for e in entries])
        except (LookupError, ValueError) as err:
            raise ValueError(f"{source} line {line_no}: {err.args[0] if err.args else err}") from None
    bar = None
    if progress is None:
        progress = sys.stderr.isatty()
    if progress:
        bar = tqdm(total=len(histories), unit="user", file=sys.stderr)
    started = time.perf_counter()
    try:
        results = rec.rank_in_chunks(histories, k, include_history, chunk_size,
                                     bar.update if bar is not None else None)
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - started
    with atomic_output(output, ".jsonl") as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as out:
        for (_, user, _, _), recs in zip(rows, results):
            items = [{"item_id": r.item_id, "title": r.title, "domain": r.domain, "score": r.score} for r in recs]
            out.write(json.dumps({"user": user, "items": items}, ensure_ascii=False) + "\n")
    return {"users": len(results), "seconds": seconds, "users_per_s": len(results) / max(seconds, 1e-9)}


# ------------------------------------------------------------------------------------------ the CLI
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m recbole_llmrec.recommend",
        description="Rank a catalogue for histories of item titles or ids with a trained LLMRec/TitleKNN "
                    "model folder (or checkpoint).")
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--model_dir", help="a model folder (python -m recbole_llmrec.export / save_pretrained)")
    model.add_argument("--checkpoint", help="an LLMRec/TitleKNN checkpoint (.pth; needs its dataset)")
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--history", nargs="+", metavar="TITLE", help="titles the user interacted with, oldest first")
    who.add_argument("--history_ids", nargs="+", metavar="ITEM_ID", help="catalogue item ids, oldest first")
    who.add_argument("--histories", metavar="IN.jsonl",
                     help='one user a line: {"user": ..., "history": [titles or item ids]}; needs --output')
    who.add_argument("--user", metavar="ID", help="a user of the checkpoint's dataset (their history; --checkpoint)")
    parser.add_argument("--output", metavar="OUT.jsonl", help="where --histories' rankings go (JSONL)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    parser.add_argument("--catalogue", default=None,
                        help="items to rank: a converted dataset name or folder, or a TSV/CSV file "
                             "with item_id, title[, domain]; default: the model's own catalogue")
    parser.add_argument("--topk", type=int, default=10, help="how many items per user (default 10)")
    parser.add_argument("--chunk_size", type=int, default=256, help="users per scoring pass in --histories")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--include_history", action="store_true", help="let items of the history appear in the ranking")
    parser.add_argument("--cache_dir", default=None,
                        help="item-vector cache folder for other catalogues (default $RECBOLE_LLMREC_CACHE or "
                             "~/.cache/recbole_llmrec/serving/item_vectors)")
    parser.add_argument("--no_cache", action="store_true", help="neither read nor write the cache")
    parser.add_argument("--llm_path", default=None,
                        help="where the model folder's LM is on this machine, if not where config.json says "
                             "(its weights must match the recorded SHA-256; --model_dir)")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--data_path", default=None,
                        help="folder holding the checkpoint's dataset, if it moved since training (--checkpoint)")
    return parser


def _check_args(args: argparse.Namespace) -> None:
    if args.topk < 1:
        raise ValueError(f"--topk must be >= 1, got {args.topk}")
    if args.chunk_size < 1:
        raise ValueError(f"--chunk_size must be >= 1, got {args.chunk_size}")
    if args.histories and not args.output:
        raise ValueError("--histories needs --output OUT.jsonl")
    if args.output and not args.histories:
        raise ValueError("--output goes with --histories IN.jsonl")
    if args.user is not None and args.model_dir:
        raise ValueError("--user reads a user of the checkpoint's dataset: use --checkpoint")
    if args.model_dir and args.data_path:
        raise ValueError("--data_path goes with --checkpoint (a model folder needs no dataset)")
    if args.llm_path and not args.model_dir:
        raise ValueError("--llm_path goes with --model_dir (a checkpoint's LM is set by its config)")
    if args.histories:
        refuse_existing(args.output, args.overwrite)


def main(argv: Optional[List[str]] = None) -> int:
    """``python -m recbole_llmrec.recommend ...``; returns the exit status."""
    args = _parser().parse_args(modernize(argv))
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    _check_args(args)
    started = time.perf_counter()
    if args.model_dir:
        rec = Recommender.from_pretrained(args.model_dir, catalogue=args.catalogue, cache_dir=args.cache_dir,
                                          use_cache=not args.no_cache, device=args.device, llm_path=args.llm_path)
    else:
        rec = Recommender.from_checkpoint(args.checkpoint, catalogue=args.catalogue, cache_dir=args.cache_dir,
                                          use_cache=not args.no_cache, device=args.device, data_path=args.data_path)
    loaded = time.perf_counter()
    if args.histories:
        summary = recommend_file(rec, args.histories, args.output, args.topk, args.include_history,
                                 args.chunk_size, args.overwrite)
        print(f"wrote {summary['users']} users' top {args.topk} to {args.output}: loaded in {loaded - started:.1f} s, "
              f"ranked in {summary['seconds']:.2f} s ({summary['users_per_s']:.0f} users/s)", file=sys.stderr)
        return 0
    if args.user is not None:
        history = [title for _, title in rec.user_history(args.user)]
        recs = rec.recommend_for_user(args.user, args.topk, args.include_history)
    elif args.history_ids:
        history = list(args.history_ids)
        recs = rec.recommend_ids(history, args.topk, args.include_history)
    else:
        history = list(args.history)
        recs = rec.recommend(history, args.topk, args.include_history)
    done = time.perf_counter()
    if args.json:
        print(json.dumps({"model": args.model_dir or args.checkpoint, "catalogue": rec.catalogue.source,
                          "catalogue_items": len(rec.catalogue), "user": args.user,
                          "history": history, "recommendations": [r.as_dict() for r in recs]},
                         indent=2, ensure_ascii=False))
    else:
        print(f"top {len(recs)} of {len(rec.catalogue)} items ({rec.catalogue.source}) for a "
              f"history of {len(history)} item(s)")
        print(format_table(recs))
    cached = ("from the model folder" if args.model_dir and not args.catalogue else "from cache") \
        if rec.vectors_from_cache else "encoded"
    print(f"item vectors {cached}; loaded in {loaded - started:.1f} s, ranked in {done - loaded:.2f} s",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
