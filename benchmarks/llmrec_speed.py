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
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from statistics import fmean
from typing import Any, Callable, Dict, List, Optional

import torch

from recbole_llmrec.config.overrides import parse_config_overrides
from recbole_llmrec.data.sequences import build_history_batch, build_item_batch
from recbole_llmrec.model.text.precision import autocast_context, cpu_supports_bf16
from recbole_llmrec.runs.pipeline import build as build_pipeline
from recbole_llmrec.utils.atomic import write_json_atomic
from recbole_llmrec.utils.cli_spellings import modernize
from recbole_llmrec.utils.machine import cpu_kind
from recbole_llmrec.utils.resources import properties_dir
from recbole_llmrec.utils.tiny_lm import build_tiny_lm, words_of

REPO = Path(__file__).resolve().parents[1]
#: --quick: the repository's tiny dataset (test data) and a tiny random LM.
TINY_DATA = REPO / "tests" / "data" / "atomic"
TINY_DATASET = "tiny_mixed"
QUICK_SETTINGS: Dict[str, Any] = {
    "load_col": {"inter": ["user_id", "item_id", "timestamp"], "item": ["item_id", "title", "domain"]},
    "train_neg_sample_args": None, "device": "cpu",
    "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "mode": "full"},
    "autocast_dtype": "auto", "max_title_tokens": 24, "max_history": 10, "MAX_ITEM_LIST_LENGTH": 10,
    "num_negatives": 3, "train_batch_size": 8, "eval_batch_size": 8, "item_encode_batch_size": 128,
    "learning_rate": 1e-2,
    # the path this benchmark measures: the LM reads every training example's sentence
    "user_encoder": "sentence", "tuning": "full",
}
THRESHOLDS = {"train_vs_backbone": (">=", 0.8), "padding_efficiency": (">=", 0.9), "eval_vs_bound": ("<=", 1.2)}


# ------------------------------------------------------------------------------------------ setup
def build(args: argparse.Namespace) -> Dict[str, Any]:
    """Config, data, model and trainer for the benchmark (amazon_mixed + MiniLM, or tiny for --quick)."""
    overrides: Dict[str, Any] = {"show_progress": False, "state": "ERROR", "seed": args.seed,
                                 "checkpoint_dir": tempfile.mkdtemp(prefix="llmrec-perf-")}
    dataset_name = "amazon_mixed"
    # The LM-in-the-loop user encoder (the paper's sentence encoder): the default sequence encoder runs
    # the LM once per catalogue, so its training is not bound by the backbone (see docs/RESULTS.md).
    files: List[str] = [str(properties_dir() / "model" / "LLMRec-sentence.yaml")]
    if args.quick:
        items = TINY_DATA / TINY_DATASET / f"{TINY_DATASET}.item"
        lm = build_tiny_lm("bert", Path(tempfile.mkdtemp(prefix="llmrec-perf-lm-")) / "bert",
                           words_of(items.read_text(encoding="utf-8")))
        overrides.update(QUICK_SETTINGS, data_path=str(TINY_DATA), llm_path=str(lm))
        dataset_name = TINY_DATASET
    else:
        # RecBole must keep 10 items of history, or the max_history=10 scaling point is capped
        # at the default 5 (the model itself reads only the last max_history items).
        overrides["MAX_ITEM_LIST_LENGTH"] = 10
    overrides.update(args.set or {})
    built = build_pipeline("LLMRec", dataset_name, files, overrides, init_logging=False)
    return {"config": built.config, "train": built.train_data, "test": built.test_data, "model": built.model,
            "trainer": built.trainer}


class BackboneRecorder:
    """Forward pre-hook on ``encoder.backbone`` recording the kwargs of every call (the token batches)."""

    def __init__(self, backbone: torch.nn.Module) -> None:
        self.calls: List[Dict[str, torch.Tensor]] = []
        self.active = False
        self._handle = backbone.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, module: Any, args: Any, kwargs: Dict[str, Any]) -> None:
        if self.active:
            self.calls.append({k: v for k, v in kwargs.items() if isinstance(v, torch.Tensor)})

    def take(self) -> List[Dict[str, torch.Tensor]]:
        calls, self.calls = self.calls, []
        return calls

    def close(self) -> None:
        self._handle.remove()


