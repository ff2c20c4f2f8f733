"""Streaming, gzip-aware readers for the Amazon review releases (one :class:`Release` record each).

File names decide the release unless one is given (today's records):

* 2014: ``reviews_<Cat>_5.json(.gz)`` or ``reviews_<Cat>.json(.gz)`` + ``meta_<Cat>.json(.gz)``
  (metadata lines are Python literals; strict JSON lines are accepted too).
* 2018: ``<Cat>_5.json(.gz)``, ``<Cat>.json(.gz)`` or the ratings-only CSV ``<Cat>.csv(.gz)``
  (``item,user,rating,timestamp``, no header) + ``meta_<Cat>.json(.gz)`` (strict JSON).
* 2023: ``<Cat>.jsonl(.gz)`` + ``meta_<Cat>.jsonl(.gz)``; item id = ``parent_asin``,
  timestamps in milliseconds (converted to seconds, floor).

Every problem is raised as :class:`ConversionError` naming file, line and field.
"""

import ast
import csv
import gzip
import json
import logging
import math
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

from dataset_converters.errors import ConversionError

logger = logging.getLogger(__name__)



@dataclass(frozen=True)
class ReviewFields:
    """Where a release's review records keep each value."""

    user: str
    item: str
    timestamp: str
    timestamp_unit: str  # "s" or "ms"
    rating: str


@dataclass(frozen=True)
class Release:
    """Everything the converter knows about one Amazon release: adding a release = one record
    in :data:`RELEASE_LIST`.

    ``review_files`` / ``meta_files``: candidate file names (``{c}`` = category), in preference
    order; a reviews name ending in ``.csv``/``.csv.gz`` is the ratings-only CSV layout
    (``item,user,rating,timestamp``). ``meta_format``: ``literal`` (Python literals, strict JSON
    accepted) or ``json``.
    """

    name: str
    review_files: Tuple[str, ...]
    meta_files: Tuple[str, ...]
    review_fields: ReviewFields
    meta_item_field: str
    meta_format: str


_ASIN_FIELDS = ReviewFields("reviewerID", "asin", "unixReviewTime", "s", "overall")

RELEASE_LIST: Tuple[Release, ...] = (
    Release(
        name="2014",
        review_files=("reviews_{c}_5.json.gz", "reviews_{c}_5.json", "reviews_{c}.json.gz",
                      "reviews_{c}.json"),
        meta_files=("meta_{c}.json.gz", "meta_{c}.json"),
        review_fields=_ASIN_FIELDS, meta_item_field="asin", meta_format="literal",
    ),
    Release(
        name="2018",
        review_files=("{c}_5.json.gz", "{c}_5.json", "{c}.json.gz", "{c}.json", "{c}.csv",
                      "{c}.csv.gz"),
        meta_files=("meta_{c}.json.gz", "meta_{c}.json"),
        review_fields=_ASIN_FIELDS, meta_item_field="asin", meta_format="json",
    ),
    Release(
        name="2023",
        review_files=("{c}.jsonl.gz", "{c}.jsonl"),
        meta_files=("meta_{c}.jsonl.gz", "meta_{c}.jsonl"),
        review_fields=ReviewFields("user_id", "parent_asin", "timestamp", "ms", "rating"),
        meta_item_field="parent_asin", meta_format="json",
    ),
)

#: Releases by name; the CLI's ``--release`` choices.
RELEASE_BY_NAME: Dict[str, Release] = {r.name: r for r in RELEASE_LIST}
RELEASES: Tuple[str, ...] = tuple(RELEASE_BY_NAME)

#: Timestamps at or above this many seconds (year 5138) are taken to be milliseconds.
MS_THRESHOLD = 10**11


@dataclass(frozen=True)
class DomainFiles:
    """The located files of one domain (category)."""

    domain: str
    release: str
    reviews: Path
    meta: Path
    #: put before every user and item id read (``--id_prefix``): keeps apart ids that two releases share
    id_prefix: str = ""

    @property
    def spec(self) -> Release:
        """The release's record."""
        return RELEASE_BY_NAME[self.release]

    @property
    def is_csv(self) -> bool:
        """True for the 2018 ratings-only CSV layout."""
        return self.reviews.name.endswith((".csv", ".csv.gz"))


class Review(NamedTuple):
    """One review line: ids, timestamp in seconds, optional rating, 1-based line number."""

    user: str
    item: str
    timestamp: int
    rating: Optional[float]
    line: int


def locate_in(input_dirs: Sequence[Path], domain: str, release: Optional[str] = None) -> DomainFiles:
    """:func:`locate` in the first of ``input_dirs`` that holds a reviews file of ``domain``."""
    names = [p.format(c=domain) for rel in ((release,) if release else RELEASES)
             for p in RELEASE_BY_NAME[rel].review_files]
    holding = [d for d in input_dirs if any((d / name).is_file() for name in names)]
    return locate((holding or list(input_dirs))[0], domain, release)


