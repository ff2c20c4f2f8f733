"""The shipped config files read like RecBole's: every key commented ``# (type) meaning``, lines of at
most 120 characters, and no measurements in the comments (they belong in docs/RESULTS.md)."""
import re

import pytest

from recbole_llmrec.config.plugin_config import properties_dir

YAMLS = sorted(properties_dir().rglob("*.yaml"))
CONFIG_FILES = YAMLS + sorted(properties_dir().rglob("*.hyper"))
TYPED = re.compile(r"# \((bool|int|float|str|dict|list)[^)]*\) \S")
# A number with a unit of time, memory or share, a speed-up, or a metric value: a measurement.
MEASUREMENT = re.compile(r"\b\d+(\.\d+)?\s*(ms|s|sec|min|minutes|h|hours|GiB|MiB|KiB|GB|MB|KB)\b"
                         r"|\d\s*%|\d(\.\d+)?×|\d(\.\d+)?\s*x\s+(faster|slower|better|worse|more|less)\b"
                         r"|\b(NDCG|Recall|MRR|Hit)@\d+\s+0\.\d")


def _ids(path):
    return str(path.relative_to(properties_dir()))


@pytest.mark.parametrize("path", YAMLS, ids=_ids)
def test_every_top_level_key_is_documented(path):
    keys = [line for line in path.read_text(encoding="utf-8").splitlines() if re.match(r"^\w", line)]
    assert keys, f"{path} has no keys"
    for line in keys:
        assert TYPED.search(line), f"{path}: {line}"


@pytest.mark.parametrize("path", YAMLS, ids=_ids)
def test_every_nested_key_is_documented(path):
    for line in path.read_text(encoding="utf-8").splitlines():
        if re.match(r"^\s+[\w@]+:", line):
            assert TYPED.search(line), f"{path}: nested key without '# (type) meaning': {line.strip()}"


@pytest.mark.parametrize("path", CONFIG_FILES, ids=_ids)
def test_lines_are_at_most_120_characters(path):
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        assert len(line) <= 120, f"{path}:{number}: {len(line)} characters"


@pytest.mark.parametrize("path", CONFIG_FILES, ids=_ids)
def test_comments_hold_no_measurements(path):
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        comment = line.split("#", 1)[1] if "#" in line else ""
        match = MEASUREMENT.search(comment)
        assert match is None, f"{path}:{number}: a measurement in a comment ({match.group(0)!r}): {line.strip()}"


def test_the_measurement_check_catches_one():
    assert MEASUREMENT.search("a trial takes 7 min 21 s") and MEASUREMENT.search("peak 5.1 GiB")
    assert MEASUREMENT.search("~30% slower") and MEASUREMENT.search("valid NDCG@10 0.0311")
    assert MEASUREMENT.search("1.52× SASRec") and MEASUREMENT.search("2 x faster")
    assert not MEASUREMENT.search("(full ranking: 256 x n_items scores)")
    assert not MEASUREMENT.search("(int) Tokens kept per title (paper: 40).")
    assert not MEASUREMENT.search("(list of int) buckets at these edges (0 / 1-4 / 5-19 / 20+)")
