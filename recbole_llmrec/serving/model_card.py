"""A model folder's ``README.md``: a model card (YAML front matter a model hub reads, then the data, the
metrics beside baselines, and the commands that made the model)."""
from __future__ import annotations

from collections import Counter
from typing import Any, Dict, List, Sequence

#: Metrics shown in the card's table, in this order, when the run's result has them.
CARD_METRICS = ("ndcg@10", "hit@10", "mrr@10", "recall@10", "ndcg@20", "hit@20")


def _metrics_row(name: str, result: Dict[str, Any], metrics: Sequence[str]) -> str:
    values = result.get("test_result") or {}
    cells = [f"{values[m]:.4f}" if isinstance(values.get(m), (int, float)) else "" for m in metrics]
    return "| " + " | ".join([name] + cells) + " |"


def metrics_table(result: Dict[str, Any], baselines: Sequence[Dict[str, Any]]) -> List[str]:
    """Test metrics of this model's run and of each baseline run (RecBole result files)."""
    shown = [m for m in CARD_METRICS if m in (result.get("test_result") or {})]
    if not shown:
        shown = sorted(result.get("test_result") or {})[:6]
    if not shown:
        return []
    lines = ["| model | " + " | ".join(shown) + " |", "|---" * (len(shown) + 1) + "|",
             _metrics_row(f"**{result.get('model', 'this model')}** (this model)", result, shown)]
    lines += [_metrics_row(str(b.get("label") or b.get("model", "baseline")), b, shown) for b in baselines]
    return lines


def model_card(document: Dict[str, Any], rows: Sequence[Dict[str, Any]], info: Dict[str, Any]) -> str:
    """The card's Markdown. ``info``: ``result`` (this run's result dict), ``baselines`` (result dicts),
    ``command`` (the export command), ``train_command``."""
    model, dataset = document["model"], document.get("dataset", "")
    lm = document.get("lm", {})
    domains = Counter(row.get("domain") or "" for row in rows)
    trained = sum(1 for row in rows if row.get("trained"))
    front = ["---", "library_name: recbole-llmrec", "pipeline_tag: text-ranking",
             "tags: [recommendation, sequential-recommendation, recbole, llmrec]",
             f"datasets: [{dataset}]"]
    if lm.get("source") == "hub":
        front.append(f"base_model: {lm.get('llm_path')}")
    front.append("---")
    lines = front + ["", f"# {model} trained on {dataset}", "",
                     f"A {model} model (recbole-llmrec {document.get('plugin_version')}, model folder format "
                     f"{document.get('format_version')}): it ranks a catalogue of item titles for a history of "
                     "titles or item ids.", "", "## Data", "",
                     f"- dataset: `{dataset}`; catalogue: {len(rows)} items ({trained} with a training "
                     "interaction), `catalogue.jsonl`"]
    if any(domains):
        lines.append("- domains: " + ", ".join(f"{name or '(none)'} {count}" for name, count in
                                                sorted(domains.items())))
    lines.append(f"- language model: `{lm.get('llm_path')}`"
                 + (f" (weights SHA-256 `{lm['sha256'][:16]}…`)" if lm.get("sha256") else "")
                 + ("; copied into `lm/`" if lm.get("included") else "; referenced, not copied"))
    result = info.get("result")
    lines += ["", "## Metrics", ""]
    if result:
        lines += [f"Test split of `{result.get('dataset', dataset)}` (RecBole full ranking):", ""]
        lines += metrics_table(result, info.get("baselines") or [])
    else:
        lines.append("No run result was given to the export (`--result RUN.json`).")
    lines += ["", "## How it was made", ""]
    if info.get("train_command"):
        lines += [f"Trained with `{info['train_command']}` (every config entry is in `config.json`).", ""]
    if info.get("command"):
        lines += [f"Exported with `{info['command']}`.", ""]
    lines += ["## Use", "", "```bash",
              "python -m recbole_llmrec.recommend --model_dir DIR --history \"TITLE 1\" \"TITLE 2\" --topk 10",
              "python -m recbole_llmrec.recommend --model_dir DIR --histories IN.jsonl --output OUT.jsonl",
              "```", "", "```python", "from recbole_llmrec.serving.recommender import Recommender",
              "rec = Recommender.from_pretrained(\"DIR\")",
              "rec.recommend([\"TITLE 1\", \"TITLE 2\"], k=10)", "```", ""]
    return "\n".join(lines)
