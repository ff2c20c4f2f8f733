"""The scale ladder: LLMRec's default and SASRec from the embedded 64k-interaction dataset to all four
shared Amazon domains (1.1M interactions), and a 1,000,000-title catalogue, one command.

Rungs (``--rungs``): ``amazon_mixed`` (embedded), ``beauty_toys_all`` (2014 Beauty + Toys, every user of
the 5-core), ``four_domains`` (+ 2014 Clothing, 2018 Video Games, prefixed ids as
``experiments.leave_one_domain_out``), ``million_items`` (``--million_titles`` titles: the
``--million_base`` rung's items, then composites of two real titles by :data:`CATALOGUE_RULE`, and
``--million_users`` seeded users: title encoding into a ``.npy``, a training step ``sampled`` and
``full_catalogue``, a full-ranking test evaluation) and ``tiny`` (tests: the committed tiny dataset and a
tiny random LM). Each measurement runs in its own child process through :mod:`recbole_llmrec.runs.harness`
(peak RSS = its ``VmHWM``; epochs, validation and title encoding timed by the trainer's events): LLMRec's
default, SASRec with :data:`SASREC_REFERENCE` to convergence, and SASRec capped at the most epochs that fit
in LLMRec's wall time. ``--ddp``: LLMRec at the largest rung in 2 gloo processes x 1 thread.

Runs are cached in ``--output/runs`` (``--report_only`` rebuilds ``results.{md,csv,json,png}`` from them;
``--overwrite`` replaces a report)::

    python -m benchmarks.scale --rungs amazon_mixed,beauty_toys_all --skip_sasrec
    python -m benchmarks.scale --rungs tiny,million_items --million_base tiny --million_titles 2000 \\
        --output /tmp/scale --data_path /tmp/scale-data            # smoke run, about a minute
"""
from __future__ import annotations

import argparse
import hashlib
import logging
import math
import os
import random
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

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
from recbole_llmrec.utils.plain import plain_result

REPO = common.REPO
logger = logging.getLogger("scale")

QUESTION = "scale"
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
COMPOSITE_DOMAIN = "Composite"
CATALOGUE_RULE = (
    "titles 0 .. R-1 are the base dataset's R items with their own (real) titles, in its .item order; "
    "with U = the sorted distinct real titles (n of them), composite j = 0, 1, ... (title R + j) is "
    "U[a] + SEP + U[b] with a = j mod n, k = j div n, b = (a + 1 + k) mod n, item id SCALE<j as 7 digits>, "
    "domain Composite. While k < n - 1 (up to n(n - 1) composites) every j is another ordered pair of "
    "distinct titles; SEP is the first of ' | ', ' || ', ' // ', ' ~ ', ' :: ' that no real title contains. "
    "That no composite repeats another title or a real one is checked when the dataset is written.")
COMPOSITE_PREFIX = "SCALE"


# ------------------------------------------------------------------------------------ rungs
#: The RecBole dataset of each training rung.
RUNG_DATASETS = {"tiny": "tiny_mixed", "amazon_mixed": "amazon_mixed",
                 "beauty_toys_all": "amazon_scale_beauty_toys_all", "four_domains": "amazon_scale_four_domains"}


@dataclass
class Rung:
    """A dataset of the ladder: RecBole dataset name and the folder holding it."""

    name: str
    dataset: str
    data_path: Path

    @property
    def folder(self) -> Path:
        return self.data_path / self.dataset

    @property
    def tiny(self) -> bool:
        return self.name == "tiny" or self.dataset.endswith("_tiny")


def training_rung(name: str, data_path: Path) -> Rung:
    """The rung ``name`` of :data:`TRAIN_RUNGS` (its dataset may not be built yet; ``amazon_mixed``: the
    embedded one unless ``data_path`` holds it)."""
    if name == "tiny":
        return Rung(name, "tiny_mixed", TINY_DATA)
    if name == "amazon_mixed" and not (data_path / "amazon_mixed").is_dir():
        return Rung(name, "amazon_mixed", REPO / "dataset")
    return Rung(name, RUNG_DATASETS[name], data_path)


def million_rung(args: Any) -> Rung:
    """The ``million_items`` dataset (built by :func:`build_million_dataset`)."""
    suffix = "" if args.million_base == "four_domains" else f"_{args.million_base}"
    return Rung(MILLION, f"amazon_scale_items_{args.million_titles}{suffix}", Path(args.data_path))


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


def stored_size(rung: Rung, out: Path, key: str) -> Optional[Dict[str, int]]:
    """:func:`dataset_size`, kept in ``out/runs/<key>-size.json`` (the report needs no dataset)."""
    path = out / "runs" / f"{key}-size.json"
    if rung.folder.is_dir():
        size = dataset_size(rung)
        if not path.exists() or common.load_json(path) != size:
            common.write_json(size, path)
        return size
    return common.load_json(path) if path.exists() else None


