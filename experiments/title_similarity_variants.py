"""What can title similarity alone reach on an unseen domain? Training-free variants of TitleKNN.

TitleKNN ranks by the cosine of the frozen LM's title vectors with the user's last title. This
experiment measures, on each leave-one-domain-out target (``python -m experiments.leave_one_domain_out``),
variants that need nothing but the titles of the catalogue being ranked and the user's history:

* ``whiten<a>``: the catalogue's unit title vectors centred and multiplied by ``C^(-a/2)`` (``C``:
  their covariance; a = 1 is ZCA whitening, WhitenRec), then the last-title cosine;
* ``hub<b>``: the last-title cosine minus ``b`` x each candidate's mean cosine to its 10 nearest
  catalogue titles (CSLS: titles close to everything are pushed down);
* ``softmax_d<d>_t<t>``: ``(1/t) log sum_j d^age_j exp(t cos(h_j, c))`` over the history's titles
  (age 0: the last one): a soft maximum that rewards a candidate close to *any* recent title.

No variant is chosen on a target's own data: each target's variant is the one with the best mean
validation ratio to TitleKNN on the *other* targets (cross-fitted), and its test NDCG@10 is
compared with TitleKNN's over the same test rows (paired bootstrap). It bounds what a learned
model that only re-weights title similarity can add zero-shot.

``python -m experiments.title_similarity_variants [--datasets ...] [--title_vector_cache DIR]``
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional

import torch

from experiments import common
from experiments.paired import paired_difference
from recbole_llmrec.runs.harness import RunSpec
from recbole_llmrec.runs.pipeline import build

QUESTION = "title_similarity_variants"
TARGETS = ("amazon_clothing", "amazon_videogames", "amazon_lodo_tgt_beauty", "amazon_lodo_tgt_toys")
WHITEN = (0.25, 0.5, 1.0)
HUB = (0.25, 0.5, 1.0)
HUB_NEIGHBOURS = 10
SOFT_DECAY = (0.3, 0.5, 0.7, 1.0)
SOFT_TEMPERATURE = (5.0, 10.0, 20.0, 40.0)
USERS_PER_STEP = 64  # the soft maximum holds [users, history, items] scores


def catalogue_statistics(units: torch.Tensor) -> Dict[str, torch.Tensor]:
    """Hubness (mean cosine to the 10 nearest other titles) and the whitened catalogues, from the
    unit title vectors [N, H] (row 0: padding, zero)."""
    n = units.shape[0]
    hub = torch.zeros(n)
    for start in range(1, n, 2048):
        sims = units[start:start + 2048] @ units.T
        rows = torch.arange(start, min(start + 2048, n))
        sims[:, 0] = -1.0
        sims[rows - start, rows] = -1.0
        hub[start:start + 2048] = sims.topk(HUB_NEIGHBOURS, dim=1).values.mean(1)
    real = units[1:]
    mean = real.mean(0)
    values, vectors = torch.linalg.eigh(torch.cov((real - mean).T) + 1e-6 * torch.eye(real.shape[1]))
    stats = {"hub": hub}
    for a in WHITEN:
        transform = vectors @ torch.diag(values.clamp(min=1e-6) ** (-a / 2)) @ vectors.T
        white = torch.zeros_like(units)
        white[1:] = torch.nn.functional.normalize((real - mean) @ transform, dim=-1)
        stats[f"whiten{a}"] = white
    return stats


def variant_scores(units: torch.Tensor, stats: Dict[str, torch.Tensor], seq: torch.Tensor,
                   length: torch.Tensor) -> Dict[str, torch.Tensor]:
    """Every variant's scores [B, N] for histories ``seq`` [B, L] (left-aligned, oldest first)."""
    rows = torch.arange(seq.shape[0])
    last = seq[rows, length - 1]
    out = {"last": units[last] @ units.T}
    for a in WHITEN:
        white = stats[f"whiten{a}"]
        out[f"whiten{a}"] = white[last] @ white.T
    for b in HUB:
        out[f"hub{b}"] = out["last"] - b * stats["hub"]
    sims = units[seq] @ units.T  # [B, L, N]
    slots = torch.arange(seq.shape[1])
    age = (length.unsqueeze(1) - 1 - slots).clamp(min=0).float()
    real = (seq > 0) & (slots.unsqueeze(0) < length.unsqueeze(1))
    for d in SOFT_DECAY:
        log_weight = (age * math.log(d)).masked_fill(~real, -1e9).unsqueeze(-1)
        for t in SOFT_TEMPERATURE:
            out[f"softmax_d{d}_t{int(t)}"] = torch.logsumexp(t * sims + log_weight, dim=1) / t
    return out


def row_ndcg(scores: torch.Tensor, target: torch.Tensor, k: int = 10) -> torch.Tensor:
    """NDCG@k [B] of one target item per row (leave-one-out)."""
    top = scores.topk(k, dim=1).indices
    hit = top == target.unsqueeze(1)
    discount = 1.0 / torch.log2(torch.arange(2, k + 2, dtype=torch.float64))
    return (hit.double() * discount).sum(1)


