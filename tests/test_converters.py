"""Tests of dataset_converters on small real extracts (tests/data/raw), no /work/shared needed."""

import csv
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

ROOT = Path(__file__).resolve().parent.parent

from dataset_converters import ConversionError
from dataset_converters import amazon
from dataset_converters.cleaning import clean_title, title_problem
from dataset_converters.filtering import kcore, select_max_users
from dataset_converters.merging import Interaction
from dataset_converters.pipeline import Options, build, convert
from dataset_converters.readers import locate, read_meta, read_reviews

RAW = ROOT / "tests" / "data" / "raw"
R2014 = RAW / "amazon2014"
DOMAINS = ["Beauty", "Toys_and_Games"]
NOW = 2_000_000_000.0
ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))


def opts(tmp: Path, **kw) -> Options:
    base = dict(input=R2014, domains=list(DOMAINS), output=tmp / "out", name="ds", kcore=1, now=NOW)
    base.update(kw)
    return Options(**base)


def read_tsv(path: Path) -> List[List[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh, delimiter="\t", quotechar='"'))


def digest(folder: Path) -> Dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


# --- readers -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "folder, domain, release, reviews, users_field_example",
    [
        (R2014, "Beauty", "2014", "reviews_Beauty_5.json.gz", "A"),
        (RAW / "amazon2018", "Video_Games", "2018", "Video_Games_5.json.gz", "U"),
        (RAW / "amazon2018_csv", "Video_Games", "2018", "Video_Games.csv", "U"),
        (RAW / "amazon2023", "All_Beauty", "2023", "All_Beauty.jsonl.gz", "A"),
    ],
)
def test_reader_each_release(folder, domain, release, reviews, users_field_example):
    files = locate(folder, domain)
    assert (files.release, files.reviews.name) == (release, reviews)
    counts = __import__("collections").Counter()
    titles = read_meta(files, counts)
    rows = read_reviews(files, counts, NOW)
    assert rows and titles and counts["reviews_read"] == len(rows)
    assert [r.line for r in rows] == sorted(r.line for r in rows)
    assert all(r.user.startswith(users_field_example) for r in rows)
    assert all(0 < r.timestamp < 2_000_000_000 for r in rows)  # seconds, also for 2023 (ms)
    if release == "2023":
        assert all(r.rating is not None for r in rows)
        first = json.loads(gzip.open(files.reviews, "rt").readline())
        assert rows[0].timestamp == first["timestamp"] // 1000
        assert rows[0].item == first["parent_asin"]


def test_release_given_restricts_detection():
    assert locate(R2014, "Beauty", "2014").release == "2014"
    with pytest.raises(ConversionError, match="no reviews file for domain 'Beauty'"):
        locate(R2014, "Beauty", "2018")


def test_2014_meta_titles_are_python_literals():
    line = gzip.open(R2014 / "meta_Beauty.json.gz", "rt").readline()
    assert line.startswith("{'")
    counts = __import__("collections").Counter()
    assert len(read_meta(locate(R2014, "Beauty"), counts)) == counts["meta_records"] > 0


# --- cleaning ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "raw, clean",
    [
        ("Tom &amp; Jerry", "Tom & Jerry"),
        ("Tom &amp;amp; Jerry", "Tom & Jerry"),  # repeated until stable
        ("  a\tb\nc\r\n d  ", "a b c d"),
        ("x&nbsp;&nbsp;y", "x y"),
        ('12&quot; doll', '12" doll'),
        ("&#39;quoted&#39;", "'quoted'"),
        ("back\\slash, comma", "back\\slash, comma"),
    ],
)
def test_clean_title(raw, clean):
    assert clean_title(raw) == (clean, False)


def test_clean_title_problems():
    assert title_problem(clean_title("&nbsp; \t")[0]) == "empty"
    assert title_problem(clean_title("N/A")[0]) == "na_like"
    text, truncated = clean_title("word " * 3000)
    assert truncated and len(text) <= 1000 and not text.endswith(" ")


