"""``--catalogue {interacted,all}`` on the committed extracts (tests/data/raw): the default's
output is byte-identical to the converter's before the option existed; ``all`` adds the items
that survived k-core but no selected user touched."""

import csv
import hashlib
import json
from pathlib import Path
from typing import Dict, List

import pytest

ROOT = Path(__file__).resolve().parent.parent

from dataset_converters import ConversionError, amazon
from dataset_converters.pipeline import Options, convert

RAW = ROOT / "tests" / "data" / "raw"
R2014 = RAW / "amazon2014"
DOMAINS = ["Beauty", "Toys_and_Games"]
NOW = 2_000_000_000.0

#: Configurations over the extracts, and the sha256 (first 16 hex digits) of every file the
#: converter wrote for them BEFORE ``--catalogue`` and ``--streaming`` existed.
CONFIGS: Dict[str, dict] = {
    "2014_k1_min2": dict(input=R2014, domains=DOMAINS, kcore=1, min_domains=2),
    "2014_k2_per": dict(input=R2014, domains=DOMAINS, kcore=2, per_domain=True),
    "2014_rev_k1_max10": dict(input=R2014, domains=DOMAINS[::-1], kcore=1, max_users=10, seed=7,
                              per_domain=True),
    "2018_k1": dict(input=RAW / "amazon2018", domains=["Video_Games"], kcore=1),
    "2018csv_k1_per": dict(input=RAW / "amazon2018_csv", domains=["Video_Games"], kcore=1,
                           per_domain=True),
    "2023_k1_per": dict(input=RAW / "amazon2023", domains=["All_Beauty", "Video_Games"], kcore=1,
                        per_domain=True),
}
BEFORE = {
    "2014_k1_min2": {
        "ds/ds.inter": "bed776ca164217fc",
        "ds/ds.item": "a6ccd472b8b19466",
        "ds/ds.stats.json": "3d36dc8f126cae9c",
    },
    "2014_k2_per": {
        "ds/ds.inter": "9344acdb3b9d462f",
        "ds/ds.item": "10acd10257402939",
        "ds/ds.stats.json": "d8e6c93c4d98b1fc",
        "ds_Beauty/ds_Beauty.inter": "07d65cc92c42b0d8",
        "ds_Beauty/ds_Beauty.item": "26ba8d213b9d62b3",
        "ds_Beauty/ds_Beauty.stats.json": "c08c80d43aa27851",
        "ds_Toys_and_Games/ds_Toys_and_Games.inter": "ca39e7d740417f87",
        "ds_Toys_and_Games/ds_Toys_and_Games.item": "44f750ae8244fe1d",
        "ds_Toys_and_Games/ds_Toys_and_Games.stats.json": "6b11d4685e1690e3",
    },
    "2014_rev_k1_max10": {
        "ds/ds.inter": "f78f8d2d1d7101d6",
        "ds/ds.item": "279ef2cfc26853d7",
        "ds/ds.stats.json": "4a82acdfc45c9220",
        "ds_Beauty/ds_Beauty.inter": "ce64eb9c7e8cb1fe",
        "ds_Beauty/ds_Beauty.item": "9096f16c96e687aa",
        "ds_Beauty/ds_Beauty.stats.json": "e2593f4b55d59c21",
        "ds_Toys_and_Games/ds_Toys_and_Games.inter": "433c0272b59167b6",
        "ds_Toys_and_Games/ds_Toys_and_Games.item": "98edc5d7e68940da",
        "ds_Toys_and_Games/ds_Toys_and_Games.stats.json": "4223dd3afd448c9c",
    },
    "2018_k1": {
        "ds/ds.inter": "3a0b5d29936b3123",
        "ds/ds.item": "1bde6f25ddb69338",
        "ds/ds.stats.json": "73e98000fd6c130f",
    },
    "2018csv_k1_per": {
        "ds/ds.inter": "fc2cbdb3247e3b50",
        "ds/ds.item": "1bde6f25ddb69338",
        "ds/ds.stats.json": "ba008b3bf4bbdf79",
        "ds_Video_Games/ds_Video_Games.inter": "fc2cbdb3247e3b50",
        "ds_Video_Games/ds_Video_Games.item": "1bde6f25ddb69338",
        "ds_Video_Games/ds_Video_Games.stats.json": "999a18164b4d352d",
    },
    "2023_k1_per": {
        "ds/ds.inter": "47d36efa89d9d89c",
        "ds/ds.item": "97d3fa86f7fd3d14",
        "ds/ds.stats.json": "b7c21a8f8599c1a0",
        "ds_All_Beauty/ds_All_Beauty.inter": "b72f77cc175ef07b",
        "ds_All_Beauty/ds_All_Beauty.item": "34f19995056e2d9a",
        "ds_All_Beauty/ds_All_Beauty.stats.json": "ae571995591827b1",
        "ds_Video_Games/ds_Video_Games.inter": "7dc79dc1f117b2ed",
        "ds_Video_Games/ds_Video_Games.item": "baf1861ca5a21cf1",
        "ds_Video_Games/ds_Video_Games.stats.json": "616c1fdccb1cfada",
    },
}


def digests(out: Path) -> Dict[str, str]:
    """``folder/file`` -> first 16 hex digits of its sha256, for every dataset under ``out``."""
    return {f"{d.name}/{p.name}": hashlib.sha256(p.read_bytes()).hexdigest()[:16]
            for d in sorted(out.iterdir()) for p in sorted(d.iterdir())}


def run(tmp: Path, tag: str, **kw) -> Path:
    out = tmp / tag
    convert(Options(output=out, name="ds", now=NOW, **kw))
    return out


