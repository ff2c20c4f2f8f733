"""The README, the guide (docs/) and the config comments point at things that exist: every relative link
(and its #anchor), every repository path, script and `python -m` module they name; every `python`
command of the README (its quick start first) and of docs/ parses its arguments (run with `--help`
appended, all in one process: each option it uses is one its command line declares, or a config key)."""
import functools
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
CONFIG_FILES = sorted((ROOT / "properties").rglob("*.yaml")) + sorted((ROOT / "properties").rglob("*.hyper"))

# Files a documented command writes (examples of output, not repository files).
OUTPUT_PATHS = {"dataset/amazon_videogames/amazon_videogames.itememb"}

REPO_PATH = re.compile(r"(?<![\w/.-])((?:recbole_llmrec|benchmarks|experiments|dataset_converters|properties|docs|tests"
                       r"|dataset|\.ci)/[\w./@-]*[\w/])")
SCRIPT = re.compile(r"(?<![\w/.-])(run_\w+\.py)\b")
MODULE = re.compile(r"python -m ([\w.<>]+)")
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _doc_ids(path):
    return str(path.relative_to(ROOT))


def _comments(path: Path) -> str:
    return "\n".join(line.split("#", 1)[1] for line in path.read_text(encoding="utf-8").splitlines() if "#" in line)


def _slug(heading: str) -> str:
    """GitHub's anchor of a markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set:
    return {_slug(line.lstrip("#")) for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("#")}


@pytest.mark.parametrize("doc", DOCS, ids=_doc_ids)
def test_relative_links_exist(doc):
    for link in LINK.findall(doc.read_text(encoding="utf-8")):
        if re.match(r"^[a-z]+:", link):
            continue
        target, _, anchor = link.partition("#")
        path = (doc.parent / target).resolve() if target else doc
        assert path.exists(), f"{doc.name}: link to {link} (no {path})"
        if anchor and path.suffix == ".md":
            assert anchor in _anchors(path), f"{doc.name}: link to {link}: no heading with that anchor"


@pytest.mark.parametrize("path", DOCS + CONFIG_FILES, ids=_doc_ids)
def test_named_paths_scripts_and_modules_exist(path):
    text = _comments(path) if path.suffix in (".yaml", ".hyper") else path.read_text(encoding="utf-8")
    for name in set(REPO_PATH.findall(text)) | set(SCRIPT.findall(text)):
        name = name.rstrip(".")
        if "<" in name or name in OUTPUT_PATHS:
            continue
        assert (ROOT / name).exists(), f"{path.name} names {name}, which does not exist"
    for module in set(MODULE.findall(text)):
        if "<" in module or module.split(".")[0] in ("torch", "pip", "pytest"):
            continue
        base = ROOT / module.replace(".", "/")
        assert base.with_suffix(".py").exists() or (base / "__init__.py").exists() or (base / "__main__.py").exists(), \
            f"{path.name}: `python -m {module}`: no such module in the repository"


def _commands(text):
    """The `python ...` commands of a markdown text's bash blocks, continuation lines joined."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("  #", 1)[0].strip()
            if line.startswith("python ") and not line.startswith("python -m pytest"):
                commands.append(" ".join(line.split()))
    return commands


def quick_start_commands():
    """The `python ...` commands of the README's quick start."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return _commands(text.split("## Quick start", 1)[1].split("\n## ", 1)[0])


def documented_commands():
    """``(document, command)`` for every `python ...` command of README.md and docs/, without repeats."""
    seen = {}
    for doc in DOCS:
        for command in _commands(doc.read_text(encoding="utf-8")):
            seen.setdefault(command, doc.name)
    return [(doc, command) for command, doc in seen.items()]


@functools.lru_cache(maxsize=None)
def _config_keys() -> frozenset:
    """Every key of RecBole's and the plugin's YAML layers (what a `--key=value` may set)."""
    import recbole
    keys = set()
    for folder in (Path(recbole.__file__).parent / "properties", ROOT / "properties"):
        for path in folder.rglob("*.yaml"):
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            keys |= set(data)
    return frozenset(keys)


DRIVER = r"""
import contextlib, io, json, runpy, sys, warnings
warnings.simplefilter("ignore")
out = []
for argv in json.loads(sys.argv[1]):
    buffer = io.StringIO()
    code = 0
    try:
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            if argv[0] == "-m":
                sys.argv = [argv[1]] + argv[2:] + ["--help"]
                runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
            else:
                sys.argv = argv + ["--help"]
                runpy.run_path(argv[0], run_name="__main__")
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except Exception as error:
        code, buffer = 1, io.StringIO(repr(error))
    out.append({"code": code, "help": buffer.getvalue()})
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def parsed():
    """Each documented command run once with --help appended, in one process (imports shared)."""
    commands = [c for _, c in documented_commands()]
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    done = subprocess.run([sys.executable, "-c", DRIVER, json.dumps([shlex.split(c)[1:] for c in commands])],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(zip(commands, json.loads(done.stdout.strip().splitlines()[-1])))


def _module_of(argv):
    return argv[1] if argv[0] == "-m" else argv[0]


def test_the_quick_start_shows_every_job():
    joined = "\n".join(quick_start_commands())
    for needed in ("run_recbole_llmrec.py", "run_benchmark.py", "run_hyper.py", "recbole_llmrec.export",
                   "recbole_llmrec.recommend --model_dir", "--histories", "dataset_converters.amazon",
                   "--gpu_id=0", "--nproc=2"):
        assert needed in joined, needed


@pytest.mark.parametrize("doc,command", documented_commands(), ids=[f"{d}: {c[:70]}" for d, c in documented_commands()])
def test_documented_command_parses(doc, command, parsed):
    argv = shlex.split(command)[1:]
    module = _module_of(argv)
    result = parsed[command]
    assert result["code"] == 0, f"{doc}: {command} --help exited {result['code']}: {result['help'][-2000:]}"
    help_text = result["help"]
    keys = _config_keys()
    for arg in argv:
        if not arg.startswith("--"):
            continue
        flag, has_value, _ = arg.partition("=")
        if re.search(re.escape(flag) + r"\b", help_text):
            continue
        assert has_value and flag[2:] in keys, f"{doc}: {command}: {flag} is neither an option of {module} nor a config key"


def test_every_quick_start_command_is_checked():
    checked = {c for _, c in documented_commands()}
    assert quick_start_commands() and set(quick_start_commands()) <= checked
