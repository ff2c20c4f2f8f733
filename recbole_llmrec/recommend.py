"""``python -m recbole_llmrec.recommend``: rank a catalogue for a history of item titles with a trained
model (see :class:`~recbole_llmrec.serving.recommender.Recommender` for the Python API)."""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from typing import List, Optional, Sequence

from recbole_llmrec.serving.recommender import Recommendation, Recommender
from recbole_llmrec.utils.cli_errors import run_cli


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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m recbole_llmrec.recommend",
        description="Rank a catalogue for a history of item titles with a trained LLMRec checkpoint.")
    parser.add_argument("--checkpoint", required=True, help="an LLMRec checkpoint (.pth)")
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--history", nargs="+", metavar="TITLE",
                     help="titles the user interacted with, oldest first")
    who.add_argument("--user", metavar="ID", help="a user of the checkpoint's dataset (their history)")
    parser.add_argument("--catalogue", default=None,
                        help="items to rank: a converted dataset name or folder, or a TSV/CSV file "
                             "with item_id, title[, domain]; default: the checkpoint's dataset")
    parser.add_argument("--topk", type=int, default=10, help="how many items to show (default 10)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--include-history", action="store_true",
                        help="let items of the history appear in the ranking")
    parser.add_argument("--cache-dir", default=None,
                        help="item-vector cache folder (default $RECBOLE_LLMREC_CACHE or "
                             "~/.cache/recbole_llmrec/serving/item_vectors)")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--data_path", default=None,
                        help="folder holding the checkpoint's dataset, if it moved since training")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """``python -m recbole_llmrec.recommend ...``; returns the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.topk < 1:
        raise ValueError(f"--topk must be >= 1, got {args.topk}")
    started = time.perf_counter()
    rec = Recommender.from_checkpoint(args.checkpoint, catalogue=args.catalogue,
                                      cache_dir=args.cache_dir, use_cache=not args.no_cache,
                                      device=args.device, data_path=args.data_path)
    loaded = time.perf_counter()
    if args.user is not None:
        history = [title for _, title in rec.user_history(args.user)]
        recs = rec.recommend_for_user(args.user, args.topk, args.include_history)
    else:
        history = list(args.history)
        recs = rec.recommend(history, args.topk, args.include_history)
    done = time.perf_counter()
    if args.json:
        print(json.dumps({"checkpoint": args.checkpoint, "catalogue": rec.catalogue.source,
                          "catalogue_items": len(rec.catalogue), "user": args.user,
                          "history": history, "recommendations": [r.as_dict() for r in recs]},
                         indent=2, ensure_ascii=False))
    else:
        print(f"top {len(recs)} of {len(rec.catalogue)} items ({rec.catalogue.source}) for a "
              f"history of {len(history)} item(s)")
        print(format_table(recs))
    cached = "from cache" if rec.vectors_from_cache else "encoded"
    print(f"item vectors {cached}; loaded in {loaded - started:.1f} s, ranked in "
          f"{done - loaded:.2f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
