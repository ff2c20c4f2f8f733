"""Regenerate the broken-input corpus in this folder from the real extracts in ../raw.

    python tests/data/bad_input/make_cases.py

Each case is a folder with raw files (official names) and ``case.json``:
``domains``, optional ``args`` (extra CLI flags), ``expect`` ("error" or "ok"), ``match``
(regex the error must match, as ``file:line: field ...``) or ``stats`` (``"Domain.key": n``
counts that must appear in ``NAME.stats.json["input"]``, or top-level keys), ``note``.
"""

import ast
import gzip
import json
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
RAW = HERE.parent / "raw"


def raw_lines(path: Path, n_users: int, user_field: str) -> list:
    out, users = [], []
    for line in gzip.open(path, "rt", encoding="utf-8"):
        u = json.loads(line)[user_field]
        if u not in users:
            if len(users) == n_users:
                break
            users.append(u)
        out.append(line.rstrip("\n"))
    return out


def meta_for(path: Path, items: set, literal: bool) -> list:
    out = []
    for line in gzip.open(path, "rt", encoding="utf-8"):
        rec = ast.literal_eval(line) if literal else json.loads(line)
        if (rec.get("asin") or rec.get("parent_asin")) in items:
            out.append(line.rstrip("\n"))
    return out


B_REV = raw_lines(RAW / "amazon2014" / "reviews_Beauty_5.json.gz", 3, "reviewerID")
B_META = meta_for(RAW / "amazon2014" / "meta_Beauty.json.gz", {json.loads(x)["asin"] for x in B_REV}, True)
T_REV = raw_lines(RAW / "amazon2014" / "reviews_Toys_and_Games_5.json.gz", 3, "reviewerID")
T_META = meta_for(RAW / "amazon2014" / "meta_Toys_and_Games.json.gz", {json.loads(x)["asin"] for x in T_REV}, True)
V_REV = raw_lines(RAW / "amazon2018" / "Video_Games_5.json.gz", 2, "reviewerID")
V_META = meta_for(RAW / "amazon2018" / "meta_Video_Games.json.gz", {json.loads(x)["asin"] for x in V_REV}, False)
A_REV = raw_lines(RAW / "amazon2023" / "All_Beauty.jsonl.gz", 2, "user_id")
A_META = meta_for(RAW / "amazon2023" / "meta_All_Beauty.jsonl.gz", {json.loads(x)["parent_asin"] for x in A_REV}, False)


def text(lines: list) -> bytes:
    return ("\n".join(lines) + "\n").encode("utf-8") if lines else b""


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def edit(lines: list, k: int, fn) -> list:
    lines = list(lines)
    rec = json.loads(lines[k])
    fn(rec)
    lines[k] = json.dumps(rec)
    return lines


def edit_meta(lines: list, k: int, title) -> list:
    lines = list(lines)
    rec = ast.literal_eval(lines[k])
    rec["title"] = title
    lines[k] = repr(rec)
    return lines


def beauty(rev=None, meta=None) -> dict:
    return {"reviews_Beauty_5.json": text(B_REV if rev is None else rev),
            "meta_Beauty.json": text(B_META if meta is None else meta)}


def item0_reviews() -> int:
    return sum(json.loads(x)["asin"] == ast.literal_eval(B_META[0])["asin"] for x in B_REV)


CASES = {}


def case(name, files, expect, domains=("Beauty",), args=(), match=None, stats=None, note=""):
    CASES[name] = (files, {"domains": list(domains), "args": list(args), "expect": expect,
                           "match": match, "stats": stats or {}, "note": note})