_T0 = time.perf_counter()


def log(msg: str) -> None:
    """Progress on stderr (elapsed seconds, load average)."""
    print(f"[{time.perf_counter() - _T0:7.1f}s load {os.getloadavg()[0]:.2f}] {msg}", file=sys.stderr, flush=True)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _tokens(calls: List[Dict[str, torch.Tensor]]) -> tuple[int, int]:
    real = sum(int(c["attention_mask"].sum()) for c in calls)
    padded = sum(int(c["attention_mask"].numel()) for c in calls)
    return real, padded


# ------------------------------------------------------------------------------------------ training
def train_steps(parts: Dict[str, Any], steps: int, warmup: int, record: bool = True,
                bare: bool = False) -> Dict[str, Any]:
    """Time ``steps`` real training steps (after ``warmup``); returns times and the recorded LM batches.

    With ``bare``, each step is followed by the bare backbone on the batches it recorded (interleaved, so
    both see the same machine load)."""
    model, trainer = parts["model"], parts["trainer"]
    device = model.text.device
    model.train()
    loader = trainer._epoch_train_data(parts["train"], 0)
    recorder = BackboneRecorder(model.text.lm.backbone)
    step_calls: List[List[Dict[str, torch.Tensor]]] = []
    times: List[float] = []
    bare_times: List[float] = []
    examples = 0
    it = iter(loader)
    try:
        for i in range(warmup + steps):
            try:
                batch = next(it)
            except StopIteration:
                it = iter(trainer._epoch_train_data(parts["train"], i + 1))
                batch = next(it)
            recorder.active = record and (i >= warmup or bare)

            def step() -> None:
                trainer.optimizer.zero_grad()
                model.calculate_loss(batch.to(device)).backward()
                trainer.optimizer.step()

            elapsed = _time(step, device)
            calls = recorder.take()
            recorder.active = False
            bare_s = bare_step(model, calls) if bare else 0.0
            if i >= warmup:
                times.append(elapsed)
                bare_times.append(bare_s)
                log(f"train step {i - warmup + 1}/{steps}: {elapsed:.2f} s (bare backbone {bare_s:.2f} s), "
                    f"{len(batch)} examples")
                examples += len(batch)
                step_calls.append(calls)
    finally:
        recorder.close()
    return {"times": times, "bare_times": bare_times, "examples": examples, "calls": step_calls}


def bare_step(model: Any, calls: List[Dict[str, torch.Tensor]]) -> float:
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


def measure_training(parts: Dict[str, Any], steps: int, warmup: int) -> Dict[str, Any]:
    run = train_steps(parts, steps, warmup, bare=True)
    bare = run["bare_times"]
    flat = [c for calls in run["calls"] for c in calls]
    real, padded = _tokens(flat)
    shapes = {tuple(c["input_ids"].shape) for c in flat}
    llm_s, bare_s = sum(run["times"]), sum(bare)
    return {"steps": steps, "examples": run["examples"], "lm_calls_per_step": len(flat) / max(steps, 1),
            "distinct_shapes": len(shapes), "real_tokens": real, "padded_tokens": padded,
            "padding_efficiency": real / max(padded, 1), "llmrec_s": llm_s, "bare_s": bare_s,
            "llmrec_examples_per_s": run["examples"] / llm_s, "llmrec_real_tokens_per_s": real / llm_s,
            "bare_examples_per_s": run["examples"] / bare_s, "bare_real_tokens_per_s": real / bare_s,
            "train_vs_backbone": bare_s / llm_s}


# ------------------------------------------------------------------------------------------ evaluation
def _eval_batches(test_data: Any, max_users: Optional[int]) -> List[Any]:
    batches, users = [], 0
    for batch in test_data:
        batches.append(batch)
        users += len(batch[0])
        if max_users is not None and users >= max_users:
            break
    return batches


