"""Speed benchmark: LLMRec's LM-in-the-loop path (the sentence encoder) against its physical limit.

    python -m benchmarks.llmrec_speed --output perf.json            # full (< 10 min, 2-core CPU)
    python -m benchmarks.llmrec_speed --quick --output perf.json    # seconds: tiny data + tiny LM
    python -m benchmarks.llmrec_speed --parts train --length_bucketing=False

Built as a training run is (:func:`recbole_llmrec.runs.pipeline.build`). Training: real steps timed
while a hook records every token batch fed to ``encoder.backbone``; the bare backbone then runs forward +
backward on exactly those batches (ratio = bare time / LLMRec time); padding = real / padded tokens.
Evaluation: RecBole's full-sort evaluation vs the bare backbone encoding every item and user once.
Scaling: evaluation vs #items, training step vs ``max_history`` and ``max_title_tokens``.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from statistics import fmean
from typing import Any, Callable, Dict, Iterator, List, Optional

import torch

from experiments import common
from recbole_llmrec.data.sequences import build_history_batch, build_item_batch
from recbole_llmrec.model.text.precision import autocast_context, cpu_supports_bf16
from recbole_llmrec.runs import pipeline
from recbole_llmrec.utils.atomic import write_json_atomic
from recbole_llmrec.utils.machine import cpu_kind
from recbole_llmrec.utils.resources import properties_dir
from recbole_llmrec.utils.tiny_lm import build_tiny_lm, words_of

#: --quick: the repository's tiny dataset (test data) and a tiny random LM, small batches.
TINY_DATA = common.REPO / "tests" / "data" / "atomic"
TINY_DATASET = "tiny_mixed"
QUICK_SETTINGS: Dict[str, Any] = {
    "load_col": {"inter": ["user_id", "item_id", "timestamp"], "item": ["item_id", "title", "domain"]},
    "device": "cpu", "max_history": 10, "num_negatives": 3, "train_batch_size": 8, "eval_batch_size": 8,
    "item_encode_batch_size": 128, "learning_rate": 1e-2}
#: ratio: (the part measuring it, comparison, target)
THRESHOLDS = {"train_vs_backbone": ("train", ">=", 0.8), "padding_efficiency": ("train", ">=", 0.9),
              "eval_vs_bound": ("eval", "<=", 1.2)}
#: the config entries the result keeps
CONFIG_KEYS = ("dataset", "llm_path", "train_batch_size", "eval_batch_size", "max_history", "max_title_tokens",
               "num_negatives", "negative_sampling", "autocast_dtype", "length_bucketing", "pack_min_efficiency")
Batches = List[Dict[str, torch.Tensor]]


# ------------------------------------------------------------------------------------------ setup
def build(args: argparse.Namespace) -> pipeline.Pipeline:
    """Config, data, model and trainer for the benchmark (amazon_mixed + MiniLM, or tiny for --quick)."""
    # RecBole must keep 10 items of history, or the max_history=10 scaling point is capped
    # at the default 5 (the model itself reads only the last max_history items).
    overrides: Dict[str, Any] = {"show_progress": False, "state": "ERROR", "seed": args.seed,
                                 "checkpoint_dir": tempfile.mkdtemp(prefix="llmrec-perf-"), "MAX_ITEM_LIST_LENGTH": 10}
    if args.quick:
        items = TINY_DATA / TINY_DATASET / f"{TINY_DATASET}.item"
        lm = build_tiny_lm("bert", Path(tempfile.mkdtemp(prefix="llmrec-perf-lm-")) / "bert",
                           words_of(items.read_text(encoding="utf-8")))
        overrides.update(QUICK_SETTINGS, data_path=str(TINY_DATA), llm_path=str(lm))
    # The LM-in-the-loop user encoder (the paper's sentence encoder): the default sequence encoder runs
    # the LM once per catalogue, so its training is not bound by the backbone (see docs/RESULTS.md).
    files = [str(properties_dir() / "model" / "LLMRec-sentence.yaml")]
    return pipeline.build("LLMRec", TINY_DATASET if args.quick else "amazon_mixed", files,
                          dict(overrides, **args.overrides), init_logging=False)


@contextmanager
def recording(backbone: torch.nn.Module) -> Iterator[Batches]:
    """The tensor kwargs of every call of ``backbone`` inside the block (its token batches)."""
    calls: Batches = []
    handle = backbone.register_forward_pre_hook(
        lambda _module, _args, kwargs: calls.append({k: v for k, v in kwargs.items() if torch.is_tensor(v)}),
        with_kwargs=True)
    try:
        yield calls
    finally:
        handle.remove()


_T0 = time.perf_counter()


def log(msg: str) -> None:
    """Progress on stderr (elapsed seconds, load average)."""
    print(f"[{time.perf_counter() - _T0:7.1f}s load {os.getloadavg()[0]:.2f}] {msg}", file=sys.stderr, flush=True)


def _time(fn: Callable[[], Any], device: torch.device) -> float:
    """Seconds of ``fn()``, its CUDA work included."""
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    sync()
    t0 = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - t0


# ------------------------------------------------------------------------------------------ training
def train_steps(built: pipeline.Pipeline, steps: int, warmup: int, bare: bool = False) -> Dict[str, Any]:
    """Time ``steps`` real training steps (after ``warmup``): their seconds, examples and the LM batches they fed
    the backbone (calls, real and padded tokens, distinct shapes).

    With ``bare``, each step is followed by the bare backbone on the batches it recorded (interleaved, so
    both see the same machine load)."""
    model, trainer = built.model, built.trainer
    device = model.text.device
    model.train()
    loader = itertools.chain.from_iterable(trainer._epoch_train_data(built.train_data, epoch)
                                           for epoch in itertools.count())
    times, bare_times, timed_calls, examples = [], [], [], 0
    for i, batch in zip(range(warmup + steps), loader):
        def step() -> None:
            trainer.optimizer.zero_grad()
            model.calculate_loss(batch.to(device)).backward()
            trainer.optimizer.step()

        with recording(model.text.lm.backbone) as calls:
            elapsed = _time(step, device)
        bare_s = bare_step(model, calls) if bare else 0.0
        if i >= warmup:
            times.append(elapsed)
            bare_times.append(bare_s)
            log(f"train step {i - warmup + 1}/{steps}: {elapsed:.2f} s (bare backbone {bare_s:.2f} s), "
                f"{len(batch)} examples")
            examples += len(batch)
            timed_calls += calls
    masks = [c["attention_mask"] for c in timed_calls]
    return {"times": times, "bare_times": bare_times, "examples": examples, "lm_calls": len(timed_calls),
            "real_tokens": sum(int(m.sum()) for m in masks), "padded_tokens": sum(m.numel() for m in masks),
            "distinct_shapes": len({tuple(c["input_ids"].shape) for c in timed_calls})}


def bare_step(model: Any, calls: Batches) -> float:
    """Seconds of the bare ``encoder.backbone`` forward + backward on one step's batches (one backward)."""
    enc = model.text.lm

    def run() -> None:
        with autocast_context(model.text.device, enc.autocast_dtype):
            total = sum(enc.backbone(**kwargs).last_hidden_state[:, 0].float().sum() for kwargs in calls)
        if torch.is_tensor(total) and total.requires_grad:
            total.backward()

    elapsed = _time(run, model.text.device)
    model.zero_grad(set_to_none=True)
    return elapsed