# --- filtering / merging -------------------------------------------------------------------

def test_kcore_reaches_fixed_point_in_several_rounds(tmp_path):
    rows, _, stats = build(opts(tmp_path, kcore=2))
    assert len(stats["kcore_rounds"]) > 1
    users: Dict[str, int] = {}
    items: Dict[str, int] = {}
    for r in rows:
        users[r.user] = users.get(r.user, 0) + 1
        items[r.item] = items.get(r.item, 0) + 1
    assert min(users.values()) >= 2 and min(items.values()) >= 2
    assert kcore(rows, 2) == (rows, [])


def test_kcore_cascade_synthetic():
    def row(u, i):
        return Interaction(u, i, 1, 0, 0, None, "D")
    # item c has 1 interaction -> user v drops to 1 -> item b drops to 1 -> ...
    rows = [row("u", "a"), row("u", "b"), row("v", "b"), row("v", "c"), row("w", "a"), row("w", "b")]
    kept, rounds = kcore(rows, 2)
    assert len(rounds) == 2
    assert {(r.user, r.item) for r in kept} == {("u", "a"), ("u", "b"), ("w", "a"), ("w", "b")}


def test_merge_order_with_cross_domain_ties(tmp_path):
    rows, _, _ = build(opts(tmp_path))
    rev, _, _ = build(opts(tmp_path, domains=DOMAINS[::-1]))
    tie = None
    for a, b in zip(rows, rows[1:]):
        if a.user == b.user and a.timestamp == b.timestamp and a.domain != b.domain:
            tie = (a.user, a.timestamp)
            break
    assert tie is not None
    group = [r for r in rows if (r.user, r.timestamp) == tie]
    assert [r.domain for r in group] == sorted((r.domain for r in group), key=DOMAINS.index)
    for d in DOMAINS:  # within a domain, raw line order
        lines = [r.line for r in group if r.domain == d]
        assert lines == sorted(lines)
    group_rev = [r for r in rev if (r.user, r.timestamp) == tie]
    assert group_rev[0].domain == DOMAINS[1]
    # grouped by user, users sorted; per user time-ordered
    keys = [(r.user, r.timestamp) for r in rows]
    assert keys == sorted(keys)


def test_max_users_deterministic(tmp_path):
    a, _, sa = build(opts(tmp_path, max_users=10, seed=7))
    b, _, _ = build(opts(tmp_path, max_users=10, seed=7))
    c, _, _ = build(opts(tmp_path, max_users=10, seed=8))
    users = lambda rs: sorted({r.user for r in rs})  # noqa: E731
    assert users(a) == users(b) and len(users(a)) == 10 and users(a) != users(c)
    assert a == b and sa["users_removed_by_max_users"] == 48 - 10
    rows = [Interaction(f"u{i}", "x", 0, 0, 0, None, "D") for i in range(5)]
    assert select_max_users(rows, 10, 1) == (rows, 0)


def test_min_domains_and_item_sparsity_after_selection(tmp_path):
    rows, _, stats = build(opts(tmp_path, min_domains=2))
    assert stats["users_removed_by_min_domains"] == 12
    per_user = {}
    for r in rows:
        per_user.setdefault(r.user, set()).add(r.domain)
    assert len(per_user) == 36 and all(len(d) == 2 for d in per_user.values())


# --- writing -------------------------------------------------------------------------------