def _bare_encode(model: Any, input_ids: torch.Tensor, mask: torch.Tensor, batch: int) -> None:
    """Bare backbone over rows sorted by length, ``batch`` rows per call, each trimmed to its longest row."""
    enc = model.text.lm
    device = model.text.device
    lengths = mask.sum(1)
    order = torch.argsort(lengths, stable=True)
    with autocast_context(device, enc.autocast_dtype):
        for begin in range(0, order.numel(), batch):
            rows = order[begin: begin + batch]
            m = mask[rows]
            cols = m.any(0).nonzero().flatten()
            lo, hi = int(cols[0]), int(cols[-1]) + 1
            kwargs = {"input_ids": input_ids[rows, lo:hi], "attention_mask": m[:, lo:hi]}
            if enc._pass_positions:
                kwargs["position_ids"] = (kwargs["attention_mask"].cumsum(1) - 1).clamp(min=0)
            enc.backbone(**kwargs)


def encode_once_bound(model: Any, batches: List[Any], user_batch: int, n_items: int) -> Dict[str, float]:
    """Seconds to encode each item once and each user of ``batches`` once with the bare backbone."""
    s, enc = model.settings, model.text.lm
    device = model.text.device
    item_ids = torch.arange(1, n_items, device=device)
    item_inputs = build_item_batch(item_ids, model.text.title_ids, model.text.title_offsets, enc.special)
    seq = torch.cat([b[0][model.ITEM_SEQ] for b in batches]).to(device)
    seq_len = torch.cat([b[0][model.ITEM_SEQ_LEN] for b in batches]).to(device)
    user_inputs = build_history_batch(seq, seq_len, model.text.title_ids, model.text.title_offsets, s.users.max_history,
                                      enc.special)
    model.eval()
    with torch.inference_mode():
        items_s = _time(lambda: _bare_encode(model, *item_inputs, s.lm.item_encode_batch_size), device)
        users_s = _time(lambda: _bare_encode(model, *user_inputs, user_batch), device)
    return {"items_s": items_s, "users_s": users_s, "bound_s": items_s + users_s, "users": int(seq.shape[0]),
            "items": int(item_ids.numel())}


def measure_eval(parts: Dict[str, Any], max_users: Optional[int]) -> Dict[str, Any]:
    """Full-sort evaluation time (RecBole's ``Trainer._full_sort_batch_eval`` per batch, plus the top-k the
    collector takes) vs the encode-once bound, optionally on the first users only."""
    model, trainer = parts["model"], parts["trainer"]
    batches = _eval_batches(parts["test"], max_users)
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
    eval_cold_s = _time(one_pass, model.text.device)
    log(f"evaluation, first pass: {eval_cold_s:.2f} s")
    eval_s = _time(one_pass, model.text.device)
    model.items.invalidate()
    bound = encode_once_bound(model, batches, int(parts["config"]["eval_batch_size"]), n_items)
    return {**bound, "eval_s": eval_s, "eval_cold_s": eval_cold_s, "eval_vs_bound": eval_s / bound["bound_s"],
            "eval_cold_vs_bound": eval_cold_s / bound["bound_s"]}


# ------------------------------------------------------------------------------------------ scaling
def _time(fn: Callable[[], Any], device: torch.device) -> float:
    _sync(device)
    t0 = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - t0


def _item_table_time(model: Any, n: int, seed: int) -> float:
    """Seconds to encode ``n`` random items the way ``item_table`` does (length-sorted chunks, no grad)."""
    device = model.text.device
    g = torch.Generator().manual_seed(seed)
    ids = (torch.randperm(model.n_items - 1, generator=g)[:n] + 1).to(device)
    lengths = (model.text.title_offsets[ids + 1] - model.text.title_offsets[ids])
    ids = ids[torch.argsort(lengths, stable=True)]
    step = model.settings.lm.item_encode_batch_size

    def run() -> None:
        with torch.no_grad():
            for b in range(0, ids.numel(), step):
                model.items.vectors(ids[b: b + step])

    model.eval()
    return _time(run, device)


def _user_time(model: Any, batches: List[Any]) -> float:
    device = model.text.device

    def run() -> None:
        with torch.no_grad():
            for batch in batches:
                inter = batch[0].to(device)
                model.encode_users(inter[model.ITEM_SEQ], inter[model.ITEM_SEQ_LEN])

    model.eval()
    return _time(run, device)


