"""The scale ladder: LLMRec's default and SASRec from the embedded 64k-interaction dataset to all four
shared Amazon domains (1.1M interactions), and a 1,000,000-title catalogue, one command.

Rungs (``--rungs``): ``amazon_mixed`` (embedded), ``beauty_toys_all`` (2014 Beauty + Toys, every user),
``four_domains`` (+ 2014 Clothing, 2018 Video Games, as ``experiments.leave_one_domain_out``), ``tiny`` (tests)
and ``million_items`` (:data:`CATALOGUE_RULE` on ``--million_base``: title encoding into a ``.npy``, a
``sampled`` and a ``full_catalogue`` training step, a full-ranking evaluation). Each measurement runs in its
own child process of :mod:`recbole_llmrec.runs.harness` (peak RSS: its ``VmHWM``): LLMRec's default, SASRec
(:data:`SASREC_REFERENCE`) to convergence and capped at LLMRec's wall time; ``--ddp``: LLMRec at the largest
rung in 2 gloo processes x 1 thread. Runs are cached in ``--output/runs`` (``--report_only`` rebuilds
``results.{md,csv,json}`` from them)::

    python -m benchmarks.scale --rungs amazon_mixed,beauty_toys_all --skip_sasrec
    python -m benchmarks.scale --rungs tiny,million_items --million_base tiny --million_titles 2000 \\
        --output /tmp/scale --data_path /tmp/scale-data            # smoke run, a few minutes
"""
from __future__ import annotations

import argparse
import hashlib
import itertools
import logging
import random
import shutil
import time
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch

from benchmarks.catalogue_encode import lm_encoder, timed_encode
from dataset_converters.recbole_files import write_item
from experiments import common
from experiments.leave_one_domain_out import DOMAINS, ORDER, convert, converter_input
from recbole_llmrec.config.plugin_config import build_config
from recbole_llmrec.model.settings import LLMRecSettings
from recbole_llmrec.runs.harness import RunSpec, peak_rss_mib
from recbole_llmrec.runs.pipeline import build
from recbole_llmrec.serving.catalogue import read_catalogue_file
from recbole_llmrec.utils import tiny_lm
from recbole_llmrec.utils.machine import cpu_kind
from recbole_llmrec.utils.plain import plain_result

REPO = common.REPO
logger = logging.getLogger("scale")

TRAIN_RUNGS = ("tiny", "amazon_mixed", "beauty_toys_all", "four_domains")  # smallest first
MILLION = "million_items"
ALL_RUNGS = TRAIN_RUNGS + (MILLION,)
DEFAULT_RUNGS = ("amazon_mixed", "beauty_toys_all", "four_domains", MILLION)
TINY_DATA = REPO / "tests" / "data" / "atomic"
RSS_LIMIT_MIB = 8 * 1024  # "8 GB" read as 8 GiB
METRICS = ("ndcg@10", "recall@10", "ndcg@20", "recall@20")
#: SASRec's reference settings (as properties/model/SASRec.yaml, stated here so the ladder fixes them).
SASREC_REFERENCE = {"loss_type": "CE", "train_neg_sample_args": None, "MAX_ITEM_LIST_LENGTH": 20,
                    "train_batch_size": 256, "learning_rate": 1e-3, "stopping_step": 10}
#: The tiny rung: small enough for a tiny random LM and a smoke test.
TINY_LLMREC = {"seq_hidden_size": 8, "seq_inner_size": 16, "seq_heads": 2, "max_title_tokens": 8,
               "max_history": 5, "MAX_ITEM_LIST_LENGTH": 5, "train_batch_size": 16, "eval_batch_size": 16,
               "item_encode_batch_size": 128, "autocast_dtype": "fp32", "epochs": 2, "stopping_step": 2}
TINY_SASREC = {"hidden_size": 8, "inner_size": 16, "n_layers": 1, "train_batch_size": 16,
               "eval_batch_size": 16, "stopping_step": 2}
#: Candidate separators of composite titles: the first that no real title contains is used.
SEPARATORS = (" | ", " || ", " // ", " ~ ", " :: ")
COMPOSITE_PREFIX = "SCALE"
CATALOGUE_RULE = (
    "titles 0 .. R-1 are the base dataset's R items with their own (real) titles, in its .item order; "
    "with U = the sorted distinct real titles (n of them), composite j = 0, 1, ... (title R + j) is "
    "U[a] + SEP + U[b] with a = j mod n, k = j div n, b = (a + 1 + k) mod n, item id SCALE<j as 7 digits>, "
    "domain Composite. While k < n - 1 (up to n(n - 1) composites) every j is another ordered pair of "
    "distinct titles; SEP is the first of ' | ', ' || ', ' // ', ' ~ ', ' :: ' that no real title contains. "
    "That no composite repeats another title or a real one is checked when the dataset is written.")
