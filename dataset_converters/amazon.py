"""Command line: convert Amazon review releases into a RecBole dataset.

Run as ``python -m dataset_converters.amazon`` or ``python dataset_converters/amazon.py``.
"""

import argparse
import logging
import sys
from pathlib import Path
from typing import List, Optional

if __package__ in (None, ""):  # run as a file: make the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dataset_converters.errors import ConversionError  # noqa: E402
from dataset_converters.pipeline import Options, convert  # noqa: E402
from dataset_converters.readers import RELEASES  # noqa: E402

logger = logging.getLogger(__name__)

DESCRIPTION = f"""\
Convert Amazon review data ({", ".join(RELEASES)} release) of one or more categories into
one RecBole dataset DATA_PATH/NAME/ (NAME.inter, NAME.item, NAME.stats.json).

Filtering order: items without metadata or with an empty title are dropped with their
reviews; duplicate (user, item) reviews keep the first; then k-core (--kcore) runs on all
users and items of the merged data of the listed domains until it holds; THEN --min-domains
and THEN --max-users select users WITHOUT filtering items again (items of the selected users
may have fewer than K interactions). Items in no kept interaction are not written.

Row order: users sorted by id; per user by timestamp, ties broken by the order of --domains
and then by the line order of the raw file (the 2014 files carry the original per-user order).
"""


def parser() -> argparse.ArgumentParser:
    """Build the argument parser."""
    p = argparse.ArgumentParser(
        prog="python -m dataset_converters.amazon",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--input", required=True, type=Path, help="folder with the raw files")
    p.add_argument("--domains", required=True, nargs="+", metavar="CAT",
                   help="categories as in the file names, e.g. Beauty Toys_and_Games")
    p.add_argument("--output", required=True, type=Path, metavar="DATA_PATH",
                   help="RecBole data_path; the dataset goes to DATA_PATH/NAME/")
    p.add_argument("--name", required=True, help="dataset name")
    p.add_argument("--release", choices=list(RELEASES),
                   help="release layout (default: detected from file names)")
    p.add_argument("--kcore", type=int, default=5,
                   help="K for k-core on users and items of the merged data (default 5)")
    p.add_argument("--min-domains", type=int, default=1, metavar="N",
                   help="after k-core, keep users active in at least N domains (default 1)")
    p.add_argument("--max-users", type=int, default=None, metavar="N",
                   help="after --min-domains, keep a seeded random sample of N users")
    p.add_argument("--seed", type=int, default=2020, help="seed for --max-users (default 2020)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output folders (files not named NAME.*, e.g. README.md, are kept)")
    p.add_argument("--per-domain", action="store_true",
                   help="also write NAME_<domain> single-domain datasets from the same filtered data")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    """Run the converter; return 0 on success, 2 on a conversion error."""
    args = parser().parse_args(argv)
    opts = Options(
        input=args.input, domains=args.domains, output=args.output, name=args.name,
        release=args.release, kcore=args.kcore, min_domains=args.min_domains,
        max_users=args.max_users, seed=args.seed, overwrite=args.overwrite,
        per_domain=args.per_domain,
    )
    try:
        stats = convert(opts)
    except ConversionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = stats["output"]
    print(f"wrote {args.output / args.name}: {out['users']} users, {out['items']} items, "
          f"{out['interactions']} interactions")
    for d, s in out["per_domain"].items():
        print(f"  {d}: {s['users']} users, {s['items']} items, {s['interactions']} interactions")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    sys.exit(main())