def dataset_size(rung: Rung) -> Dict[str, int]:
    """Users, items and interactions: the converter's ``stats.json`` ``output``, else counted."""
    stats = rung.folder / f"{rung.dataset}.stats.json"
    if stats.is_file():
        out = common.load_json(stats)["output"]
        return {"users": int(out["users"]), "items": int(out["items"]),
                "interactions": int(out["interactions"])}
    scale = rung.folder / "scale_catalogue.json"
    if scale.is_file():
        info = common.load_json(scale)
        return {k: int(info[k]) for k in ("users", "items", "interactions")}
    raise SystemExit(f"error: {rung.folder} has no stats.json")


# ------------------------------------------------------------------ the million-title catalogue
class CompositeCatalogue:
    """``total`` titles made on demand (slices, as ``encode_titles_to_npy`` reads them) by
    :data:`CATALOGUE_RULE`."""

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
        j = i - len(self.real)
        n = len(self.distinct)
        a, k = j % n, j // n
        return self.distinct[a] + self.separator + self.distinct[(a + 1 + k) % n]

    def __getitem__(self, s: slice) -> List[str]:
        return [self.title(i) for i in range(*s.indices(self.total))]

    @staticmethod
    def item_id(j: int) -> str:
        return f"{COMPOSITE_PREFIX}{j:07d}"


def catalogue_for(args: Any) -> Tuple[CompositeCatalogue, List[str], List[str]]:
    """The catalogue of ``--million_titles`` titles on the base's ``.item`` (and the base's ids, domains)."""
    base = training_rung(args.million_base, Path(args.data_path))
    items = read_catalogue_file(base.folder / f"{base.dataset}.item")
    return CompositeCatalogue(items.titles, args.million_titles), items.item_ids, items.domains or [""] * len(items)


def build_million_dataset(args: Any) -> Rung:
    """Write the ``million_items`` dataset unless it exists: ``.inter`` = every interaction of
    ``--million_users`` seeded users of the base; ``.item`` = :class:`CompositeCatalogue`."""
    rung = million_rung(args)
    if rung.folder.is_dir():
        return rung
    base = training_rung(args.million_base, Path(args.data_path))
    prepare_rung(base, args)
    catalogue, ids, domains = catalogue_for(args)
    if any(item.startswith(COMPOSITE_PREFIX) for item in ids):
        raise ValueError(f"a base item id starts with {COMPOSITE_PREFIX!r}, the composite items' prefix")
    by_user: Dict[str, List[str]] = {}
    with open(base.folder / f"{base.dataset}.inter", encoding="utf-8") as handle:
        header = handle.readline()
        for line in handle:
            by_user.setdefault(line.split("\t", 1)[0], []).append(line)
    users = sorted(by_user)
    chosen = sorted(random.Random(args.seed).sample(users, min(args.million_users, len(users))))
    tmp = rung.data_path / f".{rung.dataset}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    interactions = 0
    with open(tmp / f"{rung.dataset}.inter", "w", encoding="utf-8") as out:
        out.write(header)
        for user in chosen:
            out.writelines(by_user[user])
            interactions += len(by_user[user])
    titles = dict(zip(ids, catalogue.real))
    item_domains = dict(zip(ids, domains))
    seen = set(catalogue.real)
    for j in range(catalogue.total - len(ids)):
        title = catalogue.title(len(ids) + j)
        if title in seen:
            raise ValueError(f"composite title {j} repeats another title: {title!r}")
        seen.add(title)
        titles[catalogue.item_id(j)] = title
        item_domains[catalogue.item_id(j)] = COMPOSITE_DOMAIN
    write_item(tmp / f"{rung.dataset}.item", titles, item_domains)  # the converter's writer
    del titles, item_domains, seen
    info = {"base": args.million_base, "base_dataset": base.dataset, "seed": args.seed,
            "users": len(chosen), "interactions": interactions, "items": catalogue.total,
            "real_items": len(ids), "real_distinct_titles": len(catalogue.distinct),
            "composite_items": catalogue.total - len(ids), "separator": catalogue.separator,
            "rule": CATALOGUE_RULE}
    common.write_json(info, tmp / "scale_catalogue.json")
    os.rename(tmp, rung.folder)
    logger.info("wrote %s: %d users, %d interactions, %d items", rung.folder, len(chosen), interactions,
                catalogue.total)
    return rung


def catalogue_rows(item_ids: Sequence[Any], base_ids: List[str]) -> Any:
    """The catalogue row (= row of the title-vector ``.npy``) of each item id: a base item's index
    among the base's items, composite ``SCALE<j>``'s ``len(base_ids) + j``."""
    row_of = {item: r for r, item in enumerate(base_ids)}
    cut = len(COMPOSITE_PREFIX)

    def row(item: str) -> int:
        found = row_of.get(item)
        return len(base_ids) + int(item[cut:]) if found is None else found

    return np.fromiter((row(str(t)) for t in item_ids), dtype=np.int64, count=len(item_ids))


def vectors_path(rung: Rung, llm_path: Optional[str], max_title_tokens: Any) -> Path:
    """The ``.npy`` of the catalogue's frozen LM title vectors (one per LM and title length)."""
    tag = hashlib.sha256(f"{llm_path}|{max_title_tokens}".encode()).hexdigest()[:10]
    return rung.folder / f"title_vectors-{tag}.npy"