LADDER_NOTE = (
    "s_per_epoch: training only (the title encoding in LLMRec's first step is title_encode_s); valid_eval_s: "
    "a validation pass, mean over epochs; sasrec_at_llmrec_time: the most epochs of the converged SASRec run "
    "(its setup and test + the first N epochs) that fit in LLMRec's whole run, tested at their best epoch.")


# ------------------------------------------------------------------------------------ rungs
class Rung(NamedTuple):
    """A dataset of the ladder: RecBole dataset name and the folder holding it."""

    name: str
    dataset: str
    data_path: Path
    tiny: bool = False  # the tiny rung, or the million one on it: tiny settings and LM

    @property
    def folder(self) -> Path:
        return self.data_path / self.dataset



def rung_of(name: str, args: Any) -> Rung:
    """The rung ``name`` (its dataset may not be built yet): ``amazon_mixed`` is the embedded one unless
    ``--data_path`` holds it; ``million_items`` is :func:`build_million_dataset`'s."""
    data_path = Path(args.data_path)
    if name == MILLION:
        suffix = "" if args.million_base == "four_domains" else f"_{args.million_base}"
        return Rung(name, f"amazon_scale_items_{args.million_titles}{suffix}", data_path, args.million_base == "tiny")
    if name == "tiny":
        return Rung(name, "tiny_mixed", TINY_DATA, True)
    if name == "amazon_mixed":
        return Rung(name, name, data_path if (data_path / name).is_dir() else REPO / "dataset")
    return Rung(name, f"amazon_scale_{name}", data_path)


def prepare_rung(rung: Rung, args: Any) -> None:
    """Build the rung's dataset with the converter (``--streaming``) unless it exists."""
    if rung.folder.is_dir():
        return
    raw = Path(args.raw)
    if rung.name == "beauty_toys_all":
        convert(["--input", str(raw / "amazon2014"), "--domains", "Beauty", "Toys_and_Games",
                 "--output", str(rung.data_path), "--name", rung.dataset, "--streaming"])
    elif rung.name == "four_domains":
        convert([*converter_input(raw, list(ORDER)), "--domains", *(DOMAINS[key]["domain"] for key in ORDER),
                 "--output", str(rung.data_path), "--name", rung.dataset, "--streaming"])
    else:
        raise SystemExit(f"error: dataset {rung.folder} is missing")


def rung_size(rung: Rung, out: Path, key: str) -> Optional[Dict[str, int]]:
    """Users, items and interactions (the converter's ``stats.json`` ``output``, or the million dataset's
    ``scale_catalogue.json``), kept in ``out/runs/<key>-size.json`` (the report needs no dataset)."""
    path = out / "runs" / f"{key}-size.json"
    if not rung.folder.is_dir():
        return common.load_json(path) if path.exists() else None
    found = [p for p in (rung.folder / f"{rung.dataset}.stats.json", rung.folder / "scale_catalogue.json")
             if p.is_file()]
    if not found:
        raise SystemExit(f"error: {rung.folder} has no stats.json")
    info = common.load_json(found[0])
    info = info.get("output", info)  # stats.json: the converter's output counts
    size = {k: int(info[k]) for k in ("users", "items", "interactions")}
    if not path.exists() or common.load_json(path) != size:
        common.write_json(size, path)
    return size


# ------------------------------------------------------------------ the million-title catalogue
class CompositeCatalogue:
    """``total`` titles by :data:`CATALOGUE_RULE`, made on demand (as ``encode_titles_to_npy`` reads them)."""

    def __init__(self, real_titles: Sequence[str], total: int) -> None:
        self.real = list(real_titles)
        self.distinct = sorted(set(self.real))
        self.total = total
        self.separator = next((s for s in SEPARATORS if not any(s in t for t in self.distinct)), None)
        if self.separator is None:
            raise ValueError(f"every separator of {SEPARATORS} occurs in some title")
        n = len(self.distinct)
        if total < len(self.real):
            raise ValueError(f"--million_titles {total:,} is less than the base's {len(self.real):,} items")
        if total - len(self.real) > n * (n - 1):
            raise ValueError(f"{n:,} distinct titles make at most {n * (n - 1):,} composites")

    def __len__(self) -> int:
        return self.total

    def title(self, i: int) -> str:
        if i < len(self.real):
            return self.real[i]
        k, a = divmod(i - len(self.real), len(self.distinct))
        return self.distinct[a] + self.separator + self.distinct[(a + 1 + k) % len(self.distinct)]

    def __getitem__(self, s: slice) -> List[str]:
        return [self.title(i) for i in range(*s.indices(self.total))]


