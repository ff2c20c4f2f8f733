"""Leave-one-domain-out: does what LLMRec learns transfer to a domain it never saw?

For each of four Amazon domains (2014 Beauty, Toys_and_Games, Clothing_Shoes_and_Jewelry; 2018 Video_Games),
LLMRec's default is trained on the other three (one mixed dataset from the converter: 5-core, a seeded
sample of ``--max_users`` users) and ranks the held-out domain zero-shot (a ``--target_users``-user 5-core
dataset of it alone). Per target: LLMRec with ``unseen_title_similarity_weight`` **cross-fitted** (the
median of the best validation weights over ``--grid`` of the *other* folds, never this target's data),
with the YAML weight 32 (for comparison), the trained part alone (title terms 0); TitleKNN, Pop (and
``--words_baseline``: TitleKNN with ``title_similarity_words``) and SASRec (unless ``--skip_sasrec``) on
the target; paired bootstrap differences against TitleKNN and Pop. Runs are cached in ``runs/`` (a killed
run resumes); ``--stages``/``--targets`` split the work between processes. The 2014 Clothing and 2018 Video
Games copies both number users ``U1..`` and items ``I1..``: the converter reads them with prefixed ids.

``python -m experiments.leave_one_domain_out [--targets clothing,videogames,beauty,toys]
[--max_users 2500] [--skip_sasrec] [--stages train,grid,baselines,final]``
"""
from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any, Dict, List, Optional

from dataset_converters import amazon
from experiments import common
from experiments.paired import compare_results
from recbole_llmrec.evaluation.calibration import calibrate
from recbole_llmrec.runs.harness import RunSpec
from recbole_llmrec.runs.transfer import load_pipeline

QUESTION = "leave_one_domain_out"
UNSEEN = "unseen_title_similarity_weight"
TITLE_KEYS = ("title_similarity_weight", UNSEEN, "cold_title_similarity_weight")
YAML_WEIGHT = 32.0
#: TitleKNN with ``title_similarity_words`` (``--words_baseline``): the LM and the word cosine of the last title
WORDS_BASELINE = "TitleKNN + words"
#: key -> release folder, raw domain name, held-out dataset, id prefix in the merged source copies
DOMAINS: Dict[str, Dict[str, str]] = {
    "beauty": {"release": "amazon2014", "domain": "Beauty", "target": "amazon_lodo_tgt_beauty",
               "prefix": ""},
    "toys": {"release": "amazon2014", "domain": "Toys_and_Games", "target": "amazon_lodo_tgt_toys",
             "prefix": ""},
    "clothing": {"release": "amazon2014", "domain": "Clothing_Shoes_and_Jewelry",
                 "target": "amazon_clothing", "prefix": "clo"},
    "videogames": {"release": "amazon2018", "domain": "Video_Games", "target": "amazon_videogames",
                   "prefix": "vg"},
}
ORDER = ("beauty", "toys", "clothing", "videogames")  # --domains order of the source datasets

def source_name(target: str) -> str:
    return f"amazon_lodo_src_no_{target}"


# ----------------------------------------------------------------------------------- data
def converter_input(raw: Path, keys: List[str]) -> List[str]:
    """The converter's ``--input`` folders and ``--id_prefix`` words for the domains ``keys``."""
    folders = list(dict.fromkeys(str(raw / DOMAINS[k]["release"]) for k in keys))
    prefixes = [f"{DOMAINS[k]['domain']}={DOMAINS[k]['prefix']}" for k in keys if DOMAINS[k]["prefix"]]
    return ["--input", *folders] + (["--id_prefix", *prefixes] if prefixes else [])


def convert(arguments: List[str]) -> None:
    """``python -m dataset_converters.amazon ARGUMENTS``, in this process."""
    common.logger.info("converter: %s", " ".join(arguments))
    if amazon.main(arguments) != 0:
        raise SystemExit(f"error: the converter failed: {' '.join(arguments)}")


def prepare_data(args, targets: List[str]) -> None:
    data, raw = Path(args.data_path), Path(args.raw)
    for target in targets:
        if not (data / source_name(target)).exists():
            keys = [k for k in ORDER if k != target]
            convert([*converter_input(raw, keys), "--domains", *(DOMAINS[k]["domain"] for k in keys),
                     "--kcore", "5", "--max_users", str(args.max_users), "--seed", str(args.seed),
                     "--output", str(data), "--name", source_name(target)])
        spec = DOMAINS[target]
        if not (data / spec["target"]).exists():
            convert(["--input", str(raw / spec["release"]), "--domains", spec["domain"],
                     "--kcore", "5", "--max_users", str(args.target_users), "--seed", str(args.seed),
                     "--output", str(data), "--name", spec["target"]])


