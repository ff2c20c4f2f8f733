"""recbole_llmrec.runs.harness: a run described as data, run once in a child process, cached by name
and content, measured (CPU kind, threads, wall and CPU seconds, the child's own peak memory, event timings)."""
import json
import os

import pytest

from conftest import TINY_YAML
from recbole_llmrec.runs import harness
from recbole_llmrec.runs.harness import RunSpec
from recbole_llmrec.utils.machine import cpu_kind
from recbole_llmrec.utils.overwrite import OutputExistsError, refuse_existing


def _spec(tiny_config_dict, **changes):
    fields = dict(name="Pop-tiny", model="Pop", dataset="tiny_mixed", config_files=(str(TINY_YAML),),
                  config=dict(tiny_config_dict, show_progress=False), seed=7, threads=1,
                  options={"saved": False})
    fields.update(changes)
    return RunSpec(**fields)


def test_a_run_is_measured_in_a_child_and_cached(tmp_path, tiny_config_dict, caplog):
    spec = _spec(tiny_config_dict)
    runs = tmp_path / "runs"
    result = harness.run(spec, runs)
    stored = json.loads((runs / "Pop-tiny.json").read_text())
    assert stored["spec"] == spec.content() and stored["spec_sha256"] == spec.digest()
    assert stored["spec"]["config"]["seed"] == 2020 and spec.config_dict()["seed"] == 7
    assert result["test_result"] == stored["test_result"] and result["model"] == "Pop"
    assert result["machine"] == cpu_kind() and result["torch_threads"] == 1
    assert result["wall_s"] > 0 and result["cpu_s"] > 0 and result["peak_rss_mib"] > 0
    assert len(result["timing"]["test_evals"]) == 1  # the trainer's events, recorded in the child
    assert not list(runs.glob(".*")) and not list(runs.glob("*.lock"))
    # cached: not run again (the stored file is returned as it is)
    stored["marker"] = 1
    (runs / "Pop-tiny.json").write_text(json.dumps(stored))
    assert harness.run(spec, runs)["marker"] == 1
    # another spec under the same name: reused, with a warning naming the file
    assert harness.run(_spec(tiny_config_dict, seed=8), runs)["marker"] == 1
    assert "another spec" in caplog.text
    # not live: a missing run is None
    assert harness.run(_spec(tiny_config_dict, name="missing"), runs, live=False) is None


def test_the_child_peak_is_its_own_not_the_parents():
    """VmHWM of a fresh child is far below the ru_maxrss it inherits from a parent with a big peak."""
    import subprocess
    import sys

    code = ("import sys; big = bytearray(1500 * 2**20); big[::4096] = b'x' * len(big[::4096]); del big; "
            "import subprocess; subprocess.run([sys.executable, '-c', 'from recbole_llmrec.runs.harness import "
            "peak_rss_mib, ru_maxrss_mib; print(peak_rss_mib(), ru_maxrss_mib())'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=dict(os.environ)).stdout.split()
    peak, maxrss = float(out[0]), float(out[1])
    assert maxrss >= 1500 and peak < maxrss - 500


def test_failed_child_and_bad_task(tmp_path, tiny_config_dict):
    with pytest.raises(RuntimeError, match="run broken failed"):
        harness.run(_spec(tiny_config_dict, name="broken", model="NoSuchModel"), tmp_path)
    assert not (tmp_path / "broken.json").exists()
    with pytest.raises(ValueError, match="task"):
        harness.resolve_task("no_colon")
    assert harness.resolve_task("recbole_llmrec.runs.harness:task_train") is harness.task_train


def test_cpu_kind_reads_the_cpu(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: AMD EPYC 9R14\nflags\t\t: fpu avx512f avx512_bf16\n")
    kind = cpu_kind(str(info))
    assert kind["cpu"] == "AMD EPYC 9R14" and kind["avx512_bf16"] is True and kind["cores"] >= 1
    info.write_text("model name\t: Some CPU\nflags\t\t: fpu avx2\n")
    assert cpu_kind(str(info))["avx512_bf16"] is False


def test_refuse_existing(tmp_path):
    refuse_existing(tmp_path / "new", overwrite=False)
    (tmp_path / "old").write_text("x")
    with pytest.raises(OutputExistsError, match=r"old exists; pass --overwrite to replace it \(runs are kept\)"):
        refuse_existing(tmp_path / "old", overwrite=False, what="runs are kept")
    refuse_existing(tmp_path / "old", overwrite=True)