# ------------------------------------------------------------------------------ harness tasks
def load_pipeline_with_vectors(spec: RunSpec) -> Tuple[Any, Dict[str, float]]:
    """The million dataset's pipeline with its title vectors read from the ``.npy`` (rows in catalogue
    order: :func:`catalogue_rows`), never encoded again; (pipeline, seconds per part)."""
    times = {}
    start = time.perf_counter()
    built = build("LLMRec", spec.dataset, None, spec.config_dict())
    times["build_s"] = round(time.perf_counter() - start, 2)
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
    config = build_config("LLMRec", spec.dataset, None, spec.config_dict())
    encode = lm_encoder(LLMRecSettings.from_config(config).lm)
    load_s = time.perf_counter() - start
    rss_loaded = peak_rss_mib()
    timed = timed_encode(encode, catalogue, spec.options["vectors"], int(spec.options["chunk"]), True)
    return dict(timed, load_lm_s=round(load_s, 2), peak_rss_after_lm_mib=rss_loaded)


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
def llm_path_for(rung: Rung, args: Any, out: Path) -> Optional[str]:
    """``--llm_path``; for the tiny rung without it, a tiny random BERT built once in ``out/runs``."""
    if args.llm_path:
        return args.llm_path
    if not rung.tiny:
        return None
    folder = out / "runs" / "tiny_lm"
    if not (folder / "config.json").is_file() and not args.report_only:
        words = tiny_lm.words_of((TINY_DATA / "tiny_mixed" / "tiny_mixed.item").read_text(encoding="utf-8"))
        tiny_lm.build_tiny_lm("bert", folder, words)
    return str(folder)


def base_config(rung: Rung, args: Any) -> Dict[str, Any]:
    """Config entries of every run on ``rung``."""
    return {"data_path": str(rung.data_path), "seed": args.seed, "gpu_id": args.gpu_id,
            "checkpoint_dir": args.checkpoint_dir, "show_progress": False}


def llmrec_spec(rung: Rung, args: Any, out: Path, nproc: int = 1, threads: Optional[int] = None,
                name: str = "LLMRec") -> RunSpec:
    """LLMRec's default (the YAML) on ``rung``, its title encoding timed (no title_vector_cache)."""
    config = dict(base_config(rung, args), title_vector_cache=None)
    if rung.tiny:
        config.update(TINY_LLMREC)
    llm_path = llm_path_for(rung, args, out)
    if llm_path:
        config["llm_path"] = llm_path
    if args.epochs is not None:
        config["epochs"] = args.epochs
    config.update(common.overrides(args))
    return RunSpec(f"{rung.name}-{name}", "LLMRec", rung.dataset, config=config, options={"nproc": nproc},
                   threads=args.threads if threads is None else threads)


def sasrec_spec(rung: Rung, args: Any, epochs: int, name: str = "SASRec") -> RunSpec:
    """SASRec with the reference settings on ``rung``, at most ``epochs`` epochs."""
    config = dict(base_config(rung, args), **SASREC_REFERENCE, epochs=epochs)
    if rung.tiny:
        config.update(TINY_SASREC)
    config.update(common.overrides(args))
    return RunSpec(f"{rung.name}-{name}", "SASRec", rung.dataset, config=config, threads=args.threads)


def epochs_within(budget_s: float, converged: Dict[str, Any]) -> int:
    """The most epochs of the converged SASRec run that fit in ``budget_s`` seconds: its fixed part
    (setup, test evaluation: its wall time minus its epochs) + the first N epochs' training and
    validation (at least 1)."""
    timing = converged["timing"]
    epochs = [t["s"] + v for t, v in zip(timing["train_epochs"], timing["valid_epochs"])]
    elapsed = converged["wall_time_s"] - sum(t["s"] for t in timing["train_epochs"]) - sum(timing["valid_epochs"])
    n = 0
    for seconds in epochs:
        if elapsed + seconds > budget_s:
            break
        elapsed += seconds
        n += 1
    return max(1, n)


# ------------------------------------------------------------------------------ per rung
def run_training_rung(rung: Rung, args: Any, out: Path, live: bool) -> Dict[str, Any]:
    """LLMRec, SASRec to convergence and SASRec at LLMRec's wall time on one rung."""
    if live:
        prepare_rung(rung, args)
    runs: Dict[str, Any] = {"size": stored_size(rung, out, rung.name)}
    runs["LLMRec"] = common.run_cached(out, llmrec_spec(rung, args, out), live)
    if args.skip_sasrec:
        return runs
    converged = common.run_cached(out, sasrec_spec(rung, args, args.sasrec_epochs), live)
    runs["SASRec"] = converged
    if converged is None or runs["LLMRec"] is None:
        return runs
    cap = epochs_within(runs["LLMRec"]["wall_time_s"], converged)
    trained = len(converged["timing"]["train_epochs"])
    if cap >= trained:  # the converged run already fits in LLMRec's time
        runs["SASRec_at_llmrec_time"] = dict(converged, epochs_cap=cap, same_as_converged=True)
    else:
        capped = common.run_cached(out, sasrec_spec(rung, args, cap, "SASRec-at-LLMRec-time"), live)
        runs["SASRec_at_llmrec_time"] = None if capped is None else dict(capped, epochs_cap=cap,
                                                                          same_as_converged=False)
    return runs