# ------------------------------------------------------------------------------------ runs
def validation_grid(spec: RunSpec) -> Dict[str, Any]:
    """The harness task: score a checkpoint zero-shot on the target's validation split at every
    unseen-weight of ``options["grid"]``."""
    built, saved = load_pipeline(spec.options["checkpoint"], spec.dataset, None, spec.config_dict())
    fit = calibrate(built.model, built.valid_data, {UNSEEN: spec.options["grid"]}, "NDCG@10")
    groups = built.model.catalogue.item_groups()
    return {"dataset": spec.dataset, "trained_on": saved["dataset"], "split": "valid",
            "metric": "ndcg@10", "best_weight": fit.values[UNSEEN], "best_valid": fit.score,
            "grid": [{"weight": p[UNSEEN], "valid_ndcg@10": s} for p, s in fit.grid],
            "users": fit.users, "items": int(built.model.n_items),
            "unseen_items": int(groups["unseen"].sum()) if "unseen" in groups else None}


# ----------------------------------------------------------------------------------- main
def cross_fitted(target: str, grids: Dict[str, Optional[Dict[str, Any]]]) -> Optional[Dict[str, Any]]:
    """Median of the best validation weights of the finished folds other than ``target``."""
    others = {t: g["best_weight"] for t, g in grids.items() if t != target and g is not None}
    if not others:
        return None
    return {"weight": float(statistics.median(others.values())), "from_folds": others}


def main(argv: Optional[List[str]] = None) -> int:
    parser = common.base_parser(QUESTION, __doc__)
    parser.add_argument("--targets", default="clothing,videogames,beauty,toys",
                        help="held-out domains, in run order (of %s)" % ",".join(DOMAINS))
    parser.add_argument("--max_users", type=int, default=2500,
                        help="users sampled (seeded) from the three source domains' 5-core: the CPU cap")
    parser.add_argument("--target_users", type=int, default=2000, help="users of each held-out dataset")
    parser.add_argument("--grid", default="0,2,4,8,16,32,64", help="unseen-weight grid (validation)")
    parser.add_argument("--raw", default=str(common.REPO.parent / "shared" / "data"),
                        help="folder with amazon2014/ and amazon2018/ (default: %(default)s)")
    parser.add_argument("--title_cache", default="/tmp/title_cache", help="title_vector_cache folder")
    parser.add_argument("--stages", default="train,grid,baselines,final",
                        help="what to run (comma list): train, grid, baselines, final")
    parser.add_argument("--no_crossfit", action="store_true",
                        help="final stage: only the weight-0 and YAML-weight runs (e.g. while folds are "
                             "still training, so that no run waits for every fold)")
    parser.add_argument("--skip_sasrec", action="store_true", help="no SASRec on the targets")
    parser.add_argument("--words_baseline", type=float, default=None,
                        help="also run TitleKNN with title_similarity_words = this on each target")
    parser.add_argument("--prepare_only", action="store_true", help="build the datasets and stop")
    parser.add_argument("--skip_prepare", action="store_true",
                        help="build no dataset (another process is building them)")
    args = common.parse_args(parser, argv)
    common.setup_logging()
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = [t for t in targets if t not in DOMAINS]
    if unknown:
        raise SystemExit(f"error: unknown targets {unknown}; choose from {list(DOMAINS)}")
    grid = [float(w) for w in args.grid.split(",")]
    live = not args.report_only
    if args.prepare_only:
        prepare_data(args, targets)
        return 0
    out = Path(args.output)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    stages = set(args.stages.split(","))
    lm = {"title_vector_cache": args.title_cache}
    zero_shot = {"data_path": args.data_path, **lm}

    def run(name: str, stage: str, model: str, dataset: str, **kw: Any) -> Optional[Dict[str, Any]]:
        return common.run_cached(out, RunSpec(name, model, dataset, **kw), live and stage in stages)

    train: Dict[str, Any] = {}
    grids: Dict[str, Any] = {}
    for target in targets:  # folds: train, then the validation grid on the held-out domain
        if live and not args.skip_prepare:
            prepare_data(args, [target])  # built when its fold comes (the first one starts sooner)
        train[target] = common.run_cached(out, common.spec(args, f"LLMRec-train-no_{target}", "LLMRec",
                                                           source_name(target), **lm), live and "train" in stages)
        grids[target] = None
        if train[target] is not None:
            grids[target] = run(f"grid-no_{target}-valid-{target}", "grid", "LLMRec", DOMAINS[target]["target"],
                                config=zero_shot, task="experiments.leave_one_domain_out:validation_grid",
                                options={"checkpoint": train[target]["checkpoint"], "grid": grid})
    baselines: Dict[str, Dict[str, Any]] = {}
    for target in targets:  # baselines run on the target itself
        dataset = DOMAINS[target]["target"]
        models = {"TitleKNN": lm, "Pop": {}, **({} if args.skip_sasrec else {"SASRec": {}})}
        if args.words_baseline is not None:  # TitleKNN with the word part of the title similarity
            models[WORDS_BASELINE] = dict(lm, title_similarity_words=args.words_baseline)
        baselines[target] = {}
        for model, extra in models.items():
            name = f"TitleKNN-words-{target}" if model == WORDS_BASELINE else f"{model}-{target}"
            run_spec = common.spec(args, name, model.split(" ")[0], dataset, options={"saved": False}, **extra)
            baselines[target][model] = common.run_cached(out, run_spec, live and "baselines" in stages)
    evals: Dict[str, Dict[str, Any]] = {}
    weights: Dict[str, Any] = {}
    for target in targets:  # zero-shot test runs: cross-fitted weight, YAML weight, trained alone
        evals[target] = {}
        weights[target] = cross_fitted(target, grids)
        if train[target] is None:
            continue
        settings = {"alone": {k: 0.0 for k in TITLE_KEYS}, "yaml32": {UNSEEN: YAML_WEIGHT}}
        if weights[target] is not None and not (args.no_crossfit and live):
            settings["crossfit"] = {UNSEEN: weights[target]["weight"]}
        for label, values in settings.items():
            tag = "alone" if label == "alone" else "w" + f"{values[UNSEEN]:g}".replace(".", "p")
            evals[target][label] = run(f"LLMRec-no_{target}-on-{target}-{tag}", "final", "LLMRec",
                                       DOMAINS[target]["target"], config=dict(zero_shot, **values),
                                       task="evaluate", options={"checkpoint": train[target]["checkpoint"]})
    report(out, args, targets, train, grids, baselines, evals, weights, grid)
    return 0


