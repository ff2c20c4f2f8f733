"""Command line: convert Amazon review releases into a RecBole dataset.

Run as ``python -m dataset_converters.amazon``. Flags are snake_case (``--max_users``); the old dashed
spellings (``--max-users``) still work for one release, with a deprecation warning.
"""

import argparse
import logging
import sys
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from dataset_converters.errors import ConversionError
from dataset_converters.pipeline import CATALOGUES, Options, convert
from dataset_converters.readers import RELEASES

logger = logging.getLogger(__name__)

DESCRIPTION = f"""\
Convert Amazon review data ({", ".join(RELEASES)} release) of one or more categories into
one RecBole dataset DATA_PATH/NAME/ (NAME.inter, NAME.item, NAME.stats.json).

Filtering order: items without metadata or with an empty title are dropped with their
reviews; duplicate (user, item) reviews keep the first; then k-core (--kcore) runs on all
users and items of the merged data of the listed domains until it holds; THEN --min_domains
and THEN --max_users select users WITHOUT filtering items again (items of the selected users
may have fewer than K interactions). Items in no kept interaction are not written, unless
--catalogue all: then NAME.item lists every item of the listed domains that survived the
k-core (with its title and domain), whether or not a selected user touched it; NAME.inter is
the same as with the default --catalogue interacted.

Row order: users sorted by id; per user by timestamp, ties broken by the order of --domains
and then by the line order of the raw file (the 2014 files carry the original per-user order).

Memory: the default keeps every review as a Python object (peak about 510 MiB per million
review lines: 5.1 GiB for 10M); --streaming reads one line at a time into compact integer
columns (about 110 MiB per million lines: 1.1 GiB for 10M, 2x less CPU) and writes the same
files byte for byte. Use it above a few million lines (docs/RESULTS.md, "Speed and memory").
"""


def parser() -> argparse.ArgumentParser:
    """Build the argument parser."""
    p = argparse.ArgumentParser(
        prog="python -m dataset_converters.amazon",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--input", required=True, type=Path, nargs="+", metavar="DIR",
                   help="folder(s) with the raw files; each domain is read from the first folder holding it")
    p.add_argument("--id_prefix", nargs="+", default=[], metavar="DOMAIN=PREFIX",
                   help="put PREFIX before the user and item ids of DOMAIN (releases that number ids alike, "
                        "e.g. 2014 Clothing and 2018 Video_Games, then stay apart)")
    p.add_argument("--domains", required=True, nargs="+", metavar="CAT",
                   help="categories as in the file names, e.g. Beauty Toys_and_Games")
    p.add_argument("--output", required=True, type=Path, metavar="DATA_PATH",
                   help="RecBole data_path; the dataset goes to DATA_PATH/NAME/")
    p.add_argument("--name", required=True, help="dataset name")
    p.add_argument("--release", choices=list(RELEASES),
                   help="release layout (default: detected from file names)")
    p.add_argument("--kcore", type=int, default=5,
                   help="K for k-core on users and items of the merged data (default 5)")
    p.add_argument("--min_domains", type=int, default=1, metavar="N",
                   help="after k-core, keep users active in at least N domains (default 1)")
    p.add_argument("--max_users", type=int, default=None, metavar="N",
                   help="after --min_domains, keep a seeded random sample of N users")
    p.add_argument("--seed", type=int, default=2020, help="seed for --max_users (default 2020)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output folders (files not named NAME.*, e.g. README.md, are kept)")
    p.add_argument("--per_domain", action="store_true",
                   help="also write NAME_<domain> single-domain datasets from the same filtered data")
    p.add_argument("--catalogue", choices=list(CATALOGUES), default="interacted",
                   help="items written to NAME.item: 'interacted' (default) = items of the kept "
                        "interactions; 'all' = every item surviving the k-core on the merged data, "
                        "also those no selected user touched (an open catalogue)")
    p.add_argument("--streaming", action="store_true",
                   help="low-memory path for big files (see Memory above): same output byte "
                        "for byte")
    return p


def modernize(argv: Sequence[str]) -> List[str]:
    """Dashed flags (``--max-users``) in today's snake_case, each with a deprecation warning (the
    converters need nothing of the recommender package: this mirrors its ``utils.cli_spellings``)."""
    out = []
    for word in argv:
        flag, sep, value = word.partition("=")
        if flag.startswith("--") and "-" in flag[2:]:
            new = "--" + flag[2:].replace("-", "_")
            message = f"{flag} is deprecated and will be removed in the next release; use {new}"
            warnings.warn(message, DeprecationWarning, stacklevel=2)
            logger.warning(message)
            word = new + sep + value
        out.append(word)
    return out


def id_prefixes(items: Sequence[str]) -> Dict[str, str]:
    """``["Clothing=clo", ...]`` -> ``{"Clothing": "clo"}``."""
    prefixes = {}
    for item in items:
        domain, sep, prefix = item.partition("=")
        if not sep or not domain or not prefix:
            raise ConversionError(f"--id_prefix takes DOMAIN=PREFIX, got {item!r}")
        prefixes[domain] = prefix
    return prefixes


def main(argv: Optional[List[str]] = None) -> int:
    """Run the converter; return 0 on success, 2 on a conversion error."""
    args = parser().parse_args(modernize(sys.argv[1:] if argv is None else argv))
    try:
        prefixes = id_prefixes(args.id_prefix)
    except ConversionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    opts = Options(id_prefix=prefixes,
        input=args.input, domains=args.domains, output=args.output, name=args.name,
        release=args.release, kcore=args.kcore, min_domains=args.min_domains,
        max_users=args.max_users, seed=args.seed, overwrite=args.overwrite,
        per_domain=args.per_domain, catalogue=args.catalogue, streaming=args.streaming,
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
    if "catalogue" in stats:
        cat = stats["catalogue"]
        print(f"  catalogue ({cat['mode']}): {cat['items']} items in {args.name}.item, "
              f"{cat['items_without_interaction']} of them in no interaction")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    sys.exit(main())
