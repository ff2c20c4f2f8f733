"""Every key of every shipped YAML layer is commented ``# (type) meaning``, as RecBole's are."""
import re

import pytest

from recbole_llmrec.config.plugin_config import properties_dir

YAMLS = sorted(properties_dir().rglob("*.yaml"))


@pytest.mark.parametrize("path", YAMLS, ids=lambda p: str(p.relative_to(properties_dir())))
def test_every_top_level_key_is_documented(path):
    keys = [line for line in path.read_text(encoding="utf-8").splitlines() if re.match(r"^\w", line)]
    assert keys, f"{path} has no keys"
    for line in keys:
        assert re.search(r"# \((bool|int|float|str|dict|list)[^)]*\) \S", line), f"{path}: {line}"
