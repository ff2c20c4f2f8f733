"""Architecture: imports flow one way (import-linter's contracts in .importlinter), every module
is in a layer, and the modules that once formed an import cycle import each other at the top."""
import ast
import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CONTRACTS = REPO / ".importlinter"
PACKAGES = ("recbole_llmrec", "dataset_converters")

#: Once an import cycle held together by imports inside functions; now plain top-level imports.
FORMER_CYCLE = ("config", "runs", "distributed", "serving", "recommend", "model")


def _layer_modules():
    parser = configparser.ConfigParser()
    parser.read(CONTRACTS)
    names = set()
    for section in parser.sections():
        if parser[section].get("type") == "layers":
            containers = parser[section].get("containers", "").split() or [""]
            for line in parser[section]["layers"].splitlines():
                for part in line.replace(":", "|").split("|"):
                    if part.strip():
                        names.update(f"{c}.{part.strip()}".lstrip(".") for c in containers)
    return names


def _package_modules():
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            yield ".".join(parts), path.name == "__init__.py"


def test_import_contracts_hold():
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    proc = subprocess.run([exe, "--config", str(CONTRACTS)], cwd=REPO, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "broken" in proc.stdout and " 0 broken" in proc.stdout


def test_every_module_is_in_a_layer():
    layers = _layer_modules()
    missing = []
    for module, is_package in _package_modules():
        covered = any(module == layer or module.startswith(layer + ".") for layer in layers)
        # a package whose submodules are layered one by one (e.g. distributed/) is covered by them
        parent_of_layers = is_package and any(layer.startswith(module + ".") for layer in layers)
        if not (covered or parent_of_layers):
            missing.append(module)
    assert missing == [], f"add these modules to a layer in .importlinter: {missing}"


def _function_level_imports(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for func in ast.walk(tree):
        if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(func):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGES[0]):
                    yield f"{path.name}:{node.lineno} {func.name}: from {node.module}"
                elif isinstance(node, ast.Import):
                    for alias in node.names:
                        if alias.name.startswith(PACKAGES[0]):
                            yield f"{path.name}:{node.lineno} {func.name}: import {alias.name}"


@pytest.mark.parametrize("name", FORMER_CYCLE)
def test_no_function_level_imports_in_the_former_cycle(name):
    base = REPO / "recbole_llmrec" / name
    paths = sorted(base.rglob("*.py")) if base.is_dir() else [base.with_suffix(".py")]
    found = [hit for path in paths for hit in _function_level_imports(path)]
    assert found == []


def test_no_layer_lets_siblings_import_each_other():
    """``a : b`` in a layer would allow an import circle between a and b: there is none left."""
    parser = configparser.ConfigParser()
    parser.read(CONTRACTS)
    lines = [line.strip() for section in parser.sections() if parser[section].get("type") == "layers"
             for line in parser[section]["layers"].splitlines() if ":" in line]
    assert lines == []


def test_llmrec_is_a_thin_adapter():
    """``model/llmrec.py`` wires the parts (text item encoder, user encoder, negatives, scoring terms)."""
    lines = (REPO / "recbole_llmrec" / "model" / "llmrec.py").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 210
