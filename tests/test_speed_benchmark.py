"""python -m benchmarks.llmrec_speed --quick: runs in seconds, prints and writes the three ratios (an old
dashed flag still works, with a warning)."""
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_quick_benchmark_prints_and_writes_the_three_ratios(tmp_path):
    out = tmp_path / "perf.json"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.llmrec_speed", "--quick", f"--output={out}", "--train-steps=2"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "--train-steps is deprecated" in proc.stderr
    for name in ("train_vs_backbone", "padding_efficiency", "eval_vs_bound"):
        assert f"ratio {name} = " in proc.stdout
    assert "examples/s" in proc.stdout and "real tokens/s" in proc.stdout
    assert "eval users/s: " in proc.stdout
    result = json.loads(out.read_text())
    ratios = result["ratios"]
    assert set(ratios) == {"train_vs_backbone", "padding_efficiency", "eval_vs_bound"}
    assert all(isinstance(v, float) and v > 0 for v in ratios.values())
    assert 0 < ratios["padding_efficiency"] <= 1
    assert [r["max_history"] for r in result["scaling"]["max_history"]] == [2, 5, 10]
    assert len(result["scaling"]["items"]) == len(result["scaling"]["max_title_tokens"]) == 3
    assert result["machine"]["cores"] >= 1 and result["wall_s"] > 0