def measure(spec: RunSpec) -> Dict[str, Any]:
    """The harness task: per-row test NDCG@10 and mean validation NDCG@10 of every variant on the
    spec's dataset (the harness adds its wall time)."""
    dataset = spec.dataset
    pipeline = build("TitleKNN", dataset, config_dict=spec.config_dict(), init_logging=False, with_trainer=False)
    model = pipeline.model.eval()
    units = torch.nn.functional.normalize(model.catalogue.title_vectors().float(), dim=-1)
    units[0] = 0.0
    stats = catalogue_statistics(units)
    result: Dict[str, Any] = {"dataset": dataset, "items": int(units.shape[0] - 1)}
    with torch.no_grad():
        for split, data in (("valid", pipeline.valid_data), ("test", pipeline.test_data)):
            per_row: Dict[str, List[float]] = {}
            for interaction, history, pos_u, pos_i in data:
                seq, length = interaction[model.ITEM_SEQ], interaction[model.ITEM_SEQ_LEN].long()
                mask = torch.zeros(seq.shape[0], units.shape[0], dtype=torch.bool)
                mask[:, 0] = True
                if history is not None:
                    mask[history[0], history[1]] = True
                target = torch.zeros(seq.shape[0], dtype=torch.long)
                target[pos_u] = pos_i
                for lo in range(0, seq.shape[0], USERS_PER_STEP):
                    part = slice(lo, lo + USERS_PER_STEP)
                    for name, scores in variant_scores(units, stats, seq[part], length[part]).items():
                        scores = scores.masked_fill(mask[part], -math.inf)
                        per_row.setdefault(name, []).extend(row_ndcg(scores, target[part]).tolist())
            result[split] = {name: sum(v) / len(v) for name, v in per_row.items()}
            result[f"{split}_users"] = len(per_row["last"])
            if split == "test":
                result["test_rows"] = per_row
    return result


def cross_fitted(results: Dict[str, Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Per target: the variant best on the other targets' validation (mean ratio to ``last``),
    its test NDCG@10 and the paired difference with TitleKNN (``last``)."""
    rows = []
    names = list(next(iter(results.values()))["valid"])
    for target, result in results.items():
        others = [r for d, r in results.items() if d != target]

        def ratio(name: str) -> float:
            return sum(r["valid"][name] / r["valid"]["last"] for r in others) / len(others)

        chosen = max(names, key=lambda n: (ratio(n), n == "last"))
        rows_test = result["test_rows"]
        diff = paired_difference(rows_test["last"], rows_test[chosen])
        rows.append({"target": target, "chosen": chosen, "source_valid_ratio": round(ratio(chosen), 3),
                     "TitleKNN": result["test"]["last"], "variant": result["test"][chosen],
                     "ratio": round(result["test"][chosen] / result["test"]["last"], 3),
                     "diff": common.fmt_diff(diff.as_dict()), "users": result["test_users"]})
    return rows


def family_table(results: Dict[str, Dict[str, Any]]) -> str:
    """Every variant's test and validation ratio to TitleKNN per target (no choice is made from it)."""
    targets = list(results)
    names = list(next(iter(results.values()))["valid"])
    lines = ["| variant | " + " | ".join(f"{t} valid / test" for t in targets) + " |",
             "|---|" + "---:|" * len(targets)]
    for name in names:
        cells = [f"{r['valid'][name] / r['valid']['last']:.3f} / {r['test'][name] / r['test']['last']:.3f}"
                 for r in results.values()]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    parser = common.base_parser(QUESTION, __doc__)
    parser.add_argument("--datasets", nargs="+", default=list(TARGETS), help="the targets (at least 2)")
    parser.add_argument("--title_vector_cache", default=None,
                        help="folder of cached title vectors (shared with LLMRec and TitleKNN runs)")
    args, out = common.start(parser, argv)
    if len(args.datasets) < 2:
        parser.error("--datasets needs at least 2 targets: each is cross-fitted on the others")
    results: Dict[str, Dict[str, Any]] = {}
    for dataset in args.datasets:
        run = common.spec(args, dataset, "TitleKNN", dataset, task="experiments.title_similarity_variants:measure",
                          title_vector_cache=args.title_vector_cache, show_progress=False)
        result = common.run_cached(out, run, not args.report_only)
        if result is not None:
            results[dataset] = result
    if len(results) < 2:
        raise SystemExit("error: fewer than 2 targets measured; nothing to cross-fit")
    rows = cross_fitted(results)
    body = ("Test NDCG@10 (full ranking, leave-one-out split) of TitleKNN (the last-title cosine) and of the "
            "training-free variant chosen for each target on the *other* targets' validation splits "
            "(mean ratio to TitleKNN); paired difference variant − TitleKNN over the same test rows "
            "(bootstrap SE, 95% CI).\n\n"
            + common.md_table(rows, ["target", "chosen", "source_valid_ratio", "TitleKNN", "variant",
                                     "ratio", "diff", "users"])
            + "\n\nEvery variant's ratio to TitleKNN, validation / test, per target (shown, not chosen from):\n\n"
            + family_table(results)
            + "\n\nSeconds per target (LM vectors from the cache, every variant, both splits): "
            + ", ".join(f"{d} {r['wall_s']}" for d, r in results.items()) + ".")
    payload = {"rows": rows, "results": {d: {k: v for k, v in r.items() if k != "test_rows"}
                                         for d, r in results.items()}}
    common.write_report(out, "Title similarity alone on unseen domains: training-free variants",
                        body, rows, payload)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