def catalogue_for(args: Any) -> Tuple[CompositeCatalogue, List[str], List[str]]:
    """The catalogue of ``--million_titles`` titles on the base's ``.item`` (and the base's ids, domains)."""
    base = rung_of(args.million_base, args)
    items = read_catalogue_file(base.folder / f"{base.dataset}.item")
    return CompositeCatalogue(items.titles, args.million_titles), items.item_ids, items.domains or [""] * len(items)


def build_million_dataset(rung: Rung, args: Any) -> None:
    """Write the ``million_items`` dataset unless it exists: ``.inter`` = every interaction of
    ``--million_users`` seeded users of the base; ``.item`` = :class:`CompositeCatalogue`."""
    if rung.folder.is_dir():
        return
    base = rung_of(args.million_base, args)
    prepare_rung(base, args)
    catalogue, ids, domains = catalogue_for(args)
    if any(item.startswith(COMPOSITE_PREFIX) for item in ids):
        raise ValueError(f"a base item id starts with {COMPOSITE_PREFIX!r}, the composite items' prefix")
    by_user: Dict[str, List[str]] = {}
    with open(base.folder / f"{base.dataset}.inter", encoding="utf-8") as handle:
        header = handle.readline()
        for line in handle:
            by_user.setdefault(line.split("\t", 1)[0], []).append(line)
    chosen = sorted(random.Random(args.seed).sample(sorted(by_user), min(args.million_users, len(by_user))))
    tmp = rung.data_path / f".{rung.dataset}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with open(tmp / f"{rung.dataset}.inter", "w", encoding="utf-8") as out:
        out.write(header)
        out.writelines(line for user in chosen for line in by_user[user])
    interactions = sum(len(by_user[user]) for user in chosen)
    composites = {f"{COMPOSITE_PREFIX}{j:07d}": catalogue.title(len(ids) + j)
                  for j in range(catalogue.total - len(ids))}
    if len(set(composites.values()) | set(catalogue.distinct)) < len(composites) + len(catalogue.distinct):
        raise ValueError("a composite title repeats another title")
    titles, item_domains = dict(zip(ids, catalogue.real), **composites), dict(zip(ids, domains))
    item_domains.update(dict.fromkeys(composites, "Composite"))
    write_item(tmp / f"{rung.dataset}.item", titles, item_domains)  # the converter's writer
    info = {"base": args.million_base, "base_dataset": base.dataset, "seed": args.seed,
            "users": len(chosen), "interactions": interactions, "items": catalogue.total,
            "real_items": len(ids), "real_distinct_titles": len(catalogue.distinct),
            "composite_items": catalogue.total - len(ids), "separator": catalogue.separator,
            "rule": CATALOGUE_RULE}
    common.write_json(info, tmp / "scale_catalogue.json")
    tmp.rename(rung.folder)
    logger.info("wrote %s: %d users, %d interactions", rung.folder, len(chosen), interactions)


def catalogue_rows(item_ids: Sequence[Any], base_ids: List[str]) -> Any:
    """The catalogue row (= row of the title-vector ``.npy``) of each item id: a base item's index
    among the base's items, composite ``SCALE<j>``'s ``len(base_ids) + j``."""
    row_of, cut = {item: r for r, item in enumerate(base_ids)}, len(COMPOSITE_PREFIX)
    return np.array([row_of[t] if t in row_of else len(base_ids) + int(t[cut:]) for t in map(str, item_ids)],
                    dtype=np.int64)


# ------------------------------------------------------------------------------ harness tasks
def load_pipeline_with_vectors(spec: RunSpec) -> Tuple[Any, Dict[str, float]]:
    """The million dataset's pipeline with its title vectors read from the ``.npy`` (rows in catalogue
    order: :func:`catalogue_rows`), never encoded again; (pipeline, seconds per part)."""
    start = time.perf_counter()
    built = build("LLMRec", spec.dataset, None, spec.config_dict())
    times = {"build_s": round(time.perf_counter() - start, 2)}
    start = time.perf_counter()
    model, dataset = built.model, built.dataset
    matrix = np.load(spec.options["vectors"], mmap_mode="r")
    tokens = dataset.field2id_token[dataset.iid_field]
    rows = catalogue_rows(tokens[1:], catalogue_for(argparse.Namespace(**spec.options["catalogue"]))[1])
    vectors = torch.empty(len(tokens), matrix.shape[1])
    vectors[0] = model.text.encode_catalogue(torch.tensor([0])).float()[0]  # padding, as the model would
    step = 65536
    for s in range(0, len(rows), step):
        vectors[1 + s: 1 + s + step] = torch.from_numpy(np.ascontiguousarray(matrix[rows[s: s + step]]))
    model.text.load_title_vectors(vectors)
    times["load_vectors_s"] = round(time.perf_counter() - start, 2)
    return built, times