def measure_scaling(parts: Dict[str, Any], sizes: Dict[str, List[int]], steps: int, users: int) -> Dict[str, Any]:
    model, config = parts["model"], parts["config"]
    users_settings, lm_settings = model.settings.users, model.settings.lm
    seed = int(config["seed"])
    batches = _eval_batches(parts["test"], users)
    out: Dict[str, Any] = {"items": [], "max_history": [], "max_title_tokens": []}
    n_max = model.n_items - 1
    _item_table_time(model, min(64, n_max), seed)  # warm-up
    for n in sizes["items"]:
        n = min(n, n_max)
        out["items"].append({"n_items": n, "eval_items_s": _item_table_time(model, n, seed),
                             "train_step_s": fmean(train_steps(parts, steps, 0, record=False)["times"])})
    base_h, base_t = users_settings.max_history, lm_settings.max_title_tokens
    try:
        for h in sizes["max_history"]:
            users_settings.max_history = h
            run = train_steps(parts, steps, 0)
            real, _ = _tokens([c for calls in run["calls"] for c in calls])
            out["max_history"].append({"max_history": h, "train_step_s": fmean(run["times"]),
                                       "real_tokens_per_step": real / steps,
                                       "eval_users_s": _user_time(model, batches),
                                       "users": sum(len(b[0]) for b in batches)})
        users_settings.max_history = base_h
        n_items = min(sizes["items"][0], n_max)
        for t in sizes["max_title_tokens"]:
            lm_settings.max_title_tokens = t
            model.attach_dataset(parts["train"]._dataset)
            run = train_steps(parts, steps, 0)
            real, _ = _tokens([c for calls in run["calls"] for c in calls])
            out["max_title_tokens"].append({"max_title_tokens": t, "train_step_s": fmean(run["times"]),
                                            "real_tokens_per_step": real / steps,
                                            "eval_items_s": _item_table_time(model, n_items, seed),
                                            "n_items": n_items})
    finally:
        users_settings.max_history, lm_settings.max_title_tokens = base_h, base_t
        model.attach_dataset(parts["train"]._dataset)
    return out


# ------------------------------------------------------------------------------------------ report
def machine() -> Dict[str, Any]:
    """The CPU kind (``recbole_llmrec.utils.machine``), torch's threads and the load."""
    return dict(cpu_kind(), torch_threads=torch.get_num_threads(), loadavg=os.getloadavg(),
                cpu_bf16=cpu_supports_bf16())


