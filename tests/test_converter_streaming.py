"""``--streaming`` (compact columns, one review at a time) writes the same bytes as the in-memory
path: on the committed extracts, on every case of the broken-input corpus, and step by step on
random data."""

import hashlib
import json
import random
from pathlib import Path
from typing import Dict

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent

from dataset_converters import ConversionError, amazon
from dataset_converters import filtering
from dataset_converters.merging import Interaction
from dataset_converters.pipeline import Options, convert

RAW = ROOT / "tests" / "data" / "raw"
R2014 = RAW / "amazon2014"
DOMAINS = ["Beauty", "Toys_and_Games"]
CORPUS = ROOT / "tests" / "data" / "bad_input"
CASES = sorted(p.parent.name for p in CORPUS.glob("*/case.json"))
NOW = 2_000_000_000.0

CONFIGS: Dict[str, dict] = {
    "2014_k1_min2": dict(input=R2014, domains=DOMAINS, kcore=1, min_domains=2),
    "2014_k2_per": dict(input=R2014, domains=DOMAINS, kcore=2, per_domain=True),
    "2014_k2_open_per": dict(input=R2014, domains=DOMAINS, kcore=2, per_domain=True,
                             catalogue="all"),
    "2014_rev_k1_max10": dict(input=R2014, domains=DOMAINS[::-1], kcore=1, max_users=10, seed=7,
                              per_domain=True),
    "2014_min2_max5_open": dict(input=R2014, domains=DOMAINS, kcore=2, min_domains=2, max_users=5,
                                catalogue="all"),
    "2018_k1": dict(input=RAW / "amazon2018", domains=["Video_Games"], kcore=1),
    "2018_k2": dict(input=RAW / "amazon2018", domains=["Video_Games"], kcore=2),
    "2018_k3_nothing_left": dict(input=RAW / "amazon2018", domains=["Video_Games"], kcore=3),
    "2018csv_k1_per": dict(input=RAW / "amazon2018_csv", domains=["Video_Games"], kcore=1,
                           per_domain=True),
    "2023_k1_per": dict(input=RAW / "amazon2023", domains=["All_Beauty", "Video_Games"], kcore=1,
                        per_domain=True),
    "2023_rev_min2_open": dict(input=RAW / "amazon2023", domains=["Video_Games", "All_Beauty"],
                               kcore=1, min_domains=2, catalogue="all"),
}


def tree(out: Path) -> Dict[str, str]:
    """Every file under ``out`` (relative path) -> sha256."""
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("key", sorted(CONFIGS))
def test_streaming_equals_memory_on_extracts(tmp_path, key):
    outs = {}
    for streaming in (False, True):
        out = tmp_path / str(streaming)
        try:
            stats = convert(Options(output=out, name="ds", now=NOW, streaming=streaming,
                                    **CONFIGS[key]))
        except ConversionError as exc:  # the same error, nothing written
            outs[streaming] = (str(exc), out.exists())
            continue
        assert "streaming" not in stats["options"]
        outs[streaming] = (tree(out), stats)
    assert outs[False][0] and outs[True] == outs[False]
    assert ("nothing_left" in key) == (outs[True][1] is False)


@pytest.mark.parametrize("name", CASES)
def test_streaming_equals_memory_on_bad_input(tmp_path, capsys, name):
    folder = CORPUS / name
    spec = json.loads((folder / "case.json").read_text())
    args = [a for a in spec["args"] if a != "--preexisting-output"]
    got = []
    for engine in ([], ["--streaming"]):
        out = tmp_path / ("s" if engine else "m")
        if "--preexisting-output" in spec["args"]:
            (out / "ds").mkdir(parents=True)
            (out / "ds" / "keep.txt").write_text("old")
        rc = amazon.main(["--input", str(folder), "--domains", *spec["domains"], "--output",
                          str(out), "--name", "ds", "--kcore", "1", *args, *engine])
        captured = capsys.readouterr()
        written = tree(out) if out.exists() else None
        got.append((rc, captured.err.replace(str(out), "OUT"), captured.out.replace(str(out), "OUT"),
                    written))
    assert got[1] == got[0]


def _rows(seed: int, n: int = 3000):
    rnd = random.Random(seed)
    return [Interaction(f"u{rnd.randrange(300):03d}", f"i{rnd.randrange(200):03d}", 0, 0, k, None,
                        rnd.choice("ABC")) for k in range(n)]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("k", [1, 3, 12])
def test_column_filters_equal_list_filters(seed, k):
    rows = _rows(seed)
    rows = list({(r.user, r.item): r for r in rows}.values())
    users = sorted({r.user for r in rows})
    items = sorted({r.item for r in rows})
    u = np.array([users.index(r.user) for r in rows], dtype=np.int32)
    i = np.array([items.index(r.item) for r in rows], dtype=np.int32)
    d = np.array(["ABC".index(r.domain) for r in rows], dtype=np.int16)
    kept, rounds = filtering.kcore(rows, k)
    mask, mask_rounds = filtering.kcore_mask(u, i, k)
    assert mask_rounds == rounds and [r for r, m in zip(rows, mask) if m] == kept
    for n in (1, 2, 3):
        sel, removed = filtering.select_min_domains(kept, n)
        m, m_removed = filtering.min_domains_mask(u[mask], d[mask], n)
        assert m_removed == removed and [r for r, x in zip(kept, m) if x] == sel
    for n in (1, 7, 10_000):
        sel, removed = filtering.select_max_users(kept, n, seed)
        m, m_removed = filtering.max_users_mask(u[mask], n, seed)
        assert m_removed == removed and [r for r, x in zip(kept, m) if x] == sel