def encode(spec: RunSpec) -> Dict[str, Any]:
    """Harness task: encode every title of the million catalogue with the frozen LM, chunk by chunk, into
    a ``.npy`` (``recbole_llmrec.serving.item_vectors.encode_titles_to_npy``), as the model encodes titles."""
    catalogue, _, _ = catalogue_for(argparse.Namespace(**spec.options["catalogue"]))
    start = time.perf_counter()
    encoder = lm_encoder(LLMRecSettings.from_config(build_config("LLMRec", spec.dataset, None, spec.config_dict())).lm)
    load_s, rss_loaded = round(time.perf_counter() - start, 2), peak_rss_mib()
    timed = timed_encode(encoder, catalogue, spec.options["vectors"], int(spec.options["chunk"]), True)
    return dict(timed, load_lm_s=load_s, peak_rss_after_lm_mib=rss_loaded)


def step(spec: RunSpec) -> Dict[str, Any]:
    """Harness task: training steps of LLMRec on the million catalogue with the spec's ``negative_sampling``:
    one batch of the training loader, ``calculate_loss`` + backward + the trainer's optimizer step."""
    built, times = load_pipeline_with_vectors(spec)
    model, optimizer = built.model, built.trainer.optimizer
    batch = next(iter(built.train_data))
    batch = (batch[0] if isinstance(batch, tuple) else batch).to(model.device)
    model.train()
    steps = []
    for _ in range(int(spec.options["steps"])):
        start = time.perf_counter()
        optimizer.zero_grad()
        loss = model.calculate_loss(batch)
        loss.backward()
        optimizer.step()
        steps.append(round(time.perf_counter() - start, 3))
    return {"negative_sampling": spec.config["negative_sampling"], "n_items": int(model.n_items),
            "batch": int(len(batch)), "step_s": steps, "loss": loss.item(), **times}


def evaluate(spec: RunSpec) -> Dict[str, Any]:
    """Harness task: a full-ranking evaluation of the test split (every sampled user against every item)
    of the untrained model: time and memory (the metrics of an untrained model mean nothing)."""
    built, times = load_pipeline_with_vectors(spec)
    start = time.perf_counter()
    result = built.trainer.evaluate(built.test_data, load_best_model=False)
    eval_s = time.perf_counter() - start
    users = int(built.test_data._dataset.inter_num) if hasattr(built.test_data, "_dataset") else None
    return {"n_items": int(built.model.n_items), "users": users, "eval_s": round(eval_s, 2),
            "eval_batch_size": int(built.config["eval_batch_size"]),
            "score_chunk_items": built.config["score_chunk_items"], "test_result": plain_result(result), **times}


# ------------------------------------------------------------------------------ run specs
def train_spec(rung: Rung, args: Any, name: str, model: str, config: Dict[str, Any], **spec: Any) -> RunSpec:
    """``model`` on ``rung``: the config entries of every run, ``config``, then the ``--key=value`` overrides."""
    config = dict({"data_path": str(rung.data_path), "seed": args.seed, "gpu_id": args.gpu_id,
                   "checkpoint_dir": args.checkpoint_dir, "show_progress": False}, **config)
    return RunSpec(f"{rung.name}-{name}", model, rung.dataset, config=dict(config, **common.overrides(args)), **spec)


def llmrec_spec(rung: Rung, args: Any, out: Path, nproc: int = 1, threads: Optional[int] = None,
                name: str = "LLMRec") -> RunSpec:
    """LLMRec's default (the YAML) on ``rung``, its title encoding timed (no title_vector_cache); the LM:
    ``--llm_path``, else on the tiny rung a tiny random BERT built once in ``out/runs``."""
    config = dict(title_vector_cache=None, **(TINY_LLMREC if rung.tiny else {}))
    tiny_llm = out / "runs" / "tiny_lm"
    if rung.tiny and not args.llm_path and not (tiny_llm / "config.json").is_file() and not args.report_only:
        words = tiny_lm.words_of((TINY_DATA / "tiny_mixed" / "tiny_mixed.item").read_text(encoding="utf-8"))
        tiny_lm.build_tiny_lm("bert", tiny_llm, words)
    if args.llm_path or rung.tiny:
        config["llm_path"] = args.llm_path or str(tiny_llm)
    if args.epochs is not None:
        config["epochs"] = args.epochs
    return train_spec(rung, args, name, "LLMRec", config, options={"nproc": nproc},
                      threads=args.threads if threads is None else threads)