def locate(input_dir: Path, domain: str, release: Optional[str] = None) -> DomainFiles:
    """Find the reviews and metadata files of ``domain``; detect the release from names."""
    releases = (release,) if release else RELEASES
    found: List[Tuple[str, Path]] = []
    looked: List[str] = []
    for rel in releases:
        for pattern in RELEASE_BY_NAME[rel].review_files:
            name = pattern.format(c=domain)
            looked.append(name)
            if (input_dir / name).is_file():
                found.append((rel, input_dir / name))
                break
    if not found:
        raise ConversionError(
            f"{input_dir}: no reviews file for domain '{domain}' (looked for {', '.join(looked)})"
        )
    if len(found) > 1:
        names = ", ".join(f"{p.name} ({r})" for r, p in found)
        raise ConversionError(
            f"{input_dir}: domain '{domain}' matches several releases ({names}); pass --release"
        )
    rel, reviews = found[0]
    metas = [input_dir / p.format(c=domain) for p in RELEASE_BY_NAME[rel].meta_files]
    meta = next((m for m in metas if m.is_file()), None)
    if meta is None:
        raise ConversionError(
            f"{input_dir}: no metadata file for domain '{domain}' "
            f"(looked for {', '.join(m.name for m in metas)})"
        )
    return DomainFiles(domain=domain, release=rel, reviews=reviews, meta=meta)


def iter_lines(path: Path, counts: Counter) -> Iterator[Tuple[int, str]]:
    """Yield ``(line_number, text)`` for non-blank lines; blank lines are counted and skipped.

    Raises :class:`ConversionError` for unreadable gzip data and non-UTF-8 bytes.
    """
    opener = gzip.open if path.name.endswith(".gz") else open
    lineno = 0
    try:
        with opener(path, "rb") as handle:
            for lineno, raw in enumerate(handle, 1):
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise ConversionError.at(
                        path, lineno, f"not valid UTF-8 (byte {exc.start} of the line)"
                    ) from None
                if lineno == 1:
                    text = text.lstrip("\ufeff")
                if not text.strip():
                    counts["blank_lines_skipped"] += 1
                    continue
                yield lineno, text
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise ConversionError.at(
            path, lineno + 1, f"unreadable gzip data, file truncated or corrupt ({exc})"
        ) from None
    except OSError as exc:
        raise ConversionError(f"{path}: cannot read file ({exc})") from None


def parse_json(path: Path, lineno: int, text: str) -> Dict[str, Any]:
    """Parse a strict JSON object line."""
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except (json.JSONDecodeError, ValueError) as exc:
        hint = ""
        if text.lstrip().startswith("{'"):
            hint = " (looks like a Python literal, the 2014 metadata layout)"
        raise ConversionError.at(path, lineno, f"not valid JSON{hint}: {exc}") from None
    return _require_object(path, lineno, value)


def parse_literal(path: Path, lineno: int, text: str) -> Dict[str, Any]:
    """Parse a 2014 metadata line: a Python literal dict; a strict JSON object is accepted too."""
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        try:
            value = json.loads(text, parse_constant=_reject_constant)
        except ValueError:
            raise ConversionError.at(
                path, lineno, "neither a Python literal dict nor a JSON object"
            ) from None
    return _require_object(path, lineno, value)


def _reject_constant(name: str) -> None:
    raise ValueError(f"constant {name} not allowed")


def _require_object(path: Path, lineno: int, value: Any) -> Dict[str, Any]:
    if not isinstance(value, dict):
        raise ConversionError.at(path, lineno, f"expected an object, got {type(value).__name__}")
    return value


def _id(record: Dict[str, Any], field: str, path: Path, lineno: int) -> str:
    value = record.get(field)
    if value is None:
        raise ConversionError.at(path, lineno, f"field '{field}' missing")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ConversionError.at(path, lineno, f"field '{field}' is not a string")
    value = str(value).strip()
    if not value:
        raise ConversionError.at(path, lineno, f"field '{field}' empty")
    if any(ch in value for ch in "\t\r\n\"") or not value.isprintable():
        raise ConversionError.at(
            path, lineno, f"field '{field}' contains a tab, newline, quote or control character"
        )
    return value