def measure_training(built: pipeline.Pipeline, steps: int, warmup: int) -> Dict[str, Any]:
    run = train_steps(built, steps, warmup, bare=True)
    examples, real, padded = run["examples"], run["real_tokens"], run["padded_tokens"]
    llm_s, bare_s = sum(run["times"]), sum(run["bare_times"])
    return {"steps": steps, "examples": examples, "lm_calls_per_step": run["lm_calls"] / max(steps, 1),
            "distinct_shapes": run["distinct_shapes"], "real_tokens": real, "padded_tokens": padded,
            "padding_efficiency": real / max(padded, 1), "llmrec_s": llm_s, "bare_s": bare_s,
            "llmrec_examples_per_s": examples / llm_s, "llmrec_real_tokens_per_s": real / llm_s,
            "bare_examples_per_s": examples / bare_s, "bare_real_tokens_per_s": real / bare_s,
            "train_vs_backbone": bare_s / llm_s}


# ------------------------------------------------------------------------------------------ evaluation
def _eval_batches(test_data: Any, max_users: Optional[int]) -> List[Any]:
    batches = []
    for batch in test_data:
        batches.append(batch)
        if max_users is not None and sum(len(b[0]) for b in batches) >= max_users:
            break
    return batches


def _bare_encode(model: Any, input_ids: torch.Tensor, mask: torch.Tensor, batch: int) -> None:
    """Bare backbone over rows sorted by length, ``batch`` rows per call, each trimmed to its longest row."""
    enc = model.text.lm
    order = torch.argsort(mask.sum(1), stable=True)
    with autocast_context(model.text.device, enc.autocast_dtype):
        for begin in range(0, order.numel(), batch):
            rows = order[begin: begin + batch]
            cols = mask[rows].any(0).nonzero().flatten()
            lo, hi = int(cols[0]), int(cols[-1]) + 1
            kwargs = {"input_ids": input_ids[rows, lo:hi], "attention_mask": mask[rows, lo:hi]}
            if enc._pass_positions:
                kwargs["position_ids"] = (kwargs["attention_mask"].cumsum(1) - 1).clamp(min=0)
            enc.backbone(**kwargs)


