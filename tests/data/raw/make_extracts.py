"""Rebuild the small real extracts in this folder from /work/shared/data (not run by tests).

    python tests/data/raw/make_extracts.py /work/shared/data

Lines are copied byte for byte from the official-layout files (gzip re-compressed with
mtime 0); only the selection of users and items is ours. See README.md.
"""

import gzip
import json
import random
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent


def lines(path):
    with gzip.open(path, "rb") as fh:
        return fh.read().splitlines(keepends=True)


def write(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
        gz.writelines(rows)


def meta_key(line, literal):
    import ast
    rec = ast.literal_eval(line.decode()) if literal else json.loads(line)
    return rec.get("asin") or rec.get("parent_asin")


def extract_2014(src):
    doms = ["Beauty", "Toys_and_Games"]
    rev = {d: lines(src / f"reviews_{d}_5.json.gz") for d in doms}
    per_user = {d: defaultdict(list) for d in doms}
    for d in doms:
        for ln in rev[d]:
            per_user[d][json.loads(ln)["reviewerID"]].append(ln)
    both = sorted(u for u in per_user["Beauty"] if u in per_user["Toys_and_Games"]
                  and all(4 <= len(per_user[d][u]) for d in doms)
                  and 8 <= len(per_user["Beauty"][u]) + len(per_user["Toys_and_Games"][u]) <= 20)
    rng = random.Random(2020)
    cross = sorted(rng.sample(both, 36))
    single = {d: sorted(rng.sample(sorted(u for u in per_user[d] if u not in per_user[doms[1 - i]]
                                          and 5 <= len(per_user[d][u]) <= 8), 6))
              for i, d in enumerate(doms)}
    for d in doms:
        users = set(cross) | set(single[d])
        keep = [ln for ln in rev[d] if json.loads(ln)["reviewerID"] in users]
        items = {json.loads(ln)["asin"] for ln in keep}
        meta = [ln for ln in lines(src / f"meta_{d}.json.gz") if meta_key(ln, True) in items]
        write(HERE / "amazon2014" / f"reviews_{d}_5.json.gz", keep)
        write(HERE / "amazon2014" / f"meta_{d}.json.gz", meta)


def extract_simple(src, out, reviews_name, meta_name, user_field, item_field, n_users):
    rev = lines(src / reviews_name)
    users = sorted({json.loads(ln)[user_field] for ln in rev})
    chosen = set(random.Random(2020).sample(users, min(n_users, len(users))))
    keep = [ln for ln in rev if json.loads(ln)[user_field] in chosen]
    items = {json.loads(ln)[item_field] for ln in keep}
    meta = [ln for ln in lines(src / meta_name) if meta_key(ln, False) in items]
    write(out / reviews_name, keep)
    write(out / meta_name, meta)
    return keep, meta


def main(root):
    root = Path(root)
    extract_2014(root / "amazon2014")
    keep, meta = extract_simple(root / "amazon2018", HERE / "amazon2018", "Video_Games_5.json.gz",
                                "meta_Video_Games.json.gz", "reviewerID", "asin", 12)
    # ratings-only CSV layout (item,user,rating,timestamp): ids and times from the same real
    # lines; the shared copy has no ratings, so rating is a placeholder 5.0.
    csv_rows = [f"{r['asin']},{r['reviewerID']},5.0,{r['unixReviewTime']}\n".encode()
                for r in map(json.loads, keep)]
    (HERE / "amazon2018_csv").mkdir(exist_ok=True)
    (HERE / "amazon2018_csv" / "Video_Games.csv").write_bytes(b"".join(csv_rows))
    write(HERE / "amazon2018_csv" / "meta_Video_Games.json.gz", meta)
    for cat in ["All_Beauty", "Video_Games"]:
        extract_simple(root / "amazon2023", HERE / "amazon2023", f"{cat}.jsonl.gz",
                       f"meta_{cat}.jsonl.gz", "user_id", "parent_asin", 15)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data")