def full_catalogue_fits(sampled: Optional[Dict[str, Any]], n_items: int, batch: int) -> Tuple[bool, str]:
    """Whether a ``full_catalogue`` step should fit: the sampled step's peak + four [batch, n_items]
    float32 matrices (logits, softmax, their gradients) + the item table's gradient, against the
    memory available now (``MemAvailable``)."""
    try:
        with open("/proc/meminfo", encoding="utf-8") as handle:
            available = next(int(line.split()[1]) * 1024 for line in handle if line.startswith("MemAvailable"))
    except (OSError, StopIteration):
        return True, "MemAvailable unknown: tried"
    base = (sampled or {}).get("peak_rss_mib", 0) * 2**20
    need = base + 4 * batch * n_items * 4 + 2 * n_items * 64 * 4
    text = f"estimated {need / 2**30:.1f} GiB, available {available / 2**30:.1f} GiB"
    return need <= 0.9 * available, text


def run_million(args: Any, out: Path, live: bool) -> Dict[str, Any]:
    """The million-title catalogue: encoding, one training step (sampled, full_catalogue), evaluation."""
    rung = build_million_dataset(args) if live else million_rung(args)
    runs: Dict[str, Any] = {"size": stored_size(rung, out, MILLION), "dataset": rung.dataset}
    encoded = out / "runs" / f"{MILLION}-encode.json"
    if not live and encoded.exists():  # report what was measured, whatever the options now
        runs["dataset"] = common.load_json(encoded)["spec"]["dataset"]
    # LLMRec's training config without its epochs (nothing here trains for epochs)
    config = {k: v for k, v in llmrec_spec(rung, args, out).config.items()
              if k not in ("epochs", "stopping_step") or k in common.overrides(args)}
    vectors = vectors_path(rung, config.get("llm_path"), config.get("max_title_tokens"))
    catalogue = {k: getattr(args, k) for k in ("million_base", "million_titles", "data_path")}
    options = {"vectors": str(vectors), "catalogue": catalogue}

    def spec(name: str, task: str, **extra: Any) -> RunSpec:
        config_of = dict(config, **extra.pop("config", {}))
        return RunSpec(name, "LLMRec", rung.dataset, config=config_of, threads=args.threads,
                       task=f"benchmarks.scale:{task}", options=dict(options, **extra))

    encode_name = "million_items-encode"
    if live and (out / "runs" / f"{encode_name}.json").exists() and not vectors.exists():
        logger.warning("%s is missing: encoding the catalogue again", vectors)
        (out / "runs" / f"{encode_name}.json").unlink()
    runs["encode"] = common.run_cached(out, spec(encode_name, "encode", chunk=args.million_chunk), live)
    for mode in ("sampled", "full_catalogue"):
        name = f"million_items-step-{mode}"
        step_spec = spec(name, "step", steps=args.million_steps, config={"negative_sampling": mode})
        if mode == "full_catalogue" and live and not (out / "runs" / f"{name}.json").exists():
            fits, why = full_catalogue_fits(runs.get("step_sampled"), args.million_titles + 1,
                                            int((runs.get("step_sampled") or {}).get("batch", 256)))
            if not fits:  # stored like a result: delete it to try again
                logger.warning("full_catalogue step skipped: %s", why)
                common.write_json({"skipped": why, "spec": step_spec.content()}, out / "runs" / f"{name}.json")
        runs[f"step_{mode}"] = common.run_cached(out, step_spec, live)
    runs["evaluate"] = common.run_cached(out, spec("million_items-evaluate", "evaluate"), live)
    return runs


def run_ddp(rung: Rung, args: Any, out: Path, live: bool) -> Optional[Dict[str, Any]]:
    """LLMRec on ``rung`` in 2 gloo processes of one thread each (``--nproc=2 --gpu_id=""``)."""
    return common.run_cached(out, llmrec_spec(rung, args, out, nproc=2, threads=1, name="LLMRec-ddp2"), live)


