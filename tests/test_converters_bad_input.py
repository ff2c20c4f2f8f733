"""Broken-input corpus (tests/data/bad_input): every case has a decided behaviour."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

from dataset_converters import amazon

CORPUS = ROOT / "tests" / "data" / "bad_input"
CASES = sorted(p.parent.name for p in CORPUS.glob("*/case.json"))
PRE = "--preexisting-output"


def test_corpus_is_large_enough():
    assert len(CASES) >= 20


@pytest.mark.parametrize("name", CASES)
def test_bad_input_case(name, tmp_path, capsys):
    folder = CORPUS / name
    spec = json.loads((folder / "case.json").read_text())
    out = tmp_path / "out"
    args = [a for a in spec["args"] if a != PRE]
    if PRE in spec["args"]:
        (out / "ds").mkdir(parents=True)
        (out / "ds" / "keep.txt").write_text("old")
    argv = ["--input", str(folder), "--domains", *spec["domains"], "--output", str(out),
            "--name", "ds", "--kcore", "1", *args]
    rc = amazon.main(argv)
    err = capsys.readouterr().err
    if spec["expect"] == "error":
        assert rc == 2, err
        assert re.search(spec["match"], err), err
        assert err.startswith("error: ") and "Traceback" not in err
        if PRE in spec["args"]:  # untouched, nothing else written
            assert [p.name for p in out.iterdir()] == ["ds"]
            assert [p.name for p in (out / "ds").iterdir()] == ["keep.txt"]
        else:
            assert not out.exists(), "partial output left behind"
        return
    assert rc == 0, err
    stats = json.loads((out / "ds" / "ds.stats.json").read_text())
    for key, value in spec["stats"].items():
        if "." in key:
            domain, counter = key.split(".", 1)
            assert stats["input"][domain].get(counter, 0) == value, key
        else:
            assert stats[key] == value, key
    if "--per_domain" in args:
        written = {p.name for p in out.iterdir()}
        for d in spec["domains"]:
            assert (f"ds_{d}" in written) == (d not in stats["domains_empty_after_filtering"])
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []


def test_cleaned_title_survives_writing(tmp_path):
    folder = CORPUS / "tabs_newlines_quotes_title"
    assert amazon.main(["--input", str(folder), "--domains", "Beauty", "--output", str(tmp_path),
                        "--name", "ds", "--kcore", "1"]) == 0
    import csv
    with open(tmp_path / "ds" / "ds.item", newline="", encoding="utf-8") as fh:
        titles = [row[1] for row in csv.reader(fh, delimiter="\t")]
    assert 'A "B", \'C\' \\ D&E' in titles
