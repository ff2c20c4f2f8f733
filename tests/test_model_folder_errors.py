"""Bad input to the model-folder commands: one ``error:`` line naming the file and what is wrong, exit 2,
nothing written."""
import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from recbole_llmrec import export as export_cli
from recbole_llmrec import recommend as recommend_cli
from recbole_llmrec.model import folder_io
from recbole_llmrec.utils.cli_errors import run_cli
from serving_helpers import train_tiny


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("errors")
    checkpoint = train_tiny(root)["checkpoint"]
    folder = root / "model"
    assert export_cli.main(["--checkpoint", checkpoint, "--output", str(folder)]) == 0
    return checkpoint, folder


@pytest.fixture
def copy(trained, tmp_path):
    """A copy of the model folder to damage."""
    target = tmp_path / "model"
    shutil.copytree(trained[1], target)
    return target


def _error(capsys, main, argv):
    capsys.readouterr()
    assert run_cli(main, argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()  # the LM's loading bar may come first
    assert [line for line in lines if line.startswith("error")] == lines[-1:] and "Traceback" not in err, lines
    return lines[-1]


def _recommend(folder, *extra):
    return ["--model_dir", str(folder), "--history", "Ticket To Ride", *extra]


def _truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def test_missing_folder_and_missing_file(trained, copy, capsys, tmp_path):
    line = _error(capsys, recommend_cli.main, _recommend(tmp_path / "nope"))
    assert line == f"error: model folder not found: {tmp_path / 'nope'}"
    line = _error(capsys, recommend_cli.main, _recommend(trained[0]))
    assert line.startswith(f"error: {trained[0]} is a file, not a model folder")
    (copy / "catalogue.jsonl").unlink()
    line = _error(capsys, recommend_cli.main, _recommend(copy))
    assert line.startswith(f"error: {copy / 'catalogue.jsonl'}: missing")


@pytest.mark.parametrize("name, expected", [
    ("config.json", "config.json: not valid JSON"),
    ("model.safetensors", "model.safetensors: not a readable safetensors file"),
    ("item_vectors.safetensors", "item_vectors.safetensors: not a readable safetensors file"),
    ("catalogue.jsonl", "catalogue.jsonl line "),
])
def test_truncated_files(copy, capsys, name, expected):
    _truncate(copy / name)
    line = _error(capsys, recommend_cli.main, _recommend(copy))
    assert expected in line and str(copy) in line


def test_catalogue_cut_at_a_line_end(copy, capsys):
    lines = (copy / "catalogue.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    (copy / "catalogue.jsonl").write_text("".join(lines[:100]), encoding="utf-8")
    line = _error(capsys, recommend_cli.main, _recommend(copy))
    assert line == f"error: {copy / 'catalogue.jsonl'}: 100 items, config.json says 505 (the file is truncated " \
                   "or from another folder)"


def test_newer_format_version(copy, capsys):
    config = json.loads((copy / "config.json").read_text(encoding="utf-8"))
    config["format_version"] = folder_io.FORMAT_VERSION + 1
    (copy / "config.json").write_text(json.dumps(config), encoding="utf-8")
    line = _error(capsys, recommend_cli.main, _recommend(copy))
    assert f"config.json: format_version {folder_io.FORMAT_VERSION + 1} is newer than this recbole-llmrec " \
           f"reads ({folder_io.FORMAT_VERSION})" in line


def test_vectors_of_the_wrong_size(copy, capsys):
    vectors = load_file(str(copy / "item_vectors.safetensors"))
    vectors["title_vectors"] = vectors["title_vectors"][:, :5].contiguous()
    save_file(vectors, str(copy / "item_vectors.safetensors"))
    line = _error(capsys, recommend_cli.main, _recommend(copy))
    assert line.startswith(f"error: {copy / 'item_vectors.safetensors'}: title_vectors has shape [506, 5]")
    # config.json agreeing with the file does not make it fit the model
    config = json.loads((copy / "config.json").read_text(encoding="utf-8"))
    config["vectors"]["title_vectors"] = [506, 5]
    (copy / "config.json").write_text(json.dumps(config), encoding="utf-8")
    line = _error(capsys, recommend_cli.main, _recommend(copy))
    assert "item_vectors.safetensors: title_vectors has shape [506, 5], the model reads" in line


def test_weights_of_the_wrong_size(copy, capsys):
    weights = load_file(str(copy / "model.safetensors"))
    name = next(k for k in weights if k.endswith("id_fusion.embedding.weight"))
    weights[name] = torch.zeros(3, 2)
    save_file(weights, str(copy / "model.safetensors"))
    line = _error(capsys, recommend_cli.main, _recommend(copy))
    assert line.startswith(f"error: {copy / 'model.safetensors'}: does not fit the model")


def test_unknown_item_ids_and_empty_histories(trained, capsys, tmp_path):
    folder = trained[1]
    line = _error(capsys, recommend_cli.main, ["--model_dir", str(folder), "--history_ids", "NO-SUCH-ID"])
    assert line.startswith("error: unknown item id 'NO-SUCH-ID': not in the catalogue (model folder")
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    argv = ["--model_dir", str(folder), "--histories", str(source), "--output", str(output)]
    source.write_text('{"user": 1, "history": ["Ticket To Ride"]}\n{"user": 2, "item_ids": ["NO-SUCH-ID"]}\n',
                      encoding="utf-8")
    assert _error(capsys, recommend_cli.main, argv).startswith(f"error: {source} line 2: unknown item id 'NO-SUCH-ID'")
    source.write_text('{"user": 1, "history": ["Ticket To Ride"]}\n\n{"user": 2, "history": []}\n', encoding="utf-8")
    assert _error(capsys, recommend_cli.main, argv) == f"error: {source} line 3: empty history for user 2"
    source.write_text('{"user": 1, "history": ["Ticket To Ride"]}\n{"user": 2, "hist', encoding="utf-8")
    assert _error(capsys, recommend_cli.main, argv).startswith(f"error: {source} line 2: not valid JSON")
    assert not output.exists() and not list(tmp_path.glob(".tmp-*"))


def test_export_refuses_existing_output_and_writes_nothing_on_failure(trained, capsys, tmp_path, monkeypatch):
    checkpoint, folder = trained
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    line = _error(capsys, export_cli.main, ["--checkpoint", checkpoint, "--output", str(folder)])
    assert line == f"error: {folder} exists; pass --overwrite to replace it"
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before
    other = tmp_path / "not_a_model"
    other.mkdir()
    (other / "notes.txt").write_text("keep me", encoding="utf-8")
    line = _error(capsys, export_cli.main, ["--checkpoint", checkpoint, "--output", str(other), "--overwrite"])
    assert line == f"error: {other} exists and is not a model folder: refusing to replace it"
    assert (other / "notes.txt").read_text(encoding="utf-8") == "keep me"
    bad_result = tmp_path / "run.json"
    bad_result.write_text('{"model": "LLMRec"', encoding="utf-8")
    line = _error(capsys, export_cli.main, ["--checkpoint", checkpoint, "--output", str(tmp_path / "a"),
                                            "--result", str(bad_result)])
    assert line.startswith(f"error: {bad_result}: not valid JSON")

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device", "item_vectors.safetensors")

    monkeypatch.setattr(folder_io, "save_file", fail)  # the disk fills while the folder is written
    line = _error(capsys, export_cli.main, ["--checkpoint", checkpoint, "--output", str(tmp_path / "b")])
    assert "No space left on device" in line
    assert not (tmp_path / "b").exists() and not list(tmp_path.glob(".tmp-*"))


def test_to_checkpoint_refuses_existing_output(trained, capsys, tmp_path):
    out = tmp_path / "x.pth"
    out.write_bytes(b"mine")
    line = _error(capsys, export_cli.main, ["--to_checkpoint", str(trained[1]), "--output", str(out)])
    assert line == f"error: {out} exists; pass --overwrite to replace it" and out.read_bytes() == b"mine"
