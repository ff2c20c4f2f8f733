"""Streaming, gzip-aware readers for the 2014, 2018 and 2023 Amazon review releases.

File names decide the release unless one is given:

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
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Tuple

from dataset_converters.errors import ConversionError

logger = logging.getLogger(__name__)

RELEASES = ("2014", "2018", "2023")

#: Candidate file names per release: (reviews patterns, metadata patterns), in preference order.
FILE_PATTERNS: Dict[str, Tuple[Tuple[str, ...], Tuple[str, ...]]] = {
    "2014": (
        ("reviews_{c}_5.json.gz", "reviews_{c}_5.json", "reviews_{c}.json.gz", "reviews_{c}.json"),
        ("meta_{c}.json.gz", "meta_{c}.json"),
    ),
    "2018": (
        ("{c}_5.json.gz", "{c}_5.json", "{c}.json.gz", "{c}.json", "{c}.csv", "{c}.csv.gz"),
        ("meta_{c}.json.gz", "meta_{c}.json"),
    ),
    "2023": (
        ("{c}.jsonl.gz", "{c}.jsonl"),
        ("meta_{c}.jsonl.gz", "meta_{c}.jsonl"),
    ),
}

#: Timestamps at or above this many seconds (year 5138) are taken to be milliseconds.
MS_THRESHOLD = 10**11


@dataclass(frozen=True)
class DomainFiles:
    """The located files of one domain (category)."""

    domain: str
    release: str
    reviews: Path
    meta: Path

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


def locate(input_dir: Path, domain: str, release: Optional[str] = None) -> DomainFiles:
    """Find the reviews and metadata files of ``domain``; detect the release from names."""
    releases = (release,) if release else RELEASES
    found: List[Tuple[str, Path]] = []
    looked: List[str] = []
    for rel in releases:
        for pattern in FILE_PATTERNS[rel][0]:
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
    metas = [input_dir / p.format(c=domain) for p in FILE_PATTERNS[rel][1]]
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


#: Field names per release: user, item, timestamp, timestamp unit, rating.
REVIEW_FIELDS = {
    "2014": ("reviewerID", "asin", "unixReviewTime", "s", "overall"),
    "2018": ("reviewerID", "asin", "unixReviewTime", "s", "overall"),
    "2023": ("user_id", "parent_asin", "timestamp", "ms", "rating"),
}
META_ITEM_FIELD = {"2014": "asin", "2018": "asin", "2023": "parent_asin"}


def read_reviews(files: DomainFiles, counts: Counter, now: float) -> List[Review]:
    """Read every review of a domain, in file order."""
    if files.is_csv:
        reviews = list(_read_csv_reviews(files.reviews, counts, now))
    else:
        user_f, item_f, ts_f, unit, rating_f = REVIEW_FIELDS[files.release]
        reviews = []
        for lineno, text in iter_lines(files.reviews, counts):
            rec = parse_json(files.reviews, lineno, text)
            reviews.append(
                Review(
                    user=_id(rec, user_f, files.reviews, lineno),
                    item=_id(rec, item_f, files.reviews, lineno),
                    timestamp=check_timestamp(rec.get(ts_f), ts_f, files.reviews, lineno, unit, now),
                    rating=_rating(rec, rating_f, files.reviews, lineno),
                    line=lineno,
                )
            )
    if not reviews:
        raise ConversionError(f"{files.reviews}: contains no reviews")
    counts["reviews_read"] += len(reviews)
    return reviews


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
    item_f = META_ITEM_FIELD[files.release]
    parse = parse_literal if files.release == "2014" else parse_json
    titles: Dict[str, Optional[str]] = {}
    for lineno, text in iter_lines(files.meta, counts):
        rec = parse(files.meta, lineno, text)
        item = _id(rec, item_f, files.meta, lineno)
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