def test_output_files_and_per_domain_stats(tmp_path):
    o = opts(tmp_path, per_domain=True)
    stats = convert(o)
    out = o.output
    assert sorted(p.name for p in out.iterdir()) == ["ds", "ds_Beauty", "ds_Toys_and_Games"]
    inter = read_tsv(out / "ds" / "ds.inter")
    assert inter[0] == ["user_id:token", "item_id:token", "timestamp:float", "domain:token"]
    assert all(row[2].isdigit() for row in inter[1:])
    item = read_tsv(out / "ds" / "ds.item")
    assert item[0] == ["item_id:token", "title:token", "domain:token"]
    assert [r[0] for r in item[1:]] == sorted(r[0] for r in item[1:])
    assert {r[1] for r in inter[1:]} == {r[0] for r in item[1:]}
    total = 0
    for d in DOMAINS:
        sub = json.loads((out / f"ds_{d}" / f"ds_{d}.stats.json").read_text())
        assert sub["output"]["per_domain"][d] == stats["output"]["per_domain"][d]
        assert sub["output"]["interactions"] == stats["output"]["per_domain"][d]["interactions"]
        sub_inter = read_tsv(out / f"ds_{d}" / f"ds_{d}.inter")
        assert {r[3] for r in sub_inter[1:]} == {d}
        assert sub_inter[1:] == [r for r in inter[1:] if r[3] == d]
        total += len(sub_inter) - 1
    assert total == len(inter) - 1 == stats["output"]["interactions"]
    saved = json.loads((out / "ds" / "ds.stats.json").read_text())
    assert "filter_order" in saved and saved["options"]["kcore"] == 1


def test_rebuild_is_byte_identical_and_overwrite_refused(tmp_path):
    o = opts(tmp_path)
    convert(o)
    before = digest(o.output / "ds")
    with pytest.raises(ConversionError, match="output folder exists.*--overwrite"):
        convert(o)
    assert digest(o.output / "ds") == before
    o.overwrite = True
    (o.output / "ds" / "README.md").write_text("data card")
    (o.output / "ds" / "ds.old.inter").write_text("stale")
    convert(o)
    assert (o.output / "ds" / "README.md").read_text() == "data card"
    assert not (o.output / "ds" / "ds.old.inter").exists()
    (o.output / "ds" / "README.md").unlink()
    assert digest(o.output / "ds") == before
    assert sorted(p.name for p in o.output.iterdir()) == ["ds"]  # no temp leftovers


def test_no_partial_output_on_error(tmp_path):
    bad = tmp_path / "raw"
    shutil.copytree(R2014, bad)
    with gzip.open(bad / "reviews_Toys_and_Games_5.json.gz", "ab") as fh:
        fh.write(b'{"reviewerID": "X", "unixReviewTime": 1}\n')
    o = opts(tmp_path, input=bad, per_domain=True)
    with pytest.raises(ConversionError, match=r"reviews_Toys_and_Games_5.json.gz:\d+: field 'asin' missing"):
        convert(o)
    assert not o.output.exists()