def measure_eval(built: pipeline.Pipeline, max_users: Optional[int]) -> Dict[str, Any]:
    """Full-sort evaluation time (RecBole's ``Trainer._full_sort_batch_eval`` per batch, plus the top-k the
    collector takes) vs the encode-once bound (the bare backbone encoding each item and each user once),
    optionally on the first users only."""
    model, trainer = built.model, built.trainer
    text, enc, settings = model.text, model.text.lm, model.settings
    batches = _eval_batches(built.test_data, max_users)
    n_items = trainer.tot_item_num = model.n_items
    model.eval()

    def one_pass() -> None:
        model.items.invalidate()
        with torch.no_grad():
            for batch in batches:
                _, scores, _, _ = trainer._full_sort_batch_eval(batch)
                torch.topk(scores, min(20, n_items - 1), dim=-1)  # RecBole's collector does this

    # The first pass meets every batch shape for the first time (one-off kernel setup, e.g. oneDNN bf16
    # on CPU); later validations repeat the same shapes. The ratio uses the second (steady) pass.
    eval_cold_s = _time(one_pass, text.device)
    log(f"evaluation, first pass: {eval_cold_s:.2f} s")
    eval_s = _time(one_pass, text.device)
    model.items.invalidate()
    items = torch.arange(1, n_items, device=text.device)
    item_inputs = build_item_batch(items, text.title_ids, text.title_offsets, enc.special)
    seq, seq_len = (torch.cat([b[0][f] for b in batches]).to(text.device) for f in (model.ITEM_SEQ, model.ITEM_SEQ_LEN))
    user_inputs = build_history_batch(seq, seq_len, text.title_ids, text.title_offsets, settings.users.max_history,
                                      enc.special)
    with torch.inference_mode():
        items_s = _time(lambda: _bare_encode(model, *item_inputs, settings.lm.item_encode_batch_size), text.device)
        users_s = _time(lambda: _bare_encode(model, *user_inputs, int(built.config["eval_batch_size"])), text.device)
    bound_s = items_s + users_s
    return {"items_s": items_s, "users_s": users_s, "bound_s": bound_s, "users": int(seq.shape[0]),
            "items": int(items.numel()), "eval_s": eval_s, "eval_cold_s": eval_cold_s,
            "eval_vs_bound": eval_s / bound_s, "eval_cold_vs_bound": eval_cold_s / bound_s}


# ------------------------------------------------------------------------------------------ scaling
def _item_table_time(model: Any, n: int, seed: int) -> float:
    """Seconds to encode ``n`` random items the way ``item_table`` does (length-sorted chunks, no grad)."""
    g = torch.Generator().manual_seed(seed)
    ids = (torch.randperm(model.n_items - 1, generator=g)[:n] + 1).to(model.text.device)
    ids = ids[torch.argsort(model.text.title_offsets[ids + 1] - model.text.title_offsets[ids], stable=True)]
    step = model.settings.lm.item_encode_batch_size

    def run() -> None:
        with torch.no_grad():
            for b in range(0, ids.numel(), step):
                model.items.vectors(ids[b: b + step])

    model.eval()
    return _time(run, model.text.device)


def _user_time(model: Any, batches: List[Any]) -> float:
    def run() -> None:
        with torch.no_grad():
            for batch in batches:
                inter = batch[0].to(model.text.device)
                model.encode_users(inter[model.ITEM_SEQ], inter[model.ITEM_SEQ_LEN])

    model.eval()
    return _time(run, model.text.device)


def measure_scaling(built: pipeline.Pipeline, sizes: Dict[str, List[int]], steps: int, users: int) -> Dict[str, Any]:
    """Evaluation's item table vs #items; a training step and evaluation vs ``max_history`` (users' encoding)
    and ``max_title_tokens`` (the item table)."""
    model, seed = built.model, int(built.config["seed"])
    batches = _eval_batches(built.test_data, users)
    n_users, n_max = sum(len(b[0]) for b in batches), model.n_items - 1
    n_items = min(sizes["items"][0], n_max)
    _item_table_time(model, min(64, n_max), seed)  # warm-up
    out: Dict[str, Any] = {"items": [
        {"n_items": min(n, n_max), "eval_items_s": _item_table_time(model, min(n, n_max), seed),
         "train_step_s": fmean(train_steps(built, steps, 0)["times"])} for n in sizes["items"]]}
    users_settings, lm_settings = model.settings.users, model.settings.lm
    base = users_settings.max_history, lm_settings.max_title_tokens
    points = (("max_history", users_settings, lambda: {"eval_users_s": _user_time(model, batches), "users": n_users}),
              ("max_title_tokens", lm_settings,
               lambda: {"eval_items_s": _item_table_time(model, n_items, seed), "n_items": n_items}))
    for key, settings, evaluate in points:
        out[key] = []
        for value in sizes[key]:
            setattr(settings, key, value)
            if key == "max_title_tokens":
                model.attach_dataset(built.train_data._dataset)  # titles tokenized again
            run = train_steps(built, steps, 0)
            out[key].append({key: value, "train_step_s": fmean(run["times"]),
                             "real_tokens_per_step": run["real_tokens"] / steps, **evaluate()})
        users_settings.max_history, lm_settings.max_title_tokens = base
    model.attach_dataset(built.train_data._dataset)
    return out