# ------------------------------------------------------------------------------ report
def epoch_stats(result: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """Seconds per training epoch (the title encoding inside the first one left out), examples/s,
    validation and test evaluation time, title encoding."""
    if not result or "timing" not in result:
        return {}
    timing = result["timing"]
    train = timing["train_epochs"]
    encodes = timing.get("title_encodes") or []
    # LLMRec encodes the catalogue lazily, in its first training step: those seconds are the title
    # encoding's (reported apart), not the epoch's
    seconds = sum(t["s"] for t in train) - (sum(e["s"] for e in encodes) if train else 0.0)
    examples = sum(t["examples"] or 0 for t in train)
    valid = timing["valid_epochs"]
    return {
        "epochs": len(train),
        "s_per_epoch": round(seconds / len(train), 3) if train else None,
        "examples_per_epoch": train[0]["examples"] if train else None,
        "examples_per_s": round(examples / seconds, 1) if seconds else None,
        "valid_eval_s": round(sum(valid) / len(valid), 3) if valid else None,
        "test_eval_s": timing["test_evals"][-1] if timing["test_evals"] else None,
        "title_encode_s": encodes[0]["s"] if encodes else None,
        "titles_encoded": encodes[0]["titles"] if encodes else None,
        "calibration_s": round(sum(timing.get("calibration_s") or []), 3) or None,
    }


def metric(result: Optional[Dict[str, Any]], key: str = "ndcg@10") -> Optional[float]:
    if not result or "test_result" not in result:
        return None
    return result["test_result"].get(key)


def rung_row(name: str, runs: Dict[str, Any]) -> Dict[str, Any]:
    """One CSV/table row of a training rung."""
    size = runs.get("size") or {}
    llm, stats = runs.get("LLMRec"), epoch_stats(runs.get("LLMRec"))
    spec = (llm or runs.get("SASRec") or {}).get("spec") or {}
    row: Dict[str, Any] = {"rung": name, "threads": spec.get("threads"),
                           **{k: size.get(k) for k in ("users", "items", "interactions")}}
    row.update({"llmrec_title_encode_s": stats.get("title_encode_s"), "llmrec_titles": stats.get("titles_encoded"),
                "llmrec_s_per_epoch": stats.get("s_per_epoch"), "llmrec_examples_per_s": stats.get("examples_per_s"),
                "llmrec_valid_eval_s": stats.get("valid_eval_s"), "llmrec_test_eval_s": stats.get("test_eval_s"),
                "llmrec_epochs": stats.get("epochs"), "llmrec_wall_s": (llm or {}).get("wall_time_s"),
                "llmrec_peak_rss_mib": (llm or {}).get("peak_rss_mib"), "llmrec_ndcg@10": metric(llm),
                "llmrec_recall@10": metric(llm, "recall@10")})
    sas, stats = runs.get("SASRec"), epoch_stats(runs.get("SASRec"))
    row.update({"sasrec_s_per_epoch": stats.get("s_per_epoch"), "sasrec_valid_eval_s": stats.get("valid_eval_s"),
                "sasrec_epochs": stats.get("epochs"), "sasrec_wall_s": (sas or {}).get("wall_time_s"),
                "sasrec_peak_rss_mib": (sas or {}).get("peak_rss_mib"), "sasrec_ndcg@10": metric(sas)})
    capped = runs.get("SASRec_at_llmrec_time")
    row.update({"sasrec_at_llmrec_time_epochs": (capped or {}).get("epochs_cap"),
                "sasrec_at_llmrec_time_wall_s": (capped or {}).get("wall_time_s"),
                "sasrec_at_llmrec_time_ndcg@10": metric(capped)})
    return row


def loglog_slope(xs: Sequence[float], ys: Sequence[float]) -> Optional[float]:
    """Least-squares slope of log(y) on log(x) (None with fewer than 2 distinct x)."""
    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys) if x and y and x > 0 and y > 0]
    if len({x for x, _ in pts}) < 2:
        return None
    mx, my = (sum(c) / len(pts) for c in zip(*pts))
    return sum((x - mx) * (y - my) for x, y in pts) / sum((x - mx) ** 2 for x, _ in pts)


def peak_rss_all(rungs: Dict[str, Dict[str, Any]], million: Optional[Dict[str, Any]],
                 ddp: Dict[str, Dict[str, Any]]) -> List[Tuple[str, float]]:
    """(name, peak RSS MiB) of every stored measurement, DDP ranks included."""
    results = [(f"{name}/{key}", result) for name, runs in rungs.items() for key, result in runs.items()]
    results += [(f"million_items/{key}", result) for key, result in (million or {}).items()]
    results += [(f"{name}/LLMRec-ddp2", pair.get("ddp")) for name, pair in ddp.items()]
    return [(name, max(result["peak_rss_mib"], result.get("peak_rss_ranks_mib") or 0)) for name, result in results
            if isinstance(result, dict) and result.get("peak_rss_mib") is not None]