def test_title_quoting_round_trip_through_recbole(tmp_path):
    from recbole.config import Config
    from recbole.data import create_dataset

    raw = tmp_path / "raw"
    shutil.copytree(R2014, raw)
    meta = raw / "meta_Beauty.json.gz"
    lines = gzip.open(meta, "rt", encoding="utf-8").read().splitlines()
    tricky = ['"Quoted" start', 'He said "hi", then left', "It's a \\ backslash, too",
              'tab\there &amp;amp; "more"', "trailing quote\"", "N/A"]
    import ast
    for k, title in enumerate(tricky):
        rec = ast.literal_eval(lines[k])
        rec["title"] = title
        lines[k] = repr(rec)
    with gzip.open(meta, "wt", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    o = opts(tmp_path, input=raw)
    stats = convert(o)
    assert stats["input"]["Beauty"]["items_dropped_title_na_like"] == 1
    item = read_tsv(o.output / "ds" / "ds.item")
    mine = {r[0]: r[1] for r in item[1:]}
    assert 'He said "hi", then left' in mine.values()
    assert 'tab here & "more"' in mine.values()
    cfg = Config(model="SASRec", dataset="ds", config_dict={
        "data_path": str(o.output), "train_neg_sample_args": None, "show_progress": False,
        "load_col": {"inter": ["user_id", "item_id", "timestamp", "domain"],
                     "item": ["item_id", "title", "domain"]},
        "checkpoint_dir": str(tmp_path / "saved"),
    })
    ds = create_dataset(cfg)
    assert ds.inter_num == stats["output"]["interactions"]
    tokens = ds.field2id_token["title"]
    ids = ds.field2id_token["item_id"]
    loaded = {ids[int(i)]: tokens[int(t)]
              for i, t in zip(ds.item_feat["item_id"].values, ds.item_feat["title"].values) if int(i)}
    assert loaded == mine


# --- CLI -----------------------------------------------------------------------------------

CLI_ARGS = ["--input", str(R2014), "--domains", *DOMAINS, "--kcore", "1", "--min_domains", "2"]


def test_cli_module(tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "dataset_converters.amazon", *CLI_ARGS, "--output", str(out), "--name", "tiny_mixed"]
    res = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    # the committed tiny_mixed was produced by this very command
    assert digest(out / "tiny_mixed") == digest(ROOT / "tests" / "data" / "atomic" / "tiny_mixed")
    res = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "error: output folder exists" in res.stderr
    assert "Traceback" not in res.stderr


def test_main_in_process(tmp_path, capsys):
    assert amazon.main(CLI_ARGS + ["--output", str(tmp_path), "--name", "x"]) == 0
    assert "36 users" in capsys.readouterr().out
    assert amazon.main(CLI_ARGS + ["--output", str(tmp_path), "--name", "x"]) == 2
    help_text = amazon.parser().format_help()
    assert "k-core" in help_text and "WITHOUT filtering items again" in help_text


def test_output_path_is_a_file(tmp_path):
    target = tmp_path / "not_a_dir"
    target.write_text("x")
    with pytest.raises(ConversionError, match="cannot write output"):
        convert(opts(tmp_path, output=target))
    assert target.read_text() == "x"


def test_overwrite_removes_stale_dataset_of_empty_domain(tmp_path):
    o = opts(tmp_path, per_domain=True)
    convert(o)
    src = tmp_path / "raw"
    shutil.copytree(R2014, src)
    with gzip.open(src / "reviews_Toys_and_Games_5.json.gz", "wb") as fh:  # one lone review
        fh.write(gzip.open(R2014 / "reviews_Toys_and_Games_5.json.gz").readline())
    stats = convert(opts(tmp_path, input=src, per_domain=True, overwrite=True, kcore=2))
    assert stats["domains_empty_after_filtering"] == ["Toys_and_Games"]
    assert sorted(p.name for p in o.output.iterdir()) == ["ds", "ds_Beauty"]


@pytest.mark.parametrize("folder, domains", [(RAW / "amazon2018_csv", ["Video_Games"]),
                                             (RAW / "amazon2023", ["All_Beauty", "Video_Games"])])
def test_rating_column_written_when_input_has_ratings(tmp_path, folder, domains):
    o = opts(tmp_path, input=folder, domains=domains, per_domain=True)
    stats = convert(o)
    assert stats["rating_column"] is True
    inter = read_tsv(o.output / "ds" / "ds.inter")
    assert inter[0][-1] == "rating:float" and all(float(r[4]) > 0 for r in inter[1:])
    for d in domains:
        assert (o.output / f"ds_{d}" / f"ds_{d}.inter").exists()


def test_2018_json_has_no_rating_column(tmp_path):
    stats = convert(opts(tmp_path, input=RAW / "amazon2018", domains=["Video_Games"]))
    assert stats["rating_column"] is False and stats["source"]["Video_Games"]["release"] == "2018"


def test_cli_release_choices_come_from_the_release_records():
    from dataset_converters.readers import RELEASE_LIST

    action = next(a for a in amazon.parser()._actions if a.dest == "release")
    assert action.choices == [r.name for r in RELEASE_LIST]
    assert all(r.meta_format in ("literal", "json") for r in RELEASE_LIST)


def test_old_dashed_flags_warn_and_work(tmp_path, capsys):
    old = [w.replace("--min_domains", "--min-domains") for w in CLI_ARGS]
    with pytest.warns(DeprecationWarning, match="--min-domains is deprecated.*--min_domains"):
        assert amazon.main(old + ["--output", str(tmp_path), "--name", "x", "--max-users=30"]) == 0
    assert "30 users" in capsys.readouterr().out


# --- several inputs and id prefixes (leave-one-domain-out's data step) ---------------------------

def _old_prefixed_copy(dest: Path, sources: Dict[str, tuple]) -> None:
    """The id-rewriting copy leave_one_domain_out.prepare_input_copy made before the converter had
    --id_prefix: linked files, or the records rewritten with prefixed reviewerID / asin."""
    import ast

    dest.mkdir(parents=True)
    for folder, release, prefix, names in sources.values():
        for name in names:
            src, out = folder / name, dest / name
            if not prefix:
                os.symlink(src.resolve(), out)
                continue
            literal = release == "amazon2014" and name.startswith("meta_")
            with gzip.open(src, "rt", encoding="utf-8") as fin, gzip.open(out, "wt", encoding="utf-8") as fout:
                for line in fin:
                    if not line.strip():
                        continue
                    rec = ast.literal_eval(line) if literal else json.loads(line)
                    for field in ("reviewerID", "asin"):
                        if field in rec:
                            rec[field] = prefix + str(rec[field])
                    fout.write((repr(rec) if literal else json.dumps(rec)) + "\n")


@pytest.mark.parametrize("streaming", [False, True])
def test_id_prefix_and_several_inputs_equal_the_old_rewritten_copy(tmp_path, streaming):
    r2018 = RAW / "amazon2018"
    sources = {"Beauty": (R2014, "amazon2014", "", ["reviews_Beauty_5.json.gz", "meta_Beauty.json.gz"]),
               "Toys_and_Games": (R2014, "amazon2014", "toy", ["reviews_Toys_and_Games_5.json.gz",
                                                               "meta_Toys_and_Games.json.gz"]),
               "Video_Games": (r2018, "amazon2018", "vg", ["Video_Games_5.json.gz", "meta_Video_Games.json.gz"])}
    _old_prefixed_copy(tmp_path / "copy", sources)
    domains = list(sources)
    common = ["--domains", *domains, "--kcore", "1", "--max_users", "40"] + (["--streaming"] if streaming else [])
    assert amazon.main(["--input", str(tmp_path / "copy"), "--output", str(tmp_path / "old"), "--name", "m",
                        *common]) == 0
    assert amazon.main(["--input", str(R2014), str(r2018), "--id_prefix", "Toys_and_Games=toy", "Video_Games=vg",
                        "--output", str(tmp_path / "new"), "--name", "m", *common]) == 0
    for suffix in (".inter", ".item"):
        old, new = (tmp_path / run / "m" / f"m{suffix}" for run in ("old", "new"))
        assert old.read_bytes() == new.read_bytes(), suffix
    old, new = (json.loads((tmp_path / run / "m" / "m.stats.json").read_text()) for run in ("old", "new"))
    assert new["options"].pop("id_prefix") == {"Toys_and_Games": "toy", "Video_Games": "vg"}
    assert old == new
    items = (tmp_path / "new" / "m" / "m.item").read_text()
    assert "\nvg" in items and "\ntoy" in items  # the prefixed ids are there


def test_id_prefix_of_an_unlisted_domain_is_an_error(tmp_path, capsys):
    assert amazon.main(CLI_ARGS + ["--output", str(tmp_path), "--name", "x", "--id_prefix", "Clothing=c"]) == 2
    assert "--id_prefix names domains not in --domains: Clothing" in capsys.readouterr().err
    assert amazon.main(CLI_ARGS + ["--output", str(tmp_path), "--name", "x", "--id_prefix", "Beauty"]) == 2
