"""Tools use models through their public API only: no module outside ``recbole_llmrec/model/`` reads
a model's ``_private`` names or writes a model's attributes (other than a settable property)."""
import ast
from pathlib import Path

from recbole_llmrec.model import LLMRec

REPO = Path(__file__).resolve().parent.parent
#: Everything that uses models from outside the model package.
SOURCES = [p for p in sorted(REPO.glob("recbole_llmrec/**/*.py")) if "model" not in p.relative_to(REPO).parts[1:2]]
SOURCES += sorted(REPO.glob("experiments/*.py")) + sorted(REPO.glob("benchmarks/*.py")) + sorted(REPO.glob("*.py"))


def _is_model(node: ast.AST) -> bool:
    """``model``, ``self.model``, ``built.model``, ``trained_model`` ...: names that hold a model."""
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    return name == "model" or name.endswith("_model")


def _settable(name: str) -> bool:
    if name == "n_items":  # RecBole's own public attribute (the speed benchmark ranks a cut catalogue)
        return True
    prop = getattr(LLMRec, name, None)
    return isinstance(prop, property) and prop.fset is not None


def _violations(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Attribute) or not _is_model(node.value):
            continue
        where = f"{path.relative_to(REPO)}:{node.lineno}"
        if node.attr.startswith("_") and not node.attr.startswith("__"):
            found.append(f"{where} reads model.{node.attr}")
        elif isinstance(node.ctx, ast.Store) and not _settable(node.attr):
            found.append(f"{where} writes model.{node.attr}")
    return found


def test_the_scan_covers_the_tools():
    names = {p.name for p in SOURCES}
    assert {"recommend.py", "item_vectors.py", "transfer.py", "harness.py", "ranking_weight_sweep.py"} <= names
    assert not any("recbole_llmrec/model/" in str(p) for p in SOURCES)


def test_no_private_model_names_outside_the_model_package():
    found = [hit for path in SOURCES for hit in _violations(path)]
    assert found == [], "use the model's public API (docs/ARCHITECTURE.md):\n" + "\n".join(found)


def test_the_check_catches_what_it_forbids(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f(model, rec):\n    model._encode_title_table(1)\n    rec.model.text_vectors = 2\n"
                   "    rec.model.n_items = 3\n", encoding="utf-8")
    global REPO
    saved, REPO = REPO, tmp_path
    try:
        assert sorted(_violations(bad)) == ["bad.py:2 reads model._encode_title_table",
                                            "bad.py:3 writes model.text_vectors"]
    finally:
        REPO = saved
