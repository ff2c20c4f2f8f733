"""python -m benchmarks.scale: the tiny rung end to end (child process per measurement through the
harness, report files and fields, refusal to overwrite), and the pure pieces (composite catalogue,
log-log slope, epoch cap)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import scale as scale_module

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def scale():
    return scale_module


def _run(args, cwd):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "benchmarks.scale", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_tiny_rung_writes_the_report(tmp_path, tiny_lms):
    out = tmp_path / "out"
    args = ["--rungs", "tiny", "--skip_sasrec", "--threads", "1", "--llm_path", str(tiny_lms["bert"]),
            "--output", str(out), "--data_path", str(tmp_path / "data"),
            "--checkpoint_dir", str(tmp_path / "saved")]
    proc = _run(args, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("results.md", "results.csv", "results.json"):
        assert (out / name).stat().st_size > 0, name
    result = json.loads((out / "results.json").read_text())
    row = result["rows"][0]
    assert row["rung"] == "tiny" and row["threads"] == 1
    assert (row["users"], row["items"], row["interactions"]) == (36, 505, 530)
    assert row["llmrec_titles"] == 506 and row["llmrec_title_encode_s"] > 0
    assert row["llmrec_s_per_epoch"] > 0 and row["llmrec_examples_per_s"] > 0
    assert row["llmrec_valid_eval_s"] > 0 and row["llmrec_epochs"] == 2
    assert 0 <= row["llmrec_ndcg@10"] <= 1 and row["llmrec_peak_rss_mib"] > 0
    assert row["sasrec_s_per_epoch"] is None  # --skip_sasrec
    assert result["slopes"] == {"LLMRec": None, "SASRec": None}  # one rung: no slope
    assert result["peak_rss_within_8gib"] is True
    assert result["machine"]["cpu"] and result["machine"]["cores"] >= 1
    md = (out / "results.md").read_text()
    assert "Runs measured on: " in md and "threads" in md and "log-log slope" in md and "8 GiB" in md
    stored = json.loads((out / "runs" / "tiny-LLMRec.json").read_text())
    assert stored["machine"] == result["machine"]  # each run records its CPU; the report names it
    assert stored["spec"]["threads"] == 1 and stored["torch_threads"] == 1
    assert stored["timing"]["title_encodes"][0]["titles"] == 506
    # an existing report is not replaced without --overwrite (checked before anything runs)
    again = _run(["--report_only", "--output", str(out)], tmp_path)
    assert again.returncode != 0 and "--overwrite" in again.stderr
    # every rung with a stored DDP run is reported beside its single-process run (here: the same run
    # stored under the DDP name, so the ratio is 1 and the differences 0)
    (out / "runs" / "tiny-LLMRec-ddp2.json").write_text(json.dumps(stored))
    proc = _run(["--report_only", "--overwrite", "--output", str(out)], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "results.json").read_text())["ddp"]["tiny"]
    assert summary["examples_per_s_ratio"] == 1.0 and set(summary["test_diff"].values()) == {0.0}
    assert "## DDP at tiny" in (out / "results.md").read_text()


def test_composite_catalogue_rule(scale):
    real = ["b", "a | x", "c", "a", "c"]  # duplicates and the first separator inside a title
    cat = scale.CompositeCatalogue(real, 5 + 6)  # n = 4 distinct titles: 12 composites at most
    assert cat.separator == " || " and cat.distinct == ["a", "a | x", "b", "c"]
    titles = cat[0:11]
    assert titles[:5] == real
    assert titles[5:] == ["a || a | x", "a | x || b", "b || c", "c || a", "a || b", "a | x || c"]
    assert len(set(titles[5:])) == 6 and not set(titles[5:]) & set(real)
    with pytest.raises(ValueError):
        scale.CompositeCatalogue(real, 5 + 13)
    with pytest.raises(ValueError):
        scale.CompositeCatalogue(real, 4)


def test_catalogue_rows(scale):
    rows = scale.catalogue_rows(["x2", "SCALE0000001", "x0", "SCALE0000000"], ["x0", "x1", "x2"])
    assert rows.tolist() == [2, 4, 0, 3]


def test_loglog_slope_and_epoch_cap(scale):
    assert scale.loglog_slope([1e4, 1e5, 1e6], [2.0, 20.0, 200.0]) == pytest.approx(1.0)
    assert scale.loglog_slope([1e4], [2.0]) is None
    converged = {"wall_time_s": 100.0, "timing": {"train_epochs": [{"s": 10.0}] * 5, "valid_epochs": [6.0] * 5}}
    # fixed part 100 - 50 - 30 = 20 s, then 16 s per epoch
    assert scale.epochs_within(60.0, converged) == 2
    assert scale.epochs_within(1.0, converged) == 1
    assert scale.epochs_within(1e9, converged) == 5


def test_seconds_per_epoch_leave_out_the_title_encoding_of_the_first_step(scale):
    """LLMRec encodes its catalogue lazily, inside the first training step: the first epoch's timer
    holds that encoding, which the ladder reports apart."""
    result = {"timing": {"train_epochs": [{"s": 150.0, "examples": 100}, {"s": 90.0, "examples": 100}],
                         "valid_epochs": [2.0, 2.0], "test_evals": [3.0], "calibration_s": [],
                         "title_encodes": [{"s": 60.0, "titles": 500}]}}
    stats = scale.epoch_stats(result)
    assert stats["s_per_epoch"] == 90.0 and stats["examples_per_s"] == round(200 / 180.0, 1)
    assert stats["title_encode_s"] == 60.0
    sasrec = {"timing": dict(result["timing"], title_encodes=[])}
    assert scale.epoch_stats(sasrec)["s_per_epoch"] == 120.0
