"""Readable CLI errors: one ``error: ...`` line, exit status 2, the traceback only with --debug."""
import subprocess
import sys
from pathlib import Path

import pytest

from recbole_llmrec.utils.cli_errors import run_cli

REPO = Path(__file__).resolve().parent.parent


def _raise(exc):
    def main(argv):
        raise exc
    return main


@pytest.mark.parametrize("exc,line", [
    (ValueError("max_history must be >= 1, got 0\nmore detail"), "error: max_history must be >= 1, got 0"),
    (FileNotFoundError(2, "No such file or directory", "space.hyper"),
     "error: space.hyper: No such file or directory"),
    (KeyError("title"), "error: missing key 'title'"),
    (SystemExit("unrecognised argument 'x'"), "error: unrecognised argument 'x'"),
])
def test_bad_input_is_one_error_line_and_status_2(capsys, exc, line):
    assert run_cli(_raise(exc), ["--a=1"]) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [line] and captured.out == ""


def test_debug_keeps_the_traceback_and_is_not_passed_on():
    seen = []

    def main(argv):
        seen.append(argv)
        raise ValueError("bad")

    with pytest.raises(ValueError, match="bad"):
        run_cli(main, ["--x=1", "--debug"])
    assert seen == [["--x=1"]]


def test_success_bugs_and_argparse_exits_pass_through():
    assert run_cli(lambda argv: 0, []) == 0
    assert run_cli(lambda argv: None, []) == 0
    with pytest.raises(TypeError):  # a bug, not bad input: keep the traceback
        run_cli(_raise(TypeError("oops")), [])
    with pytest.raises(SystemExit) as info:  # argparse's own usage error / --help
        run_cli(_raise(SystemExit(2)), [])
    assert info.value.code == 2


def _cli(*args):
    return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("args,expected", [
    (["--max_history=0"], "error: max_history must be >= 1, got 0"),
    (["--model=NoSuch"], "error: unknown model 'NoSuch'"),
])
def test_run_recbole_llmrec_bad_setting(args, expected):
    proc = _cli("run_recbole_llmrec.py", "--dataset=amazon_mixed", *args)
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(expected), proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "lightgbm" not in proc.stderr


def test_run_recbole_llmrec_debug_shows_the_traceback():
    proc = _cli("run_recbole_llmrec.py", "--max_history=0", "--debug")
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and "max_history must be >= 1, got 0" in proc.stderr


def test_run_hyper_missing_params_file(tmp_path):
    missing = tmp_path / "nope.hyper"
    proc = _cli("run_hyper.py", "--model=Pop", f"--params_file={missing}")
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(missing) in errors[0]