def sasrec_spec(rung: Rung, args: Any, epochs: int, name: str = "SASRec") -> RunSpec:
    """SASRec with the reference settings on ``rung``, at most ``epochs`` epochs."""
    config = dict(SASREC_REFERENCE, epochs=epochs, **(TINY_SASREC if rung.tiny else {}))
    return train_spec(rung, args, name, "SASRec", config, threads=args.threads)


def epochs_within(budget_s: float, converged: Dict[str, Any]) -> int:
    """The most epochs (at least 1) of the converged SASRec run that fit in ``budget_s`` seconds: its fixed part
    (setup, test evaluation: its wall time minus its epochs) + the first N epochs' training and validation."""
    timing = converged["timing"]
    epochs = [t["s"] + v for t, v in zip(timing["train_epochs"], timing["valid_epochs"])]
    fixed = converged["wall_time_s"] - sum(t["s"] for t in timing["train_epochs"]) - sum(timing["valid_epochs"])
    return max(1, sum(1 for elapsed in itertools.accumulate(epochs) if fixed + elapsed <= budget_s))


# ------------------------------------------------------------------------------ measurements
def run_training_rung(rung: Rung, args: Any, out: Path, live: bool) -> Dict[str, Any]:
    """LLMRec, SASRec to convergence and SASRec at LLMRec's wall time on one rung."""
    if live:
        prepare_rung(rung, args)
    runs: Dict[str, Any] = {"size": rung_size(rung, out, rung.name)}
    runs["LLMRec"] = common.run_cached(out, llmrec_spec(rung, args, out), live)
    if args.skip_sasrec:
        return runs
    converged = runs["SASRec"] = common.run_cached(out, sasrec_spec(rung, args, args.sasrec_epochs), live)
    if converged is None or runs["LLMRec"] is None:
        return runs
    cap = epochs_within(runs["LLMRec"]["wall_time_s"], converged)
    if cap >= len(converged["timing"]["train_epochs"]):  # the converged run already fits in LLMRec's time
        runs["SASRec_at_llmrec_time"] = dict(converged, epochs_cap=cap, same_as_converged=True)
    else:
        capped = common.run_cached(out, sasrec_spec(rung, args, cap, "SASRec-at-LLMRec-time"), live)
        runs["SASRec_at_llmrec_time"] = capped and dict(capped, epochs_cap=cap, same_as_converged=False)
    return runs


def run_million(args: Any, out: Path, live: bool) -> Dict[str, Any]:
    """The million-title catalogue: encoding, one training step (sampled, full_catalogue), evaluation."""
    rung = rung_of(MILLION, args)
    if live:
        build_million_dataset(rung, args)
    runs: Dict[str, Any] = {"size": rung_size(rung, out, MILLION)}
    encoded = out / "runs" / f"{MILLION}-encode.json"
    # LLMRec's training config without its epochs (nothing here trains for epochs)
    config = {k: v for k, v in llmrec_spec(rung, args, out).config.items()
              if k not in ("epochs", "stopping_step") or k in common.overrides(args)}
    tag = hashlib.sha256(f"{config.get('llm_path')}|{config.get('max_title_tokens')}".encode()).hexdigest()[:10]
    vectors = rung.folder / f"title_vectors-{tag}.npy"  # one per LM and title length
    catalogue = {k: getattr(args, k) for k in ("million_base", "million_titles", "data_path")}

    def spec(task: str, name: str = "", config_of: Optional[Dict[str, Any]] = None, **options: Any) -> RunSpec:
        return RunSpec(f"{MILLION}-{task}{name}", "LLMRec", rung.dataset, config=dict(config, **(config_of or {})),
                       threads=args.threads, task=f"benchmarks.scale:{task}",
                       options=dict(vectors=str(vectors), catalogue=catalogue, **options))

    if live and encoded.exists() and not vectors.exists():
        logger.warning("%s is missing: encoding the catalogue again", vectors)
        encoded.unlink()
    runs["encode"] = common.run_cached(out, spec("encode", chunk=args.million_chunk), live)
    runs["dataset"] = (runs["encode"] or {"spec": {"dataset": rung.dataset}})["spec"]["dataset"]  # as measured
    for mode in ("sampled", "full_catalogue"):
        step_spec = spec("step", f"-{mode}", {"negative_sampling": mode}, steps=args.million_steps)
        path = out / "runs" / f"{step_spec.name}.json"
        if mode == "full_catalogue" and live and not path.exists():
            # the sampled step's peak + four [batch, items] float32 matrices (logits, softmax, their gradients)
            # + the item table's gradient, against the memory available now
            sampled, n_items = runs["step_sampled"] or {}, args.million_titles + 1
            need = (sampled.get("peak_rss_mib", 0) * 2**20 + 4 * int(sampled.get("batch", 256)) * n_items * 4
                    + 2 * n_items * 64 * 4)
            meminfo = Path("/proc/meminfo").read_text().splitlines() if Path("/proc/meminfo").exists() else []
            available = next((int(line.split()[1]) * 1024 for line in meminfo if line.startswith("MemAvailable")), None)
            why = f"estimated {need / 2**30:.1f} GiB, available {(available or 0) / 2**30:.1f} GiB"
            if available is not None and need > 0.9 * available:  # stored like a result: delete it to try again
                logger.warning("full_catalogue step skipped: %s", why)
                common.write_json({"skipped": why, "spec": step_spec.content(), "machine": cpu_kind()}, path)
        runs[f"step_{mode}"] = common.run_cached(out, step_spec, live)
    runs["evaluate"] = common.run_cached(out, spec("evaluate"), live)
    return runs