def cpu_of(out: Path, name: str) -> Optional[float]:
    path = out / "runs" / f"{name}.cpu.json"
    return common.load_json(path)["cpu_s"] if path.exists() else None


def report(out, args, targets, train, grids, baselines, evals, weights, grid) -> None:
    rows: List[Dict[str, Any]] = []
    diffs: List[Dict[str, Any]] = []
    labels = {"crossfit": "LLMRec, cross-fitted unseen weight",
              "yaml32": "LLMRec, YAML weight 32 (tainted on clothing, videogames)",
              "alone": "LLMRec trained part alone (title terms 0)"}
    for target in targets:
        dataset = DOMAINS[target]["target"]
        results = {label: evals[target].get(key) for key, label in labels.items()}
        for model in ("TitleKNN", WORDS_BASELINE, "Pop", "SASRec"):
            if model in baselines[target]:
                results[f"{model} (on target)"] = baselines[target][model]
        w = weights[target]
        for label, result in results.items():
            row: Dict[str, Any] = {"target": target, "dataset": dataset, "model": label}
            if label.startswith("LLMRec"):
                row["trained_on"] = source_name(target)
                if "cross-fitted" in label and w is not None:
                    row["unseen_weight"] = w["weight"]
                    row["weight_from"] = ", ".join(f"{t}:{v:g}" for t, v in w["from_folds"].items())
                elif "YAML" in label:
                    row["unseen_weight"] = YAML_WEIGHT
                elif "alone" in label:
                    row["unseen_weight"] = 0.0
            row.update(common.result_fields(result))
            rows.append(row)
        knn, pop = results.get("TitleKNN (on target)"), results.get("Pop (on target)")
        words = results.get(f"{WORDS_BASELINE} (on target)")
        for label in labels.values():
            b = results.get(label)
            for ref_name, ref in (("TitleKNN", knn), ("Pop", pop), (WORDS_BASELINE, words)):
                if b is None or ref is None:
                    continue
                for metric in common.METRICS:
                    d = compare_results(ref, b, metric, seed=args.seed).as_dict()
                    diffs.append(dict(d, target=target, model=label, minus=ref_name, metric=metric,
                                      ratio=(d["mean_b"] / d["mean_a"]) if d["mean_a"] else None))
    folds = []
    for target in targets:
        t, g = train[target] or {}, grids[target] or {}
        folds.append({
            "target": target, "trained_on": source_name(target), "train_wall_s": t.get("wall_s"),
            "train_cpu_s": cpu_of(out, f"LLMRec-train-no_{target}") or t.get("cpu_s"),
            "best_valid_epoch_result": t.get("best_valid_result", {}).get("ndcg@10") if t else None,
            "source_stats": source_stats(args, target), "valid_grid": g.get("grid"),
            "best_weight_on_own_valid": g.get("best_weight"), "weight_used": weights[target],
            # the grid's one-pass scoring against RecBole's evaluator at the YAML weight
            "valid_at_32_grid": next((p["valid_ndcg@10"] for p in g.get("grid", [])
                                      if p["weight"] == YAML_WEIGHT), None),
            "valid_at_32_evaluator": ((evals[target].get("yaml32") or {}).get("best_valid_result")
                                      or {}).get("ndcg@10")})
    md = build_md(rows, diffs, folds, args, grid)
    common.write_report(out, "Leave-one-domain-out: zero-shot LLMRec vs TitleKNN and Pop", md,
                        rows + [dict(d, model_row="difference") for d in diffs],
                        {"rows": rows, "paired": diffs, "folds": folds, "seed": args.seed,
                         "max_users": args.max_users, "target_users": args.target_users,
                         "grid": grid})