# ------------------------------------------------------------------------------------------ report
def report(result: Dict[str, Any]) -> str:
    """The printed summary: throughputs, evaluation, scaling and the ratios against their targets."""
    m = result["machine"]
    lines = [f"machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['torch_threads']} threads), "
             f"load average {m['loadavg']} at start / {result['loadavg_end']} at end", f"config: {result['config']}"]
    if "train" in result:
        t = result["train"]
        rows = [{f"training ({t['steps']} steps)": name, "examples/s": t[f"{key}_examples_per_s"],
                 "real tokens/s": t[f"{key}_real_tokens_per_s"], "seconds": t[f"{key}_s"]}
                for name, key in (("LLMRec (loader+loss+backward+AdamW)", "llmrec"),
                                  ("bare backbone fwd+bwd, same batches", "bare"))]
        lines += ["", common.md_table(rows, list(rows[0]))]
    if "eval" in result:
        e = result["eval"]
        lines += ["", f"evaluation of {e['users']} users x {e['items']} items: full sort {e['eval_s']:.2f} s "
                  f"(first pass {e['eval_cold_s']:.2f} s), encoding each once {e['items_s']:.2f} s items "
                  f"+ {e['users_s']:.2f} s users",
                  f"eval users/s: {e['users'] / e['eval_s']:.1f} (item table included)"]
    for key, rows in result.get("scaling", {}).items():
        lines += ["", f"scaling with {key}:", common.md_table(rows, list(rows[0]))]
    lines.append("")
    for name, value in result["ratios"].items():
        _, op, limit = THRESHOLDS[name]
        met = value is not None and (value >= limit if op == ">=" else value <= limit)
        verdict = "" if value is None else "  ok" if met else "  MISSED"
        lines.append(f"ratio {name} = {'n/a' if value is None else f'{value:.3f}'} (target {op} {limit}){verdict}")
    return "\n".join(lines + [f"total wall time {result['wall_s']:.1f} s"])


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    p.add_argument("--quick", action="store_true", help="tiny dataset + tiny random LM (seconds; for tests)")
    p.add_argument("--output", help="write the result JSON here")
    p.add_argument("--parts", default="train,eval,scaling", help="comma list of train, eval, scaling")
    p.add_argument("--train_steps", type=int, default=None, help="timed training steps (default 8; quick 3)")
    p.add_argument("--seed", type=int, default=2020)
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = common.parse_args(p, argv)  # any other --key=value: a config entry (args.overrides)
    if args.threads or args.quick:
        torch.set_num_threads(args.threads or 1)  # a tiny LM runs best on one thread
    parts = {x.strip() for x in args.parts.split(",")}
    result: Dict[str, Any] = {"machine": dict(cpu_kind(), torch_threads=torch.get_num_threads(),
                                              loadavg=os.getloadavg(), cpu_bf16=cpu_supports_bf16()),
                              "quick": args.quick}
    t_start = time.perf_counter()
    built = build(args)
    log("data and model built")
    result["config"] = {k: built.config[k] for k in CONFIG_KEYS}
    if "train" in parts:
        result["train"] = measure_training(built, args.train_steps or (3 if args.quick else 8), warmup=1)
        log(f"training measured: ratio {result['train']['train_vs_backbone']:.3f}")
    if "eval" in parts:
        result["eval"] = measure_eval(built, None if args.quick else 1024)  # the first 1024 test users
        log(f"evaluation measured: ratio {result['eval']['eval_vs_bound']:.3f}")
    if "scaling" in parts:
        sizes = {"items": [100, 200, 400] if args.quick else [2000, 4000, 8000], "max_history": [2, 5, 10],
                 "max_title_tokens": [8, 16, 24]}
        result["scaling"] = measure_scaling(built, sizes, 2, 16 if args.quick else 256)
    dtype = built.model.text.lm.autocast_dtype
    result["config"]["autocast_resolved"] = str(dtype).replace("torch.", "") if dtype else "fp32"
    result["ratios"] = {name: result[part][name] if part in result else None
                        for name, (part, _, _) in THRESHOLDS.items()}
    result["wall_s"] = time.perf_counter() - t_start
    result["loadavg_end"] = os.getloadavg()
    print(report(result))
    if args.output:
        write_json_atomic(json.loads(json.dumps(result, default=str)), args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