# ------------------------------------------------------------------------------ report
def epoch_stats(result: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """A run's title encoding, seconds per training epoch (less the title encoding inside the first one),
    examples/s, validation and test evaluation seconds, epochs, wall seconds, peak RSS and test metrics."""
    result = result or {}
    timing = result.get("timing") or {"train_epochs": [], "valid_epochs": [], "test_evals": []}
    train, valid, encodes = timing["train_epochs"], timing["valid_epochs"], timing.get("title_encodes") or []
    # LLMRec encodes the catalogue lazily, in its first training step: those seconds are the title
    # encoding's (reported apart), not the epoch's
    seconds = sum(t["s"] for t in train) - (sum(e["s"] for e in encodes) if train else 0.0)
    examples = sum(t["examples"] or 0 for t in train)
    test = result.get("test_result") or {}
    return {"title_encode_s": encodes[0]["s"] if encodes else None,
            "titles": encodes[0]["titles"] if encodes else None,
            "s_per_epoch": round(seconds / len(train), 3) if train else None,
            "examples_per_s": round(examples / seconds, 1) if seconds else None,
            "valid_eval_s": round(sum(valid) / len(valid), 3) if valid else None,
            "test_eval_s": timing["test_evals"][-1] if timing["test_evals"] else None,
            "epochs": len(train) if "timing" in result else None, "wall_s": result.get("wall_time_s"),
            "peak_rss_mib": result.get("peak_rss_mib"), "ndcg@10": test.get("ndcg@10"),
            "recall@10": test.get("recall@10")}


def rung_row(name: str, runs: Dict[str, Any]) -> Dict[str, Any]:
    """One CSV/table row of a training rung."""
    size, capped = runs.get("size") or {}, runs.get("SASRec_at_llmrec_time") or {}
    llm, sas = epoch_stats(runs.get("LLMRec")), epoch_stats(runs.get("SASRec"))
    threads = ((runs.get("LLMRec") or runs.get("SASRec") or {}).get("spec") or {}).get("threads")
    sasrec_keys = ("s_per_epoch", "valid_eval_s", "epochs", "wall_s", "peak_rss_mib", "ndcg@10")
    return {"rung": name, "threads": threads, **{k: size.get(k) for k in ("users", "items", "interactions")},
            **{f"llmrec_{k}": v for k, v in llm.items()}, **{f"sasrec_{k}": sas[k] for k in sasrec_keys},
            "sasrec_at_llmrec_time_epochs": capped.get("epochs_cap"),
            **{f"sasrec_at_llmrec_time_{k}": epoch_stats(capped)[k] for k in ("wall_s", "ndcg@10")}}


def loglog_slope(xs: Sequence[float], ys: Sequence[float]) -> Optional[float]:
    """Least-squares slope of log(y) on log(x) (None with fewer than 2 distinct x)."""
    pts = np.log([(x, y) for x, y in zip(xs, ys) if x and y and x > 0 and y > 0]).reshape(-1, 2)
    return float(np.polyfit(pts[:, 0], pts[:, 1], 1)[0]) if len(set(pts[:, 0])) > 1 else None


def million_rows(million: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Rows of the million-title table: one per measurement."""
    enc, ev = million.get("encode"), million.get("evaluate")
    rows = [] if not enc else [
        ("title encoding (chunked .npy)", enc["titles"], enc["encode_s"], enc["peak_rss_mib"],
         f"{enc['titles_per_s']:,.1f} titles/s, chunks of {enc['chunk']:,}, output matrix "
         f"{enc['output_matrix_mib']:,.0f} MiB, peak RSS after loading the LM {enc['peak_rss_after_lm_mib']:,.0f} MiB")]
    for mode in ("sampled", "full_catalogue"):
        step = million.get(f"step_{mode}")
        if step and "skipped" in step:
            rows.append((f"training step, {mode}", (million.get("size") or {}).get("items"), None, None,
                         f"skipped: {step['skipped']}"))
        elif step:
            rows.append((f"training step, {mode}", step["n_items"] - 1, step["step_s"][-1], step["peak_rss_mib"],
                         f"batch {step['batch']}; steps {', '.join(f'{s:.2f}' for s in step['step_s'])} s (the "
                         f"first fits the whitening); build {step['build_s']:.0f} s, vectors read "
                         f"{step['load_vectors_s']:.0f} s"))
    if ev:
        rows.append(("full-ranking evaluation (test split)", ev["n_items"] - 1, ev["eval_s"], ev["peak_rss_mib"],
                     f"{ev['users']:,} users, batches of {ev['eval_batch_size']} users, "
                     f"score_chunk_items {ev['score_chunk_items']}; untrained model"))
    return [dict(zip(("rung", "measurement", "items", "seconds", "peak_rss_mib", "detail"), (MILLION, *row)))
            for row in rows]


def ddp_summary(single: Optional[Dict[str, Any]], ddp: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """examples/s of 2 processes ÷ 1 process, and the test metric differences (DDP − single)."""
    if not single or not ddp:
        return None
    a, b = epoch_stats(single)["examples_per_s"], epoch_stats(ddp)["examples_per_s"]
    nan = float("nan")
    return {"single_examples_per_s": a, "ddp_examples_per_s": b,
            "examples_per_s_ratio": round(b / a, 3) if a and b else None,
            "single_threads": single.get("torch_threads"), "ddp_threads_per_process": ddp.get("torch_threads"),
            "single_test": {m: single["test_result"].get(m) for m in METRICS},
            "ddp_test": {m: ddp["test_result"].get(m) for m in METRICS},
            "test_diff": {m: round(ddp["test_result"].get(m, nan) - single["test_result"].get(m, nan), 4)
                          for m in METRICS},
            "single_wall_s": single.get("wall_time_s"), "ddp_wall_s": ddp.get("wall_time_s"),
            "single_calibrated": "calibration" in single, "ddp_calibrated": "calibration" in ddp,
            "ddp_peak_rss_ranks_mib": ddp.get("peak_rss_ranks_mib")}


def report(out: Path, args: Any, rungs: Dict[str, Dict[str, Any]], million: Optional[Dict[str, Any]]) -> None:
    """results.{md,csv,json} of every stored rung: the training rungs' table (columns with a value), the
    log-log slopes, the 8 GiB verdict, the million-title measurements and each DDP comparison."""
    rows = [rung_row(name, runs) for name, runs in rungs.items()]
    slopes = {model: loglog_slope([r["interactions"] for r in rows], [r[key] for r in rows])
              for model, key in (("LLMRec", "llmrec_s_per_epoch"), ("SASRec", "sasrec_s_per_epoch"))}
    # (name, peak RSS MiB) of every stored measurement, DDP ranks included
    results = [(f"{name}/{key}", result) for name, runs in rungs.items() for key, result in runs.items()]
    results += [(f"{MILLION}/{key}", result) for key, result in (million or {}).items()]
    peaks = [(name, max(result["peak_rss_mib"], result.get("peak_rss_ranks_mib") or 0)) for name, result in results
             if isinstance(result, dict) and result.get("peak_rss_mib") is not None]
    mrows = million_rows(million) if million else []
    summaries = {name: ddp_summary(runs["LLMRec"], runs["LLMRec-ddp2"]) for name, runs in rungs.items()
                 if "LLMRec-ddp2" in runs}
    lines = [f"Threads: each measurement's own (column `threads`); seed {args.seed}; RecBole gpu_id {args.gpu_id!r} "
             "(\"\": CPU). Peak RSS: each measurement's own process (`VmHWM`; DDP: the largest of its ranks).", "",
             common.md_table(rows, [k for k in (rows[0] if rows else {}) if any(r[k] is not None for r in rows)]),
             "", LADDER_NOTE, ""]
    lines += [f"* log-log slope of {model}'s seconds per epoch vs interactions: "
              + ("– (fewer than 2 rungs)" if slope is None else f"{slope:.2f}") for model, slope in slopes.items()]
    over = [name for name, value in peaks if value > RSS_LIMIT_MIB]
    worst = max(peaks, key=lambda p: p[1], default=("", 0.0))
    lines.append(f"* peak RSS {'exceeded' if over else 'stayed within'} 8 GiB over {len(peaks)} measurements: "
                 f"largest {worst[1]:,.0f} MiB ({worst[0]})" + (f"; over: {', '.join(over)}" if over else "")
                 if peaks else "* peak RSS: no measurement stored")
    if million:
        size = million.get("size") or {}
        lines += ["", f"## {MILLION}: {size.get('items')} items, {size.get('users')} users, "
                      f"{size.get('interactions')} interactions (`{million.get('dataset')}`)", "",
                  common.md_table(mrows, ["measurement", "items", "seconds", "peak_rss_mib", "detail"]), "",
                  "Training step: the last of the timed steps. Catalogue rule: " + CATALOGUE_RULE]
    for name, s in summaries.items():
        lines += ["", f"## DDP at {name}", "", "not run yet" if s is None else
                  f"2 gloo processes x {s['ddp_threads_per_process']} thread vs 1 process x {s['single_threads']}: "
                  f"examples/s ratio **{s['examples_per_s_ratio']}**, wall {s['ddp_wall_s']} s vs "
                  f"{s['single_wall_s']} s; test (1 process → 2, difference): " + ", ".join(
                      f"{m} {s['single_test'][m]} → {s['ddp_test'][m]} ({s['test_diff'][m]:+.4f})" for m in METRICS)]
    payload = {"rows": rows, "slopes": slopes, "peak_rss_mib": dict(peaks),
               "peak_rss_within_8gib": (max(v for _, v in peaks) <= RSS_LIMIT_MIB) if peaks else None,
               "million_rows": mrows, "ddp": summaries, "seed": args.seed,
               "rungs": list(rungs) + ([MILLION] if million else []), "catalogue_rule": CATALOGUE_RULE}
    common.write_report(out, "Scale ladder", "\n".join(lines), rows + mrows, payload)


# ------------------------------------------------------------------------------------ main
def rung_list(text: str) -> List[str]:
    """``--rungs``: a comma list of :data:`ALL_RUNGS`."""
    rungs = [r.strip() for r in text.split(",") if r.strip()]
    if set(rungs) - set(ALL_RUNGS):
        raise argparse.ArgumentTypeError(f"unknown rungs {sorted(set(rungs) - set(ALL_RUNGS))}")
    return rungs


def main(argv: Optional[List[str]] = None) -> int:
    parser = common.base_parser("scale", __doc__)
    parser.add_argument("--rungs", type=rung_list, default=",".join(DEFAULT_RUNGS),
                        help=f"comma list of {', '.join(ALL_RUNGS)} (default: %(default)s)")
    parser.add_argument("--raw", default=str(REPO.parent / "shared" / "data"), help="amazon2014/, amazon2018/ folder")
    parser.add_argument("--threads", type=int, default=2, help="threads per measured process (default 2)")
    parser.add_argument("--skip_sasrec", action="store_true", help="LLMRec only")
    parser.add_argument("--epochs", type=int, default=None, help="LLMRec's epochs (default: the YAML's)")
    parser.add_argument("--sasrec_epochs", type=int, default=200, help="SASRec's most epochs (default 200)")
    parser.add_argument("--llm_path", default=None, help="the LM of every LLMRec run (default: the YAML's)")
    parser.add_argument("--million_titles", type=int, default=1_000_000, help="titles of the million_items catalogue")
    parser.add_argument("--million_users", type=int, default=1000, help="users of the million_items dataset")
    parser.add_argument("--million_base", default="four_domains", choices=TRAIN_RUNGS, help="the catalogue's base rung")
    parser.add_argument("--million_chunk", type=int, default=4096, help="titles per encoding chunk")
    parser.add_argument("--million_steps", type=int, default=2, help="training steps timed per strategy")
    parser.add_argument("--ddp", action="store_true", help="also LLMRec at the largest rung in 2 processes x 1 thread")
    parser.add_argument("--gpu_id", default="", help='RecBole gpu_id of every run (default "": CPU)')
    parser.add_argument("--checkpoint_dir", default="saved/scale", help="checkpoints (relative: to the working dir)")
    args, out = common.start(parser, argv)
    asked = [] if args.report_only else args.rungs  # measured; reported: those and every stored rung
    stored = {path.stem for path in (out / "runs").glob("*.json")}
    rungs = {name: run_training_rung(rung_of(name, args), args, out, name in asked)
             for name in TRAIN_RUNGS if name in asked or f"{name}-LLMRec" in stored}
    million = run_million(args, out, MILLION in asked) if MILLION in asked or f"{MILLION}-encode" in stored else None
    # DDP: the largest training rung asked for (with --ddp), and every rung with a stored DDP run
    target = next((name for name in reversed(TRAIN_RUNGS) if name in asked), None) if args.ddp else None
    for name, runs in rungs.items():
        if name == target or f"{name}-LLMRec-ddp2" in stored:
            spec = llmrec_spec(rung_of(name, args), args, out, nproc=2, threads=1, name="LLMRec-ddp2")
            runs["LLMRec-ddp2"] = common.run_cached(out, spec, name == target)
    report(out, args, rungs, million)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