def check_timestamp(value: Any, field: str, path: Path, lineno: int, unit: str, now: float) -> int:
    """Validate a raw timestamp in ``unit`` ('s' or 'ms') and return whole seconds."""
    if value is None:
        raise ConversionError.at(path, lineno, f"field '{field}' missing")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConversionError.at(path, lineno, f"field '{field}' is not a number: {value!r}")
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise ConversionError.at(path, lineno, f"field '{field}' is not a whole number: {value!r}")
    value = int(value)
    if value < 0:
        raise ConversionError.at(path, lineno, f"field '{field}' is negative: {value}")
    if unit == "s" and value >= MS_THRESHOLD:
        raise ConversionError.at(
            path, lineno, f"field '{field}' looks like milliseconds ({value}); this release uses seconds"
        )
    if unit == "ms" and 0 < value < MS_THRESHOLD:
        raise ConversionError.at(
            path, lineno, f"field '{field}' looks like seconds ({value}); the 2023 release uses milliseconds"
        )
    seconds = value // 1000 if unit == "ms" else value
    if seconds > now:
        raise ConversionError.at(path, lineno, f"field '{field}' is in the future: {value}")
    return seconds


def _rating(record: Dict[str, Any], field: str, path: Path, lineno: int) -> Optional[float]:
    value = record.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConversionError.at(path, lineno, f"field '{field}' is not a number: {value!r}")
    return float(value)


def iter_reviews(files: DomainFiles, counts: Counter, now: float) -> Iterator[Review]:
    """Yield every review of a domain, in file order, one line at a time (constant memory).

    Counts ``reviews_read``; raises :class:`ConversionError` at the end if there were none.
    """
    n = 0
    if files.is_csv:
        reviews: Iterator[Review] = _read_csv_reviews(files.reviews, counts, now)
    else:
        reviews = _read_json_reviews(files, counts, now)
    prefix = files.id_prefix
    for review in reviews:
        n += 1
        yield review._replace(user=prefix + review.user, item=prefix + review.item) if prefix else review
    if not n:
        raise ConversionError(f"{files.reviews}: contains no reviews")
    counts["reviews_read"] += n


def read_reviews(files: DomainFiles, counts: Counter, now: float) -> List[Review]:
    """Read every review of a domain, in file order."""
    return list(iter_reviews(files, counts, now))


def _read_json_reviews(files: DomainFiles, counts: Counter, now: float) -> Iterator[Review]:
    fields = files.spec.review_fields
    user_f, item_f, ts_f, unit, rating_f = (fields.user, fields.item, fields.timestamp,
                                            fields.timestamp_unit, fields.rating)
    for lineno, text in iter_lines(files.reviews, counts):
        rec = parse_json(files.reviews, lineno, text)
        yield Review(
            user=_id(rec, user_f, files.reviews, lineno),
            item=_id(rec, item_f, files.reviews, lineno),
            timestamp=check_timestamp(rec.get(ts_f), ts_f, files.reviews, lineno, unit, now),
            rating=_rating(rec, rating_f, files.reviews, lineno),
            line=lineno,
        )


CSV_FIELDS = ("item", "user", "rating", "timestamp")


def _read_csv_reviews(path: Path, counts: Counter, now: float) -> Iterator[Review]:
    for lineno, text in iter_lines(path, counts):
        row = next(csv.reader([text.rstrip("\r\n")]))
        if len(row) != len(CSV_FIELDS):
            raise ConversionError.at(
                path, lineno, f"expected 4 fields item,user,rating,timestamp, got {len(row)}"
            )
        rec: Dict[str, Any] = dict(zip(CSV_FIELDS, row))
        for field, cast in (("rating", float), ("timestamp", int)):
            try:
                rec[field] = cast(rec[field])
            except ValueError:
                raise ConversionError.at(
                    path, lineno, f"field '{field}' is not a number: {rec[field]!r}"
                ) from None
        yield Review(
            user=_id(rec, "user", path, lineno),
            item=_id(rec, "item", path, lineno),
            timestamp=check_timestamp(rec["timestamp"], "timestamp", path, lineno, "s", now),
            rating=_rating(rec, "rating", path, lineno),
            line=lineno,
        )


def read_meta(files: DomainFiles, counts: Counter) -> Dict[str, Optional[str]]:
    """Map item id -> raw title (``None`` when the record has no title); first record wins."""
    item_f = files.spec.meta_item_field
    parse = parse_literal if files.spec.meta_format == "literal" else parse_json
    titles: Dict[str, Optional[str]] = {}
    for lineno, text in iter_lines(files.meta, counts):
        rec = parse(files.meta, lineno, text)
        item = files.id_prefix + _id(rec, item_f, files.meta, lineno)
        title = rec.get("title")
        if title is not None and not isinstance(title, str):
            raise ConversionError.at(files.meta, lineno, f"field 'title' is not a string: {title!r}")
        counts["meta_records"] += 1
        if item in titles:
            counts["meta_duplicate_records_skipped"] += 1
            continue
        titles[item] = title
    if not titles:
        raise ConversionError(f"{files.meta}: contains no metadata records")
    return titles