def million_rows(million: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Rows of the million-title table: one per measurement."""
    size = million.get("size") or {}
    rows = []
    enc = million.get("encode")
    if enc:
        rows.append({"rung": MILLION, "measurement": "title encoding (chunked .npy)", "items": enc["titles"],
                     "seconds": enc["encode_s"], "peak_rss_mib": enc["peak_rss_mib"],
                     "detail": f"{enc['titles_per_s']:,.1f} titles/s, chunks of {enc['chunk']:,}, output matrix "
                               f"{enc['output_matrix_mib']:,.0f} MiB, peak RSS after loading the LM "
                               f"{enc['peak_rss_after_lm_mib']:,.0f} MiB"})
    for mode in ("sampled", "full_catalogue"):
        step = million.get(f"step_{mode}")
        if step and "skipped" in step:
            rows.append({"rung": MILLION, "measurement": f"training step, {mode}", "items": size.get("items"),
                         "detail": f"skipped: {step['skipped']}"})
        elif step:
            rows.append({"rung": MILLION, "measurement": f"training step, {mode}", "items": step["n_items"] - 1,
                         "seconds": step["step_s"][-1], "peak_rss_mib": step["peak_rss_mib"],
                         "detail": f"batch {step['batch']}; steps {', '.join(f'{s:.2f}' for s in step['step_s'])} s "
                                   f"(the first fits the whitening); build {step['build_s']:.0f} s, "
                                   f"vectors read {step['load_vectors_s']:.0f} s"})
    ev = million.get("evaluate")
    if ev:
        rows.append({"rung": MILLION, "measurement": "full-ranking evaluation (test split)",
                     "items": ev["n_items"] - 1, "seconds": ev["eval_s"], "peak_rss_mib": ev["peak_rss_mib"],
                     "detail": f"{ev['users']:,} users, batches of {ev['eval_batch_size']} users, "
                               f"score_chunk_items {ev['score_chunk_items']}; untrained model"})
    return rows


def ddp_summary(single: Optional[Dict[str, Any]], ddp: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """examples/s of 2 processes ÷ 1 process, and the test metric differences (DDP − single)."""
    if not single or not ddp:
        return None
    a, b = epoch_stats(single), epoch_stats(ddp)
    ratio = (round(b["examples_per_s"] / a["examples_per_s"], 3)
             if a.get("examples_per_s") and b.get("examples_per_s") else None)
    diffs = {m: round(ddp["test_result"].get(m, float("nan")) - single["test_result"].get(m, float("nan")), 4)
             for m in METRICS}
    return {"single_examples_per_s": a.get("examples_per_s"), "ddp_examples_per_s": b.get("examples_per_s"),
            "examples_per_s_ratio": ratio, "single_threads": single.get("torch_threads"),
            "ddp_threads_per_process": ddp.get("torch_threads"),
            "single_test": {m: single["test_result"].get(m) for m in METRICS},
            "ddp_test": {m: ddp["test_result"].get(m) for m in METRICS}, "test_diff": diffs,
            "single_wall_s": single.get("wall_time_s"), "ddp_wall_s": ddp.get("wall_time_s"),
            "single_calibrated": "calibration" in single, "ddp_calibrated": "calibration" in ddp,
            "ddp_peak_rss_ranks_mib": ddp.get("peak_rss_ranks_mib")}


def compact(value: Any) -> Any:
    """``value`` without the per-row metrics of run results (they stay in ``runs/``)."""
    if isinstance(value, dict):
        return {k: compact(v) for k, v in value.items() if k != "per_row"}
    return value


def plot(rows: List[Dict[str, Any]], slopes: Dict[str, Optional[float]]) -> Any:
    """Seconds per epoch and peak RSS against interactions, log-log, per model."""
    fig, (left, right) = common.pyplot().subplots(1, 2, figsize=(11, 4.2))
    for model, key, rss in (("LLMRec", "llmrec_s_per_epoch", "llmrec_peak_rss_mib"),
                            ("SASRec", "sasrec_s_per_epoch", "sasrec_peak_rss_mib")):
        pts = [(r["interactions"], r[key], r["rung"]) for r in rows if r.get(key) and r.get("interactions")]
        if pts:
            slope = slopes.get(model)
            label = model + ("" if slope is None else f" (slope {slope:.2f})")
            left.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=label)
            for x, y, name in pts:
                left.annotate(name, (x, y), fontsize=7, textcoords="offset points", xytext=(4, 4))
        pts = [(r["interactions"], r[rss]) for r in rows if r.get(rss) and r.get("interactions")]
        if pts:
            right.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=model)
    right.axhline(RSS_LIMIT_MIB, color="grey", linestyle="--", linewidth=1, label="8 GiB")
    for ax, ylabel in ((left, "seconds per training epoch"), (right, "peak RSS (MiB)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("interactions")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3, which="both")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.suptitle("Scale ladder", fontsize=10)
    fig.tight_layout()
    return fig


def fmt(value: Any, digits: Optional[int] = None) -> str:
    """A table cell: thousands separators; floats with ``digits`` decimals (default: 1 from 10 up,
    else 2 significant-ish: 0.31, 0.019)."""
    if value is None:
        return "–"
    if isinstance(value, float):
        if digits is None:
            digits = 1 if abs(value) >= 10 else 2 if abs(value) >= 0.1 or value == 0 else 3
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


LADDER_NOTE = (
    "s/epoch: training only (RecBole's `_train_epoch`, less the title encoding LLMRec runs inside its first "
    "training step); examples/s: the epochs' training examples / those seconds; validation s: one full-ranking "
    "pass over the validation users, mean over epochs; title "
    "encoding: the frozen LM over every title, once (first run, `title_vector_cache: null`). SASRec at "
    "LLMRec's time: the project has no wall-time cap, so epochs are capped: the most epochs of the converged "
    "run (its setup and test + the first N epochs' training and validation) that fit in LLMRec's whole run; "
    "same seed, so the first N epochs of the converged run, tested at their best validation epoch.")
LADDER_COLUMNS = [  # (header, row key, decimals)
    ("rung", "rung", None), ("threads", "threads", None), ("users", "users", None), ("items", "items", None),
    ("interactions", "interactions", None), ("LLMRec title encoding s", "llmrec_title_encode_s", None),
    ("LLMRec s/epoch", "llmrec_s_per_epoch", None), ("LLMRec examples/s", "llmrec_examples_per_s", None),
    ("LLMRec validation s", "llmrec_valid_eval_s", None), ("LLMRec epochs", "llmrec_epochs", None),
    ("LLMRec wall s", "llmrec_wall_s", None), ("LLMRec peak RSS MiB", "llmrec_peak_rss_mib", 0),
    ("LLMRec NDCG@10", "llmrec_ndcg@10", 4), ("SASRec s/epoch", "sasrec_s_per_epoch", None),
    ("SASRec validation s", "sasrec_valid_eval_s", None), ("SASRec epochs", "sasrec_epochs", None),
    ("SASRec wall s", "sasrec_wall_s", None), ("SASRec peak RSS MiB", "sasrec_peak_rss_mib", 0),
    ("SASRec NDCG@10", "sasrec_ndcg@10", 4), ("SASRec at LLMRec's time: epochs", "sasrec_at_llmrec_time_epochs", None),
    ("SASRec at LLMRec's time: NDCG@10", "sasrec_at_llmrec_time_ndcg@10", 4)]


def ladder_section(rows: List[Dict[str, Any]], slopes: Dict[str, Optional[float]],
                   peaks: List[Tuple[str, float]]) -> List[str]:
    """The training rungs' table, the log-log slopes and the 8 GiB verdict."""
    lines = ["| " + " | ".join(h for h, _, _ in LADDER_COLUMNS) + " |", "|---|" + "---:|" * (len(LADDER_COLUMNS) - 1)]
    lines += ["| " + " | ".join(fmt(r.get(k), d) for _, k, d in LADDER_COLUMNS) + " |" for r in rows]
    lines += ["", LADDER_NOTE, ""]
    for model, slope in slopes.items():
        lines.append(f"* **log-log slope of {model}'s seconds per epoch vs interactions**: "
                     + ("– (fewer than 2 rungs)" if slope is None else f"{slope:.2f}"))
    if not peaks:
        lines.append("* peak RSS: no measurement stored")
    else:
        name, worst = max(peaks, key=lambda p: p[1])
        over = [n for n, v in peaks if v > RSS_LIMIT_MIB]
        verdict = "exceeded" if over else "stayed within"
        lines.append(f"* **peak RSS {verdict} 8 GiB** ({RSS_LIMIT_MIB:,} MiB) over {len(peaks)} measurements: "
                     f"largest {worst:,.0f} MiB ({name})" + (f"; over: {', '.join(over)}" if over else ""))
    return lines


def million_section(million: Dict[str, Any], mrows: List[Dict[str, Any]]) -> List[str]:
    """The million-title catalogue's measurements."""
    size = million.get("size") or {}
    threads = sorted({r["spec"]["threads"] for r in million.values() if isinstance(r, dict) and "spec" in r})
    lines = ["", f"## {MILLION}: {fmt(size.get('items'))} items, {fmt(size.get('users'))} users, "
                 f"{fmt(size.get('interactions'))} interactions (`{million.get('dataset')}`), "
                 f"threads {', '.join(map(str, threads))}", "",
             "| measurement | items | seconds | peak RSS MiB | detail |", "|---|---:|---:|---:|---|"]
    lines += [f"| {r['measurement']} | {fmt(r.get('items'))} | {fmt(r.get('seconds'), 2)} | "
              f"{fmt(r.get('peak_rss_mib'), 0)} | {r.get('detail', '')} |" for r in mrows]
    lines += ["", "Training step: the last of the timed steps (the first also fits the whitening on every title "
              "vector). Catalogue rule: " + CATALOGUE_RULE]
    return lines


def ddp_section(rung: str, summary: Optional[Dict[str, Any]]) -> List[str]:
    """2 gloo processes against 1 process: examples/s and test metrics."""
    if summary is None:
        return ["", f"## DDP at {rung}", "", "not run yet"]
    lines = ["", f"## DDP at {rung}: 2 gloo processes x {summary['ddp_threads_per_process']} thread vs "
                 f"1 process x {summary['single_threads']} threads", "",
             f"examples/s: {fmt(summary['ddp_examples_per_s'])} (2 processes) vs "
             f"{fmt(summary['single_examples_per_s'])} (1 process): "
             f"ratio **{fmt(summary['examples_per_s_ratio'], 2)}**; "
             f"wall {fmt(summary['ddp_wall_s'])} s vs {fmt(summary['single_wall_s'])} s.", "",
             "| metric | 1 process | 2 processes | difference |", "|---|---:|---:|---:|"]
    lines += [f"| {m} | {fmt(summary['single_test'][m], 4)} | {fmt(summary['ddp_test'][m], 4)} | "
              f"{summary['test_diff'][m]:+.4f} |" for m in METRICS]
    lines.append(f"\nRanking weights calibrated on validation: 1 process {summary['single_calibrated']}, "
                 f"2 processes {summary['ddp_calibrated']} (each fits its own model's weights; runs from before DDP "
                 "calibration keep the configured ones). A DDP run's DistributedSampler orders and pads each "
                 "epoch's examples its own way, so the trained weights, and the metrics, differ within noise.")
    return lines


def report(out: Path, args: Any, rungs: Dict[str, Dict[str, Any]], million: Optional[Dict[str, Any]],
           ddp: Dict[str, Dict[str, Any]]) -> None:
    """results.{md,csv,json,png} of every stored rung."""
    rows = [rung_row(name, runs) for name, runs in rungs.items()]
    slopes = {model: loglog_slope([r["interactions"] for r in rows], [r[key] for r in rows])
              for model, key in (("LLMRec", "llmrec_s_per_epoch"), ("SASRec", "sasrec_s_per_epoch"))}
    peaks = peak_rss_all(rungs, million, ddp)
    mrows = million_rows(million) if million else []
    summaries = {name: ddp_summary(pair.get("single"), pair.get("ddp")) for name, pair in ddp.items()}
    lines = [f"Threads: each measurement's own (column `threads`; OMP_NUM_THREADS and torch); seed {args.seed}; "
             f"RecBole gpu_id {args.gpu_id!r} (\"\": CPU). Each measurement ran in its own process: peak RSS is "
             "that process's own peak (`VmHWM`; its `ru_maxrss`, also stored, includes the peak of the process "
             "that started it; DDP: the larger of it and its ranks' `ru_maxrss`).", ""]
    lines += ladder_section(rows, slopes, peaks)
    if million:
        lines += million_section(million, mrows)
    for name, summary in summaries.items():
        lines += ddp_section(name, summary)
    payload = {"rows": rows, "slopes": slopes, "peak_rss_mib": dict(peaks),
               "peak_rss_within_8gib": (max(v for _, v in peaks) <= RSS_LIMIT_MIB) if peaks else None,
               "million_items": compact(million), "million_rows": mrows, "ddp": summaries, "ddp_runs": compact(ddp),
               "runs": compact(rungs), "seed": args.seed, "rungs": list(rungs) + ([MILLION] if million else []),
               "catalogue_rule": CATALOGUE_RULE}
    common.write_report(out, "Scale ladder", "\n".join(lines), rows + mrows, payload, plot(rows, slopes))


# ------------------------------------------------------------------------------------ main
def parse_args(argv: Optional[List[str]] = None) -> Any:
    parser = common.base_parser(QUESTION, __doc__)
    parser.add_argument("--rungs", default=",".join(DEFAULT_RUNGS),
                        help=f"comma list of {', '.join(ALL_RUNGS)} (tiny: the test dataset and a tiny LM, "
                             "for smoke tests); default: %(default)s")
    parser.add_argument("--raw", default=str(REPO.parent / "shared" / "data"),
                        help="folder with amazon2014/ and amazon2018/ (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=2, help="threads per measured process (default 2)")
    parser.add_argument("--skip_sasrec", action="store_true", help="LLMRec only")
    parser.add_argument("--epochs", type=int, default=None, help="LLMRec's epochs (default: the YAML's)")
    parser.add_argument("--sasrec_epochs", type=int, default=200, help="SASRec's most epochs (default 200)")
    parser.add_argument("--llm_path", default=None, help="the LM of every LLMRec run (default: the YAML's)")
    parser.add_argument("--million_titles", type=int, default=1_000_000, help="titles of the million_items catalogue")
    parser.add_argument("--million_users", type=int, default=1000, help="users of the million_items dataset")
    parser.add_argument("--million_base", default="four_domains", choices=TRAIN_RUNGS,
                        help="the rung whose items and users the catalogue starts from (default %(default)s)")
    parser.add_argument("--million_chunk", type=int, default=4096, help="titles per encoding chunk")
    parser.add_argument("--million_steps", type=int, default=2, help="training steps timed per strategy")
    parser.add_argument("--ddp", action="store_true",
                        help="also LLMRec at the largest training rung in 2 gloo processes x 1 thread")
    parser.add_argument("--gpu_id", default="", help='RecBole gpu_id of every run (default "": CPU)')
    parser.add_argument("--checkpoint_dir", default="saved/scale",
                        help="checkpoints of the runs (relative: to the working directory)")
    args = common.parse_args(parser, argv)
    args.rungs = [r.strip() for r in args.rungs.split(",") if r.strip()]
    unknown = [r for r in args.rungs if r not in ALL_RUNGS]
    if unknown:
        parser.error(f"unknown rungs {unknown}; choose from {', '.join(ALL_RUNGS)}")
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    common.setup_logging()
    out = common.prepare_output(args.output, args.overwrite)
    live = not args.report_only

    def stored(name: str) -> bool:
        return (out / "runs" / f"{name}.json").exists()

    # measured: the rungs asked for (none with --report_only); reported: those and every stored rung
    rungs: Dict[str, Dict[str, Any]] = {}
    for name in TRAIN_RUNGS:
        if (live and name in args.rungs) or stored(f"{name}-LLMRec"):
            rung = training_rung(name, Path(args.data_path))
            rungs[name] = run_training_rung(rung, args, out, live and name in args.rungs)
    million = None
    if (live and MILLION in args.rungs) or stored(f"{MILLION}-encode"):
        million = run_million(args, out, live and MILLION in args.rungs)
    # DDP: the largest training rung asked for (with --ddp), and every rung with a stored DDP run
    asked = [name for name in TRAIN_RUNGS if name in args.rungs]
    target = asked[-1] if live and args.ddp and asked else None
    ddp: Dict[str, Dict[str, Any]] = {}
    for name in rungs:
        if name == target or stored(f"{name}-LLMRec-ddp2"):
            rung = training_rung(name, Path(args.data_path))
            ddp[name] = {"single": rungs[name].get("LLMRec"),
                         "ddp": run_ddp(rung, args, out, name == target)}
    report(out, args, rungs, million, ddp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
