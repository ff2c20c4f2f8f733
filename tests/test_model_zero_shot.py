"""attach_dataset (zero-shot on another catalogue), RecBole's trainer loop, converter errors."""

import csv

import pytest
import torch
from model_helpers import ATOMIC_DIR, TINY_DATASET, first_batch, make_config, make_data, make_model


def _write_single_domain(root, domain):
    """A copy of tiny_mixed restricted to one domain, as a new atomic dataset under ``root``."""
    name = f"tiny_{domain.lower()}"
    out = root / name
    out.mkdir(parents=True)
    for ext in ("inter", "item"):
        src = ATOMIC_DIR / TINY_DATASET / f"{TINY_DATASET}.{ext}"
        with open(src, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f, delimiter="\t"))
        col = rows[0].index("domain:token")
        kept = [rows[0]] + [r for r in rows[1:] if r[col] == domain]
        with open(out / f"{name}.{ext}", "w", newline="", encoding="utf-8") as f:
            csv.writer(f, delimiter="\t").writerows(kept)
    return name


def test_attach_dataset_rebinds_catalogue(tmp_path, tiny_lms, tiny_data):
    dataset, _, valid, _ = tiny_data
    model = make_model(make_config(tiny_lms["bert"]), dataset).eval()
    with torch.no_grad():
        model.full_sort_predict(first_batch(valid))
    old_cache = model.items.table()

    name = _write_single_domain(tmp_path, "Beauty")
    from recbole.config import Config

    from model_helpers import MODEL_YAML, base_config_dict
    from recbole_llmrec.model import LLMRec

    config = Config(model=LLMRec, dataset=name, config_file_list=[str(MODEL_YAML)],
                    config_dict=base_config_dict(tiny_lms["bert"], data_path=str(tmp_path)))
    other, _, other_valid, _ = make_data(config)
    assert other.item_num < dataset.item_num
    model.attach_dataset(other)
    assert model.n_items == other.item_num
    with torch.no_grad():
        scores = model.full_sort_predict(first_batch(other_valid))
    assert scores.shape[1] == other.item_num
    assert model.items.table() is not old_cache
    assert torch.isfinite(scores[:, 1:]).all()
    # rebinding = building on the new catalogue: the same item vectors and the same scores
    fresh = make_model(config, other).eval()
    torch.testing.assert_close(model.items.table(), fresh.items.table())
    with torch.no_grad():
        torch.testing.assert_close(scores, fresh.full_sort_predict(first_batch(other_valid)))


def test_recbole_trainer_fit_and_evaluate(tiny_lms, tiny_data):
    from recbole.trainer import Trainer

    dataset, train, valid, test = tiny_data
    config = make_config(tiny_lms["bert"], epochs=1, eval_step=1, topk=[5], metrics=["Recall", "NDCG"],
                         valid_metric="NDCG@5")
    model = make_model(config, dataset)
    trainer = Trainer(config, model)
    best, _ = trainer.fit(train, valid, saved=False, show_progress=False)
    result = trainer.evaluate(test, load_best_model=False, show_progress=False)
    assert best is not None
    # RecBole's numbers equal a hand computation from the model's own full-sort scores
    model.eval()
    ndcg, recall, users = 0.0, 0.0, 0
    with torch.no_grad():
        for interaction, history_index, _, positive_i in test:
            scores = model.full_sort_predict(interaction).view(-1, dataset.item_num)
            scores[:, 0] = -float("inf")
            if history_index is not None:
                scores[history_index] = -float("inf")
            # the top 5 as RecBole's collector takes them (torch.topk: ties broken the same way)
            found = torch.topk(scores, 5, dim=-1).indices == positive_i.unsqueeze(1)
            hit = found.any(1)
            rank = found.float().argmax(1) + 1  # 1-based rank of the target among the top 5
            ndcg += (hit / torch.log2(rank.float() + 1)).sum().item()
            recall += hit.sum().item()
            users += len(positive_i)
    assert result["ndcg@5"] == pytest.approx(ndcg / users, abs=1e-4)
    assert result["recall@5"] == pytest.approx(recall / users, abs=1e-4)


def test_converter_rejects_non_gguf(tiny_lms, tmp_path):
    from recbole_llmrec.model.convert_gguf import convert
    from recbole_llmrec.model.text.resolve import resolve_llm_path

    with pytest.raises(ValueError, match="gguf"):
        convert(resolve_llm_path(str(tiny_lms["bert"])), tmp_path / "out")