def read_tsv(path: Path) -> List[List[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh, delimiter="\t", quotechar='"'))


@pytest.mark.parametrize("key", sorted(CONFIGS))
def test_interacted_is_byte_identical_to_before(tmp_path, key):
    got = digests(run(tmp_path, "a", **CONFIGS[key]))
    assert got == BEFORE[key]
    explicit = digests(run(tmp_path, "b", catalogue="interacted", **CONFIGS[key]))
    assert explicit == got


def test_embedded_tiny_mixed_unchanged(tmp_path):
    """tests/data/atomic/tiny_mixed was written by the converter before the option existed."""
    out = run(tmp_path, "a", **CONFIGS["2014_k1_min2"])
    committed = ROOT / "tests" / "data" / "atomic" / "tiny_mixed"
    for ext in ("inter", "item"):
        assert (out / "ds" / f"ds.{ext}").read_bytes() == (committed / f"tiny_mixed.{ext}").read_bytes()


def test_all_keeps_items_no_selected_user_touched(tmp_path):
    base = CONFIGS["2014_k1_min2"]
    closed = run(tmp_path, "closed", **base)
    stats = convert(Options(output=tmp_path / "open", name="ds", now=NOW, catalogue="all",
                            per_domain=True, **base))
    opened = tmp_path / "open"
    # same interactions, byte for byte
    assert (opened / "ds" / "ds.inter").read_bytes() == (closed / "ds" / "ds.inter").read_bytes()
    inter = read_tsv(opened / "ds" / "ds.inter")
    touched = {r[1] for r in inter[1:]}
    closed_items = {r[0]: r[1:] for r in read_tsv(closed / "ds" / "ds.item")[1:]}
    open_rows = read_tsv(opened / "ds" / "ds.item")
    assert open_rows[0] == ["item_id:token", "title:token", "domain:token"]
    open_items = {r[0]: r[1:] for r in open_rows[1:]}
    assert [r[0] for r in open_rows[1:]] == sorted(open_items)
    untouched = set(open_items) - touched
    assert untouched, "some item of the single-category users must be in the open catalogue"
    assert set(closed_items) == touched and set(closed_items) < set(open_items)
    assert all(open_items[i] == v for i, v in closed_items.items())
    # every open item: in the k-core (kcore=1: every titled reviewed item), with title and domain
    everything = run(tmp_path, "everyone", input=R2014, domains=DOMAINS, kcore=1)
    all_items = {r[0]: r[1:] for r in read_tsv(everything / "ds" / "ds.item")[1:]}
    assert open_items == all_items
    cat = stats["catalogue"]
    assert cat["mode"] == "all" and cat["items"] == len(open_items)
    assert cat["items_without_interaction"] == len(untouched)
    assert stats["output"] == json.loads((closed / "ds" / "ds.stats.json").read_text())["output"]
    assert "--catalogue all" in stats["filter_order"] and stats["options"]["catalogue"] == "all"
    for d in DOMAINS:  # per-domain datasets get their domain's part of the catalogue
        sub = {r[0]: r[1:] for r in read_tsv(opened / f"ds_{d}" / f"ds_{d}.item")[1:]}
        assert sub == {i: v for i, v in open_items.items() if v[1] == d}
        sub_stats = json.loads((opened / f"ds_{d}" / f"ds_{d}.stats.json").read_text())
        assert sub_stats["catalogue"]["items"] == len(sub) == cat["per_domain"][d]


def test_all_with_max_users_and_kcore(tmp_path):
    """Items removed by k-core stay out; items of users dropped by --max-users stay in."""
    stats = convert(Options(input=R2014, domains=DOMAINS, output=tmp_path / "o", name="ds", now=NOW,
                            kcore=2, max_users=5, catalogue="all"))
    items = {r[0] for r in read_tsv(tmp_path / "o" / "ds" / "ds.item")[1:]}
    assert len(items) == stats["after_kcore"]["items"] == stats["catalogue"]["items"]
    assert stats["output"]["items"] < len(items)


def test_all_loads_in_recbole(tmp_path):
    from recbole.config import Config
    from recbole.data import create_dataset

    stats = convert(Options(output=tmp_path / "o", name="ds", now=NOW, catalogue="all",
                            **CONFIGS["2014_k1_min2"]))
    cfg = Config(model="SASRec", dataset="ds", config_dict={
        "data_path": str(tmp_path / "o"), "train_neg_sample_args": None, "show_progress": False,
        "load_col": {"inter": ["user_id", "item_id", "timestamp", "domain"],
                     "item": ["item_id", "title", "domain"]},
        "checkpoint_dir": str(tmp_path / "saved"),
    })
    ds = create_dataset(cfg)
    assert ds.item_num == stats["catalogue"]["items"] + 1  # + RecBole's padding id
    assert ds.inter_num == stats["output"]["interactions"]


def test_cli_catalogue_flag(tmp_path, capsys):
    args = ["--input", str(R2014), "--domains", *DOMAINS, "--kcore", "1", "--min_domains", "2",
            "--output", str(tmp_path), "--name", "x", "--catalogue", "all"]
    assert amazon.main(args) == 0
    assert "catalogue (all):" in capsys.readouterr().out
    help_text = amazon.parser().format_help()
    assert "--catalogue {interacted,all}" in help_text and "--streaming" in help_text
    with pytest.raises(SystemExit):
        amazon.parser().parse_args(args[:-1] + ["everything"])
    with pytest.raises(ConversionError, match="--catalogue must be one of interacted, all"):
        convert(Options(input=R2014, domains=DOMAINS, output=tmp_path, name="y", catalogue="open"))
