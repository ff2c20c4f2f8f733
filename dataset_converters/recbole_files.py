"""Writers for RecBole atomic files (``.inter``, ``.item``) and the stats JSON."""

import csv
import json
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping

from dataset_converters.merging import Interaction

INTER_HEADER = ["user_id:token", "item_id:token", "timestamp:float", "domain:token"]
RATING_HEADER = "rating:float"
ITEM_HEADER = ["item_id:token", "title:token", "domain:token"]


def _writer(handle: Any) -> Any:
    return csv.writer(
        handle, delimiter="\t", quoting=csv.QUOTE_MINIMAL, quotechar='"', lineterminator="\n"
    )


def _format_rating(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def write_inter(path: Path, rows: Iterable[Interaction], with_rating: bool) -> None:
    """Write ``NAME.inter``: rows in the given order, integer timestamps."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = _writer(handle)
        writer.writerow(INTER_HEADER + ([RATING_HEADER] if with_rating else []))
        for r in rows:
            fields: List[str] = [r.user, r.item, str(int(r.timestamp)), r.domain]
            if with_rating:
                fields.append(_format_rating(r.rating))
            writer.writerow(fields)


def write_item(path: Path, titles: Mapping[str, str], domains: Mapping[str, str]) -> None:
    """Write ``NAME.item`` with rows sorted by item id."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = _writer(handle)
        writer.writerow(ITEM_HEADER)
        for item in sorted(titles):
            writer.writerow([item, titles[item], domains[item]])


def write_stats(path: Path, stats: Dict[str, Any]) -> None:
    """Write the stats as sorted-key JSON so rebuilds are byte-identical."""
    text = json.dumps(stats, sort_keys=True, indent=2, ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8")


def write_dataset(folder: Path, name: str, rows: Iterable[Interaction], items: Mapping[str, str],
                  titles: Mapping[str, str], stats: Dict[str, Any], with_rating: bool) -> None:
    """Write ``NAME.inter`` (``rows``, streamed once), ``NAME.item`` (``items``: id -> domain,
    with their titles) and ``NAME.stats.json``."""
    write_inter(folder / f"{name}.inter", rows, with_rating)
    write_item(folder / f"{name}.item", {i: titles[i] for i in items}, items)
    write_stats(folder / f"{name}.stats.json", stats)
