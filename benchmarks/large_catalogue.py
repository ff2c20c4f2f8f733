"""Large catalogues on a stand-in model (random title vectors, a linear adaptor to 64-d item vectors;
LLMRec's own scoring terms, weights and negative strategies): the memory of full-catalogue scoring
with and without item chunks (``score_chunk_items``) and of a top-k, and one training step of the
``full_catalogue`` and ``sampled`` softmax.

Each mode runs in a fresh process; memory is its peak resident memory above what the stand-in's
tables take::

    python -m benchmarks.large_catalogue --items 1000000 --users 64           # scoring: full / chunked / topk
    python -m benchmarks.large_catalogue --items 200000 --train --users 256   # training step: full_catalogue / sampled
"""
from __future__ import annotations

import argparse
import json
import time
from typing import Optional

import torch

from recbole_llmrec.model.negative_sampling import STRATEGIES
from recbole_llmrec.model.scoring import Scoring
from recbole_llmrec.model.settings import LLMRecSettings
from recbole_llmrec.runs import harness
from recbole_llmrec.runs.harness import RunSpec, peak_rss_mib

SCORING_MODES = ("full", "chunked", "topk")
TRAINING_MODES = ("full_catalogue", "sampled")


class StandIn:
    """What the scoring terms read of a model (``ScoringModel``; the stand-in is its own ``items`` and
    ``catalogue``): random tables, a tenth of the items cold."""

    training = False

    def __init__(self, n_items: int, width: int, title_width: int) -> None:
        self.n_items = n_items
        self.table = torch.randn(n_items, width)
        self.titles = torch.randn(n_items, title_width)
        self.cold = torch.rand(n_items) < 0.1
        self.items = self.catalogue = self

    def query(self, item_seq: torch.Tensor, item_len: torch.Tensor) -> torch.Tensor:
        return self.table[item_seq].mean(1)

    def scored(self, item_ids: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.table if item_ids is None else self.table[item_ids]

    def scored_rows(self, start: int, stop: int) -> torch.Tensor:
        return self.table[start:stop]

    def title_vectors(self) -> torch.Tensor:
        return self.titles

    def item_groups(self) -> dict[str, torch.Tensor]:
        return {"cold": self.cold}


class Adaptor:
    """``ItemScorer`` of the negative strategies: item vectors = a linear map of title vectors, with gradient."""

    def __init__(self, titles: torch.Tensor) -> None:
        self.titles = titles
        self.linear = torch.nn.Linear(titles.shape[1], 64)

    def vectors(self, item_ids: torch.Tensor) -> torch.Tensor:
        return self.linear(self.titles[item_ids])

    def training_table(self, fresh_ids: torch.Tensor, fresh_vectors: torch.Tensor) -> torch.Tensor:
        return self.linear(self.titles)


def train_step(mode: str, items: int, users: int, steps: int = 3) -> dict:
    """Seconds per training step (forward + backward) of ``mode``'s softmax, batch ``users``."""
    torch.manual_seed(0)
    scorer = Adaptor(torch.randn(items, 384))
    settings = LLMRecSettings(negative_sampling=mode).negatives
    strategy = STRATEGIES[mode](settings)
    counts = torch.randint(1, 50, (items,)).float()
    strategy.rebind(items, None, counts)
    before = peak_rss_mib()
    started = time.perf_counter()
    for _ in range(steps):
        user_vectors = torch.randn(users, 64, requires_grad=True)
        positives = torch.multinomial(counts, users, replacement=True)
        logits, targets = strategy(scorer, user_vectors, positives)
        torch.nn.functional.cross_entropy(logits, targets).backward()
    return {"mode": mode, "items": items, "users": users, "sampled_negatives": settings.sampled_negatives,
            "seconds_per_step": round((time.perf_counter() - started) / steps, 3),
            "peak_above_tables_mib": round(peak_rss_mib() - before)}


def measure(spec: RunSpec) -> dict:
    """Harness task, one measurement of the spec's options (``mode``, ``items``, ``users``, ``chunk``): scoring
    ``full`` (one chunk), ``chunked`` or ``topk``; or a training mode."""
    mode, items, users, chunk = (spec.options[k] for k in ("mode", "items", "users", "chunk"))
    if mode in TRAINING_MODES:
        return train_step(mode, items, users)
    torch.manual_seed(0)
    model = StandIn(items, 64, 384)
    # the stand-in has no title words: the word part of the title similarity is off
    scoring = Scoring(LLMRecSettings(title_similarity_words=0.0).scoring.terms, None if mode == "full" else chunk)
    seq = torch.randint(1, items, (users, 20))
    length = torch.full((users,), 20)
    before = peak_rss_mib()
    started = time.perf_counter()
    with torch.no_grad():
        if mode == "topk":
            scoring.top_k(model, seq, length, 10, start=1)
        else:
            scoring.scores(model, seq, length)
    return {"mode": mode, "items": items, "users": users, "chunk": None if mode == "full" else chunk,
            "seconds": round(time.perf_counter() - started, 2), "peak_above_tables_mib": round(peak_rss_mib() - before)}


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=64)
    parser.add_argument("--chunk", type=int, default=32768)
    parser.add_argument("--train", action="store_true", help="training steps instead of scoring")
    args = parser.parse_args(argv)
    print(f"users x items: {args.users} x {args.items:,} float32 = {args.users * args.items * 4 / 2 ** 20:,.0f} MiB")
    for mode in TRAINING_MODES if args.train else SCORING_MODES:  # each in a child process of its own
        options = {"mode": mode, "items": args.items, "users": args.users, "chunk": args.chunk}
        result = harness.run_once(RunSpec(mode, task="benchmarks.large_catalogue:measure", options=options))
        print(json.dumps({k: v for k, v in result.items() if k not in harness.MEASURED or k == "peak_rss_mib"}))


if __name__ == "__main__":
    main()