gzipped = gz(text(B_REV))
case("truncated_gzip", {"reviews_Beauty_5.json.gz": gzipped[: len(gzipped) // 2], "meta_Beauty.json": text(B_META)},
     "error", match=r"reviews_Beauty_5\.json\.gz:\d+: unreadable gzip data", note="gzip stream cut in half")
case("not_gzip", {"reviews_Beauty_5.json.gz": text(B_REV), "meta_Beauty.json": text(B_META)},
     "error", match=r"reviews_Beauty_5\.json\.gz:1: unreadable gzip data", note="plain text named .gz")
case("non_json_line", beauty(rev=B_REV[:2] + ["this is not json"] + B_REV[2:]),
     "error", match=r"reviews_Beauty_5\.json:3: not valid JSON")
case("json_array_line", beauty(rev=B_REV[:1] + ['["A1", "B2", 1405296000]'] + B_REV[1:]),
     "error", match=r"reviews_Beauty_5\.json:2: expected an object, got list")
case("python_literal_in_2018_meta",
     {"Video_Games_5.json": text(V_REV),
      "meta_Video_Games.json": text([repr(json.loads(V_META[0]))] + V_META[1:])},
     "error", domains=["Video_Games"], match=r"meta_Video_Games\.json:1: not valid JSON \(looks like a Python literal")
case("strict_json_in_2014_meta", beauty(meta=[json.dumps(ast.literal_eval(x)) for x in B_META]),
     "ok", stats={"Beauty.meta_records": len(B_META)},
     note="accepted: a JSON object is also a Python literal")
case("json_null_title_in_2014_meta",
     beauty(meta=[json.dumps({"asin": ast.literal_eval(B_META[0])["asin"], "title": None})] + B_META[1:]),
     "ok", stats={"Beauty.items_dropped_title_missing": 1, "Beauty.reviews_dropped_unusable_title": item0_reviews()},
     note="JSON null is not a Python literal: the line is parsed as JSON; no title -> item dropped")
case("meta_without_title_key", beauty(meta=[repr({"asin": ast.literal_eval(B_META[0])["asin"]})] + B_META[1:]),
     "ok", stats={"Beauty.items_dropped_title_missing": 1, "Beauty.reviews_dropped_unusable_title": item0_reviews()})
case("missing_asin", beauty(rev=edit(B_REV, 2, lambda r: r.pop("asin"))),
     "error", match=r"reviews_Beauty_5\.json:3: field 'asin' missing")
case("missing_reviewerID", beauty(rev=edit(B_REV, 0, lambda r: r.pop("reviewerID"))),
     "error", match=r"reviews_Beauty_5\.json:1: field 'reviewerID' missing")
case("missing_timestamp", beauty(rev=edit(B_REV, 4, lambda r: r.pop("unixReviewTime"))),
     "error", match=r"reviews_Beauty_5\.json:5: field 'unixReviewTime' missing")
case("string_timestamp", beauty(rev=edit(B_REV, 1, lambda r: r.update(unixReviewTime=str(r["unixReviewTime"])))),
     "error", match=r"reviews_Beauty_5\.json:2: field 'unixReviewTime' is not a number")
case("meta_missing_asin", beauty(meta=B_META[:1] + [repr({"title": "No id"})] + B_META[1:]),
     "error", match=r"meta_Beauty\.json:2: field 'asin' missing")
case("tab_in_user_id", beauty(rev=edit(B_REV, 0, lambda r: r.update(reviewerID="A\tB"))),
     "error", match=r"reviews_Beauty_5\.json:1: field 'reviewerID' contains a tab")
for name, title in [("empty_title", ""), ("whitespace_title", " \t\n "), ("html_only_title", "&nbsp;&amp;nbsp;")]:
    case(name, beauty(meta=edit_meta(B_META, 0, title)), "ok",
         stats={"Beauty.items_dropped_title_empty": 1, "Beauty.reviews_dropped_unusable_title": item0_reviews()},
         note="item dropped with its reviews, counted")
case("na_like_title", beauty(meta=edit_meta(B_META, 0, "N/A")), "ok",
     stats={"Beauty.items_dropped_title_na_like": 1},
     note="pandas would read it as NaN in RecBole: item dropped, counted")
case("long_title", beauty(meta=edit_meta(B_META, 0, "Lipstick " * 1250)), "ok",
     stats={"Beauty.titles_truncated": 1}, note="10,000 chars: kept, cut to 1,000 chars")
case("tabs_newlines_quotes_title", beauty(meta=edit_meta(B_META, 0, 'A\t"B",\n\'C\' \\ D&amp;amp;E')), "ok",
     stats={"Beauty.titles_changed_by_cleaning": 1 + sum("&" in x for x in B_META[1:])},
     note='cleaned to A "B", \'C\' \\ D&E; written csv-quoted')
case("non_utf8_bytes", {"reviews_Beauty_5.json": text(B_REV),
                        "meta_Beauty.json": text(B_META[:3]) + b"{'asin': 'X1', 'title': 'caf\xe9'}\n" + text(B_META[3:])},
     "error", match=r"meta_Beauty\.json:4: not valid UTF-8")
case("duplicate_reviews", beauty(rev=B_REV[:3] + [B_REV[1]] + B_REV[3:]), "ok",
     stats={"Beauty.duplicate_reviews_skipped": 1})
case("review_without_metadata", beauty(meta=B_META[1:]), "ok",
     stats={"Beauty.reviews_dropped_missing_metadata": item0_reviews()})
case("blank_lines", beauty(rev=B_REV[:2] + ["", "   "] + B_REV[2:]), "ok",
     stats={"Beauty.blank_lines_skipped": 2})
case("empty_reviews_file", beauty(rev=[]), "error", match=r"reviews_Beauty_5\.json: contains no reviews")
case("empty_meta_file", beauty(meta=[]), "error", match=r"meta_Beauty\.json: contains no metadata records")
case("missing_category_file", beauty(), "error", domains=["Beauty", "Toys_and_Games"],
     match=r"no reviews file for domain 'Toys_and_Games'")
case("missing_meta_file", {"reviews_Beauty_5.json": text(B_REV)}, "error",
     match=r"no metadata file for domain 'Beauty'")
case("ambiguous_release", {**beauty(), "Beauty_5.json": text(B_REV)}, "error",
     match=r"domain 'Beauty' matches several releases .*pass --release")
case("ms_timestamps_in_2014", beauty(rev=edit(B_REV, 0, lambda r: r.update(unixReviewTime=r["unixReviewTime"] * 1000))),
     "error", match=r"reviews_Beauty_5\.json:1: field 'unixReviewTime' looks like milliseconds")
case("seconds_timestamps_in_2023",
     {"All_Beauty.jsonl": text(edit(A_REV, 1, lambda r: r.update(timestamp=r["timestamp"] // 1000))),
      "meta_All_Beauty.jsonl": text(A_META)},
     "error", domains=["All_Beauty"], match=r"All_Beauty\.jsonl:2: field 'timestamp' looks like seconds")
case("ms_timestamps_2023_ok", {"All_Beauty.jsonl": text(A_REV), "meta_All_Beauty.jsonl": text(A_META)},
     "ok", domains=["All_Beauty"], stats={"All_Beauty.reviews_read": len(A_REV)},
     note="2023 milliseconds are converted to seconds (floor)")
case("negative_timestamp", beauty(rev=edit(B_REV, 3, lambda r: r.update(unixReviewTime=-86400))),
     "error", match=r"reviews_Beauty_5\.json:4: field 'unixReviewTime' is negative")
case("future_timestamp", beauty(rev=edit(B_REV, 3, lambda r: r.update(unixReviewTime=4102444800))),
     "error", match=r"reviews_Beauty_5\.json:4: field 'unixReviewTime' is in the future",
     note="2100-01-01; 'future' = after the time of the run")
case("bad_rating_2023", {"All_Beauty.jsonl": text(edit(A_REV, 0, lambda r: r.update(rating="five"))),
                         "meta_All_Beauty.jsonl": text(A_META)},
     "error", domains=["All_Beauty"], match=r"All_Beauty\.jsonl:1: field 'rating' is not a number")
case("csv_wrong_field_count", {"Video_Games.csv": b"I1,U1,5.0\n", "meta_Video_Games.json": text(V_META)},
     "error", domains=["Video_Games"], match=r"Video_Games\.csv:1: expected 4 fields")
case("csv_header_row", {"Video_Games.csv": b"item,user,rating,timestamp\n", "meta_Video_Games.json": text(V_META)},
     "error", domains=["Video_Games"], match=r"Video_Games\.csv:1: field 'rating' is not a number")
toys_single = [x for x in T_REV if json.loads(x)["reviewerID"] == json.loads(T_REV[0])["reviewerID"]][:1]
user0 = [x for x in B_REV if json.loads(x)["reviewerID"] == json.loads(B_REV[0])["reviewerID"]]
twin = [json.dumps(dict(json.loads(x), reviewerID="A0TWINOFUSER0")) for x in user0]
case("domain_empty_after_kcore",
     {**beauty(rev=user0 + twin), "reviews_Toys_and_Games_5.json": text(toys_single),
      "meta_Toys_and_Games.json": text(T_META)},
     "ok", domains=["Beauty", "Toys_and_Games"], args=["--kcore", "2", "--per-domain"],
     stats={"domains_empty_after_filtering": ["Toys_and_Games"]},
     note="Beauty: one real user + a twin so that 2-core holds; the only Toys user has 1 review. "
          "Documented skip: listed in stats, NAME_<domain> not written for it")
case("nothing_left_after_kcore", beauty(), "error", args=["--kcore", "50"],
     match=r"no interactions left after filtering")
case("same_item_in_two_domains",
     {**beauty(), "reviews_Toys_and_Games_5.json": text(edit(T_REV, 0, lambda r: r.update(asin=json.loads(B_REV[0])["asin"]))),
      "meta_Toys_and_Games.json": text(T_META)},
     "ok", domains=["Beauty", "Toys_and_Games"],
     stats={"Toys_and_Games.reviews_relabelled_to_first_domain": 1},
     note="item kept in the first listed domain; the other review is relabelled and counted")
case("output_folder_exists", beauty(), "error", args=["--preexisting-output"],
     match=r"output folder exists: .*pass --overwrite", note="existing NAME folder left untouched")


def main() -> None:
    for old in HERE.iterdir():
        if old.is_dir() and (old / "case.json").exists():
            shutil.rmtree(old)
    for name, (files, spec) in CASES.items():
        folder = HERE / name
        folder.mkdir()
        for fname, data in files.items():
            (folder / fname).write_bytes(gz(data) if fname.endswith(".gz") and name not in ("truncated_gzip", "not_gzip") else data)
        (folder / "case.json").write_text(json.dumps(spec, indent=1, sort_keys=True) + "\n")
    print(len(CASES), "cases")


if __name__ == "__main__":
    main()