def report(result: Dict[str, Any]) -> str:
    m = result["machine"]
    lines = [f"machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['torch_threads']} threads), "
             f"load average {m['loadavg']} at start / {result.get('loadavg_end')} at end",
             f"config: {result['config']}"]
    t = result.get("train")
    if t:
        lines += ["", f"| training ({t['steps']} steps) | examples/s | real tokens/s | seconds |",
                  "|---|---:|---:|---:|",
                  f"| LLMRec (loader+loss+backward+AdamW) | {t['llmrec_examples_per_s']:.2f} | "
                  f"{t['llmrec_real_tokens_per_s']:.0f} | {t['llmrec_s']:.2f} |",
                  f"| bare backbone fwd+bwd, same batches | {t['bare_examples_per_s']:.2f} | "
                  f"{t['bare_real_tokens_per_s']:.0f} | {t['bare_s']:.2f} |",
                  f"padding: {t['real_tokens']} real / {t['padded_tokens']} padded tokens "
                  f"({t['lm_calls_per_step']:.1f} LM calls per step, {t['distinct_shapes']} distinct shapes)"]
    e = result.get("eval")
    if e:
        lines += ["", f"| evaluation ({e['users']} users x {e['items']} items) | seconds |", "|---|---:|",
                  f"| full-sort evaluation (item table + users + scoring + top-k) | {e['eval_s']:.2f} |",
                  f"| same, first pass (new batch shapes) | {e['eval_cold_s']:.2f} |",
                  f"| encode-once bound: items | {e['items_s']:.2f} |",
                  f"| encode-once bound: users | {e['users_s']:.2f} |",
                  f"eval users/s: {e['users'] / e['eval_s']:.1f} (item table included)"]
    sc = result.get("scaling")
    if sc:
        lines += ["", "| scaling | value | train step (s) | eval encode (s) |", "|---|---:|---:|---:|"]
        for row in sc["items"]:
            lines.append(f"| items (eval: item table) | {row['n_items']} | {row['train_step_s']:.3f} | "
                         f"{row['eval_items_s']:.3f} |")
        for row in sc["max_history"]:
            lines.append(f"| max_history (eval: {row['users']} users) | {row['max_history']} | "
                         f"{row['train_step_s']:.3f} | {row['eval_users_s']:.3f} |")
        for row in sc["max_title_tokens"]:
            lines.append(f"| max_title_tokens (eval: {row['n_items']} items) | {row['max_title_tokens']} | "
                         f"{row['train_step_s']:.3f} | {row['eval_items_s']:.3f} |")
    lines.append("")
    for name, value in result["ratios"].items():
        op, limit = THRESHOLDS[name]
        shown = "n/a" if value is None else f"{value:.3f}"
        ok = "" if value is None else ("  ok" if (value >= limit if op == ">=" else value <= limit) else "  MISSED")
        lines.append(f"ratio {name} = {shown} (target {op} {limit}){ok}")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    p.add_argument("--quick", action="store_true", help="tiny dataset + tiny random LM (seconds; for tests)")
    p.add_argument("--output", help="write the result JSON here")
    p.add_argument("--parts", default="train,eval,scaling", help="comma list of train, eval, scaling")
    p.add_argument("--train_steps", type=int, default=None, help="timed training steps (default 8; quick 3)")
    p.add_argument("--seed", type=int, default=2020)
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args, rest = p.parse_known_args(modernize(sys.argv[1:] if argv is None else argv))
    args.set = parse_config_overrides(rest)  # any other --key=value: a config entry
    if args.threads or args.quick:
        torch.set_num_threads(args.threads or 1)  # a tiny LM runs best on one thread
    parts_wanted = {x.strip() for x in args.parts.split(",") if x.strip()}
    steps = args.train_steps or (3 if args.quick else 8)
    sizes = {"items": [100, 200, 400] if args.quick else [2000, 4000, 8000], "max_history": [2, 5, 10],
             "max_title_tokens": [8, 16, 24]}

    result: Dict[str, Any] = {"machine": machine(), "quick": args.quick}
    t_start = time.perf_counter()
    parts = build(args)
    log("data and model built")
    cfg = parts["config"]
    result["config"] = {k: cfg[k] for k in ("dataset", "llm_path", "train_batch_size", "eval_batch_size",
                                            "max_history", "max_title_tokens", "num_negatives",
                                            "negative_sampling", "autocast_dtype", "length_bucketing",
                                            "pack_min_efficiency")}
    if "train" in parts_wanted:
        result["train"] = measure_training(parts, steps, warmup=1)
        log(f"training measured: ratio {result['train']['train_vs_backbone']:.3f}")
    if "eval" in parts_wanted:
        result["eval"] = measure_eval(parts, None if args.quick else 1024)  # the first 1024 test users
        log(f"evaluation measured: ratio {result['eval']['eval_vs_bound']:.3f}")
    if "scaling" in parts_wanted:
        result["scaling"] = measure_scaling(parts, sizes, 2, 16 if args.quick else 256)
    dtype = parts["model"].text.lm.autocast_dtype
    result["config"]["autocast_resolved"] = str(dtype).replace("torch.", "") if dtype else "fp32"
    result["ratios"] = {name: result[part][name] if part in result else None for part, name in
                        (("train", "train_vs_backbone"), ("train", "padding_efficiency"), ("eval", "eval_vs_bound"))}
    result["wall_s"] = time.perf_counter() - t_start
    result["loadavg_end"] = os.getloadavg()
    print(report(result))
    print(f"total wall time {result['wall_s']:.1f} s")
    if args.output:
        write_json_atomic(json.loads(json.dumps(result, default=str)), args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
