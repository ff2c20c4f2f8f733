"""Batches: ``recommend --model_dir DIR --histories IN.jsonl --output OUT.jsonl``."""
import json

import pytest

from recbole_llmrec.export import export_checkpoint
from recbole_llmrec.recommend import main, recommend_file
from recbole_llmrec.serving.recommender import Recommender
from serving_helpers import train_tiny


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("batch")
    return export_checkpoint(train_tiny(root)["checkpoint"], str(root / "model"))


@pytest.fixture(scope="module")
def rec(folder):
    return Recommender.from_pretrained(folder)


def _histories(rec, n=200):
    """``n`` histories mixing item ids, titles, {"item_id": ...} entries and free text."""
    ids, titles = rec.catalogue.item_ids, rec.catalogue.titles
    rows = []
    for u in range(n):
        a, b, c = (7 * u) % len(ids), (11 * u + 3) % len(ids), (13 * u + 5) % len(ids)
        history = [ids[a], titles[b]] + ([{"item_id": ids[c]}] if u % 3 == 0 else [])
        if u % 5 == 0:
            history.append(f"a title nobody has seen {u % 2}")
        rows.append({"user": f"u{u}", "history": history})
    return rows


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def test_200_histories_give_200_lines_ranked_as_one_by_one(folder, rec, tmp_path):
    rows = _histories(rec)
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_jsonl(source, rows)
    assert main(["--model_dir", str(folder), "--histories", str(source), "--output", str(output),
                 "--topk", "5", "--chunk_size", "64"]) == 0
    lines = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 200 and [line["user"] for line in lines] == [r["user"] for r in rows]
    for line, row in zip(lines, rows):
        assert len(line["items"]) == 5 and set(line["items"][0]) == {"item_id", "title", "domain", "score"}
        assert not {item["item_id"] for item in line["items"]} & {e if isinstance(e, str) else e["item_id"]
                                                                  for e in row["history"]}
    for u in (0, 1, 5, 99, 199):  # one user at a time ranks the same
        single = rec.rank([rec.read_entry(e) for e in rows[u]["history"]], 5)
        assert [r.item_id for r in single] == [i["item_id"] for i in lines[u]["items"]]
        assert [r.score for r in single] == pytest.approx([i["score"] for i in lines[u]["items"]], abs=1e-5)


def test_item_ids_lines_and_include_history(rec, tmp_path):
    ids = rec.catalogue.item_ids
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_jsonl(source, [{"user": 1, "item_ids": ids[:2]}, {"user": 2, "item_ids": [ids[3]]}])
    summary = recommend_file(rec, str(source), str(output), k=600, include_history=True, progress=False)
    assert summary["users"] == 2 and summary["users_per_s"] > 0
    lines = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert [line["user"] for line in lines] == [1, 2]
    assert len(lines[0]["items"]) == 505 and set(ids[:2]) <= {i["item_id"] for i in lines[0]["items"]}


def test_existing_output_is_kept_without_overwrite(folder, rec, tmp_path, capsys):
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_jsonl(source, _histories(rec, 3))
    output.write_text("mine\n", encoding="utf-8")
    from recbole_llmrec.utils.cli_errors import run_cli

    argv = ["--model_dir", str(folder), "--histories", str(source), "--output", str(output)]
    assert run_cli(main, argv) == 2
    assert capsys.readouterr().err.strip() == f"error: {output} exists; pass --overwrite to replace it"
    assert output.read_text(encoding="utf-8") == "mine\n"
    assert run_cli(main, argv + ["--overwrite"]) == 0
    assert len(output.read_text(encoding="utf-8").splitlines()) == 3