def source_stats(args, target: str) -> Optional[Dict[str, Any]]:
    path = Path(args.data_path) / source_name(target) / f"{source_name(target)}.stats.json"
    if not path.exists():
        return None
    out = common.load_json(path).get("output") or {}
    return {"users": out.get("users"), "items": out.get("items"), "interactions": out.get("interactions"),
            "per_domain": {d: v.get("users") for d, v in (out.get("per_domain") or {}).items()}}


def build_md(rows, diffs, folds, args, grid) -> str:
    changed = common.overrides(args)
    recipe = ("LLMRec's default" if not changed else "LLMRec's default with "
              + ", ".join(f"`{k}: {v}`" for k, v in changed.items()))
    lines = [
        f"Each fold trains {recipe} (`properties/model/LLMRec.yaml`, seed "
        f"{args.seed}) on three domains (converter 5-core on the merged data, a seeded sample of "
        f"{args.max_users:,} users: the CPU cap) and ranks the fourth zero-shot: the held-out "
        f"domain's {args.target_users:,}-user 5-core dataset, full ranking, leave-one-out test "
        "split. TitleKNN, Pop and SASRec run on the held-out dataset itself.", "",
        "The unseen-item weight of the cross-fitted row is the median of the best validation "
        f"weights (grid {', '.join(f'{w:g}' for w in grid)}, NDCG@10) of the *other* folds, whose "
        "targets are this target's source domains; it is never fitted on this target's data. "
        "The YAML weight 32 was chosen on the Clothing and Video Games zero-shot validation "
        "splits: tainted for those two targets, shown for comparison.", "",
        common.md_table(rows, ["target", "model", "unseen_weight", "weight_from", "ndcg@10",
                               "recall@10", "wall_s", "status"]),
        "", "Paired differences (model - reference, bootstrap over the target's test rows, "
        "2,000 resamples) and ratios of means:", "",
        "| target | model | minus | metric | difference ± SE (95% CI) | ratio |",
        "|---|---|---|---|---|---:|",
    ]
    lines += [f"| {d['target']} | {d['model']} | {d['minus']} | {d['metric']} | {common.fmt_diff(d)} | "
              + ("–" if d["ratio"] is None else f"{d['ratio']:.2f}×") + " |" for d in diffs]
    lines += ["", "Folds (validation grid: zero-shot NDCG@10 on the fold's own held-out validation "
              "split, used only for the other folds' weights):", "",
              "| held out | trained on (users / items / interactions) | train wall s | train CPU s "
              "| best own-valid weight | valid NDCG@10 per weight | weight used (from folds) |",
              "|---|---|---:|---:|---:|---|---|"]
    for f in folds:
        s = f["source_stats"] or {}
        g = ", ".join(f"{p['weight']:g}: {p['valid_ndcg@10']:.4f}" for p in f["valid_grid"]) \
            if f["valid_grid"] else "not run"
        w = f["weight_used"]
        used = (f"{w['weight']:g} ({', '.join(f'{t}: {v:g}' for t, v in w['from_folds'].items())})"
                if w else "no other fold finished")
        lines.append(f"| {f['target']} | {s.get('users')} / {s.get('items')} / {s.get('interactions')} "
                     f"| {f['train_wall_s']} | {f['train_cpu_s']} | {f['best_weight_on_own_valid']} "
                     f"| {g} | {used} |")
    checks = [f"{f['target']}: {f['valid_at_32_grid']:.4f} vs {f['valid_at_32_evaluator']:.4f}"
              for f in folds if f["valid_at_32_grid"] is not None and f["valid_at_32_evaluator"] is not None]
    if checks:
        lines += ["", "Check of the one-pass grid against RecBole's evaluator (validation NDCG@10 at "
                  "weight 32, grid vs `--evaluate_checkpoint`): " + "; ".join(checks) + "."]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
