"""The generated results tables: every table of README.md and docs/ matches its result files, and a
changed number in a result file is caught, naming the table."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from benchmarks import table_specs
from benchmarks.tables import COMMAND, END, MARKER, ROOT, TableError, blocks, main, run
from recbole_llmrec.utils.result_files import read_result, write_result


def test_every_table_matches_its_result_files():
    """`python -m benchmarks.tables --check` (the exact command the documents name) exits 0."""
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-m", "benchmarks.tables", "--check"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr


def test_every_spec_has_its_block_and_every_block_its_spec():
    names = [t.name for t in table_specs.TABLES]
    assert len(names) == len(set(names))
    for doc in {t.doc for t in table_specs.TABLES}:
        with open(os.path.join(ROOT, doc), encoding="utf-8") as handle:
            text = handle.read()
        found = blocks(text.split("\n"), doc)
        assert set(found) == {t.name for t in table_specs.TABLES if t.doc == doc}
        assert text.count(MARKER) == len(found) and COMMAND == "python -m benchmarks.tables"


def _copy(tmp_path, table):
    for path in (table.doc,) + table.files:
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(os.path.join(ROOT, path), target)
        sidecar = os.path.join(ROOT, path[:-len(".json")] + ".rows.npz")
        if path.endswith(".json") and os.path.exists(sidecar):
            shutil.copy(sidecar, str(target)[:-len(".json")] + ".rows.npz")


def test_a_changed_number_in_a_summary_is_caught(tmp_path):
    table = next(t for t in table_specs.TABLES if t.name == "ablation")
    _copy(tmp_path, table)
    assert run(root=str(tmp_path), check=True, names=[table.name]) == []
    path = tmp_path / table.files[0]
    data = json.loads(path.read_text())
    data["rows"][0]["test_ndcg@10_full"] += 0.0100
    path.write_text(json.dumps(data))
    problems = run(root=str(tmp_path), check=True, names=[table.name])
    assert len(problems) == 1 and "'ablation' differs" in problems[0] and table.doc in problems[0]
    assert run(root=str(tmp_path), check=False, names=[table.name]) == []  # rendering fixes the document
    assert run(root=str(tmp_path), check=True, names=[table.name]) == []
    assert "0.0524" in (tmp_path / table.doc).read_text()


def test_a_changed_per_row_value_changes_the_interval(tmp_path):
    table = next(t for t in table_specs.TABLES if t.name == "seeds_open")
    _copy(tmp_path, table)
    assert run(root=str(tmp_path), check=True, names=[table.name]) == []
    path = str(tmp_path / table.files[-1])  # a SASRec run: its per-row values live in the sidecar
    result = read_result(path)
    ndcg = result["per_row"]["test"]["ndcg@10"]
    result["per_row"]["test"]["ndcg@10"] = [1.0 if i < 50 else v for i, v in enumerate(ndcg)]
    write_result(path, result)
    problems = run(root=str(tmp_path), check=True, names=[table.name])
    assert len(problems) == 1 and "'seeds_open' differs" in problems[0]


def test_missing_blocks_files_and_end_lines_are_named(tmp_path):
    table = next(t for t in table_specs.TABLES if t.name == "ablation")
    _copy(tmp_path, table)
    doc = tmp_path / table.doc
    text = doc.read_text()
    doc.write_text(text.replace("<!-- table: ablation -->", "<!-- table: renamed -->"))
    problems = run(root=str(tmp_path), check=True, names=[table.name])
    assert any("'ablation' is missing" in p for p in problems)
    assert any("'renamed' has no spec" in p for p in problems)
    doc.write_text(text)
    os.remove(tmp_path / table.files[0])
    with pytest.raises(TableError, match="result file benchmarks/results/llmrec_ablation/ablation.json is missing"):
        run(root=str(tmp_path), check=True, names=[table.name])
    with pytest.raises(TableError, match="no '<!-- end table -->'"):
        blocks([MARKER, "<!-- table: x -->", "| a |"], "doc.md")
    assert blocks([MARKER, "<!-- table: x -->", "| a |", END], "doc.md") == {"x": (2, 3)}


def test_cli_lists_the_tables(capsys):
    assert main(["--list"]) == 0
    out = capsys.readouterr().out
    assert "readme_main\tREADME.md" in out and "benchmark\tdocs/RESULTS.md" in out
