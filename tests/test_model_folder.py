"""Model folders: export from a checkpoint, load anywhere without the dataset, rank exactly as the
checkpoint, back to a RecBole checkpoint, and evaluated zero-shot by RecBole's flow."""
import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors import safe_open

from model_helpers import ATOMIC_DIR, REPO_DIR, build_tiny_lm
from recbole_llmrec.export import export_checkpoint
from recbole_llmrec.export import main as export_main
from recbole_llmrec.model.folder_io import FORMAT_VERSION, read_config
from recbole_llmrec.runs.quick_start import main as quick_start_main
from recbole_llmrec.runs.transfer import evaluate_checkpoint
from recbole_llmrec.serving.model_folder import load_model_folder
from recbole_llmrec.serving.recommender import Recommender
from serving_helpers import AMAZON_LAYOUT, train_tiny

FILES = {"config.json", "model.safetensors", "catalogue.jsonl", "item_vectors.safetensors", "README.md"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The default LLMRec (sequence encoder, frozen LM) trained one epoch on tiny_mixed, with its result file."""
    root = tmp_path_factory.mktemp("llmrec")
    result = train_tiny(root)
    (root / "run.json").write_text(json.dumps(result), encoding="utf-8")
    return result, root


@pytest.fixture(scope="module")
def folder(trained):
    result, root = trained
    (root / "Pop.json").write_text(json.dumps({"model": "Pop", "test_result": {"ndcg@10": 0.0123}}), encoding="utf-8")
    return export_checkpoint(result["checkpoint"], str(root / "model"), result=str(root / "run.json"),
                             baselines=[str(root / "Pop.json")])


def _same_ranking(a, b, histories, k=10):
    for history in histories:
        ra, rb = a.recommend(history, k), b.recommend(history, k)
        assert [r.item_id for r in ra] == [r.item_id for r in rb], history
        assert [r.score for r in ra] == pytest.approx([r.score for r in rb], abs=1e-5)


def test_folder_files_config_and_card(trained, folder):
    result, _ = trained
    assert FILES <= {p.name for p in folder.iterdir()}
    config = read_config(folder)
    assert config["format_version"] == FORMAT_VERSION and config["model"] == "LLMRec"
    assert config["items"] == 505 and config["settings"]["user_encoder"] == "sequence"
    assert config["other_parameter"]["scoring_values"]["title_similarity_weight"] is not None
    assert len(config["lm"]["sha256"]) == 64 and config["lm"]["included"] is False
    with safe_open(str(folder / "model.safetensors"), "pt") as weights:
        keys = list(weights.keys())
    assert keys and not [k for k in keys if k.startswith("text.lm.backbone.")]  # the frozen LM is referenced
    with safe_open(str(folder / "item_vectors.safetensors"), "pt") as vectors:
        assert vectors.get_slice("title_vectors").get_shape()[0] == 506
    rows = [json.loads(line) for line in (folder / "catalogue.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 505 and set(rows[0]) == {"item_id", "title", "domain", "trained"}
    assert 0 < sum(r["trained"] for r in rows) < 505
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert card.startswith("---\nlibrary_name: recbole-llmrec")
    assert f"{result['test_result']['ndcg@10']:.4f}" in card and "| Pop | 0.0123 |" in card


def test_folder_ranks_as_the_checkpoint_from_another_directory(trained, folder, tmp_path, monkeypatch):
    result, _ = trained
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    from_folder = Recommender.from_pretrained(folder)
    assert from_folder.dataset is None and from_folder.vectors_from_cache
    from_checkpoint = Recommender.from_checkpoint(result["checkpoint"], use_cache=False)
    titles = from_folder.catalogue.titles
    _same_ranking(from_folder, from_checkpoint,
                  [titles[:3], titles[100:105], ["a title nobody has seen", titles[7]], [titles[42]]])
    ids = from_folder.catalogue.item_ids[10:14]
    assert [r.item_id for r in from_folder.recommend_ids(ids, 5)] == \
        [r.item_id for r in from_checkpoint.recommend_ids(ids, 5)]


def test_recommend_cli_with_model_dir_in_a_fresh_process(folder, tmp_path):
    titles = [json.loads(line)["title"] for line in (folder / "catalogue.jsonl").open(encoding="utf-8")][:2]
    env = dict(os.environ, PYTHONPATH=str(REPO_DIR))
    proc = subprocess.run([sys.executable, "-m", "recbole_llmrec.recommend", "--model_dir", str(folder),
                           "--history", *titles, "--topk", "4", "--json"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert len(out["recommendations"]) == 4 and not {r["title"] for r in out["recommendations"]} & set(titles)
    assert list(tmp_path.iterdir()) == []  # nothing written beside it (no log/, no cache)


def test_another_catalogue_from_a_folder(folder, tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("item_id,title,domain\nG1,Super Mario Kart for Nintendo,Games\n"
                    "G2,Lavender Bath Salts,Beauty\nG3,Wooden Train Set,Toys\n", encoding="utf-8")
    rec = Recommender.from_pretrained(folder, catalogue=str(path), cache_dir=str(tmp_path / "cache"))
    recs = rec.recommend(["Wooden Train Set", "a title nobody has seen"], k=10)
    assert {r.item_id for r in recs} == {"G1", "G2"}
    again = Recommender.from_pretrained(folder, catalogue=str(path), cache_dir=str(tmp_path / "cache"))
    assert again.vectors_from_cache


def test_title_knn_exports_and_ranks_as_its_checkpoint(tmp_path):
    result = train_tiny(tmp_path, model="TitleKNN")
    folder = export_checkpoint(result["checkpoint"], str(tmp_path / "knn"))
    assert read_config(folder)["model"] == "TitleKNN"
    from_folder = Recommender.from_pretrained(folder)
    from_checkpoint = Recommender.from_checkpoint(result["checkpoint"], use_cache=False)
    titles = from_folder.catalogue.titles
    _same_ranking(from_folder, from_checkpoint, [titles[:2], ["a title nobody has seen"]])


def test_trained_lm_is_saved_and_include_lm_copies_the_lm(tmp_path):
    lm = build_tiny_lm("bert", tmp_path / "lm_to_delete")
    result = train_tiny(tmp_path, lm=lm, user_encoder="sentence", tuning="full")
    folder = export_checkpoint(result["checkpoint"], str(tmp_path / "sentence"), include_lm=True)
    config = read_config(folder)
    assert config["lm"]["included"] and (folder / "lm" / "config.json").is_file()
    with safe_open(str(folder / "model.safetensors"), "pt") as weights:  # the LM trained: its weights are saved
        assert any(k.startswith("text.lm.backbone.") for k in weights.keys())
    before = Recommender.from_checkpoint(result["checkpoint"], use_cache=False)
    history = before.catalogue.titles[:3]
    expected = before.recommend(history, 5)
    shutil.rmtree(lm)  # the folder needs nothing outside itself
    got = Recommender.from_pretrained(folder).recommend(history, 5)
    assert [r.item_id for r in got] == [r.item_id for r in expected]
    assert [r.score for r in got] == pytest.approx([r.score for r in expected], abs=1e-5)


def test_moved_lm_is_found_by_llm_path_and_checked(trained, folder, tmp_path):
    _, root = trained
    moved = tmp_path / "moved_lm"
    shutil.copytree(root / "bert", moved)
    history = [json.loads(line)["title"] for line in (folder / "catalogue.jsonl").open(encoding="utf-8")][:2]
    expected = Recommender.from_pretrained(folder).recommend(history, 5)
    got = Recommender.from_pretrained(folder, llm_path=str(moved)).recommend(history, 5)
    assert [r.item_id for r in got] == [r.item_id for r in expected]
    other = build_tiny_lm("bert", tmp_path / "other_lm")  # same architecture, other weights
    other_weights = next(other.glob("*.safetensors"))
    other_weights.write_bytes(other_weights.read_bytes()[:-8] + bytes(8))
    with pytest.raises(ValueError, match="has weights of SHA-256"):
        Recommender.from_pretrained(folder, llm_path=str(other))


def test_changed_lm_is_refused(trained, folder, tmp_path):
    _, root = trained
    copy = tmp_path / "model"
    shutil.copytree(folder, copy)
    config = json.loads((copy / "config.json").read_text(encoding="utf-8"))
    config["lm"]["sha256"] = "0" * 64
    (copy / "config.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(ValueError, match="config.json: the LM at .* SHA-256"):
        load_model_folder(copy)


def test_evaluate_checkpoint_accepts_a_folder(trained, folder, tmp_path):
    result, _ = trained
    overrides = {"data_path": str(ATOMIC_DIR), "checkpoint_dir": str(tmp_path / "saved")}
    from_file = evaluate_checkpoint(result["checkpoint"], "tiny_videogames", [AMAZON_LAYOUT], overrides)
    from_folder = evaluate_checkpoint(str(folder), "tiny_videogames", [AMAZON_LAYOUT], overrides)
    assert from_folder["trained_on"] == "tiny_mixed"
    for key, value in from_file["test_result"].items():
        assert from_folder["test_result"][key] == pytest.approx(value, abs=1e-6), key
    out = tmp_path / "zero_shot.json"  # the same through run_recbole_llmrec.py's flags
    assert quick_start_main([f"--evaluate_checkpoint={folder}", "--dataset=tiny_videogames",
                             f"--config_files={AMAZON_LAYOUT}", f"--data_path={ATOMIC_DIR}",
                             f"--checkpoint_dir={tmp_path / 'saved'}", f"--result_file={out}"]) == 0
    assert json.loads(out.read_text(encoding="utf-8"))["test_result"] == from_folder["test_result"]


LOAD_SCRIPT = textwrap.dedent("""
    import json, sys
    import recbole_llmrec  # noqa: F401
    from recbole.quick_start import load_data_and_model
    from recbole.utils import get_trainer

    config, model, dataset, train_data, valid_data, test_data = load_data_and_model(sys.argv[1])
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    print(json.dumps(dict(trainer.evaluate(test_data, load_best_model=False))))
""")


def test_to_checkpoint_loads_with_recbole(trained, folder, tmp_path):
    result, _ = trained
    out = tmp_path / "back.pth"
    assert export_main(["--to_checkpoint", str(folder), "--output", str(out)]) == 0
    env = dict(os.environ, PYTHONPATH=str(REPO_DIR))
    proc = subprocess.run([sys.executable, "-c", LOAD_SCRIPT, str(out)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads(proc.stdout.strip().splitlines()[-1])
    for key, value in result["test_result"].items():
        assert metrics[key] == pytest.approx(value, abs=1e-4), key


def test_save_pretrained_and_from_pretrained(trained, tmp_path):
    from recbole_llmrec.model.llmrec import LLMRec
    from recbole_llmrec.model.title_knn import TitleKNN
    from recbole_llmrec.serving.recommender import load_checkpoint_pipeline

    result, _ = trained
    model = load_checkpoint_pipeline(result["checkpoint"]).model  # built the RecBole way
    folder = model.save_pretrained(tmp_path / "saved_model")
    assert {"config.json", "model.safetensors", "catalogue.jsonl", "item_vectors.safetensors"} <= \
        {p.name for p in folder.iterdir()}
    with pytest.raises(FileExistsError, match="--overwrite"):
        model.save_pretrained(folder)
    loaded = LLMRec.from_pretrained(folder)
    seq = torch.tensor([[3, 17, 40, 0, 0], [8, 0, 0, 0, 0]])
    length = torch.tensor([3, 1])
    with torch.no_grad():
        expected = model.top_items(seq, length, 10)
        got = loaded.top_items(seq, length, 10)
    assert torch.equal(got[1], expected[1]) and torch.allclose(got[0], expected[0], atol=1e-5)
    again = loaded.save_pretrained(tmp_path / "again")  # a folder's model saves again (from_catalogue)
    assert read_config(again)["items"] == 505
    with pytest.raises(ValueError, match="holds a LLMRec, not a TitleKNN"):
        TitleKNN.from_pretrained(folder)
