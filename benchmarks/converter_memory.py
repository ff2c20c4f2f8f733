"""Peak memory (RSS) and wall time of the Amazon converter on big files, both paths.

Cases: ``real`` = a real reviews file (default: the 2018 Video Games 5-core file, 453,637
lines, from ``../shared/data``); ``synthetic`` = a file of ``--lines`` lines in the same layout,
made in a temporary folder by repeating the real lines with distinct ids per copy (user
``A<copy><n>``, item ``B<copy><n>``, 10 and 14 characters like real ASINs / reviewerIDs),
timestamps shifted by ``copy`` days and titles suffixed ``#<copy>``; it is deleted afterwards.
Each run is a fresh ``python -m dataset_converters.amazon`` process under ``/usr/bin/time -v``
(its "Maximum resident set size"; ``ru_maxrss`` from ``os.wait4`` where ``time`` is missing). Outputs of
the two paths are compared by sha256. Run it on a quiet machine; it runs one process at a time.

    python -m benchmarks.converter_memory                        # real + 10M-line synthetic
    python -m benchmarks.converter_memory --cases real --engines streaming
"""

import argparse
import gzip
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from recbole_llmrec.runs.files import file_sha256
from recbole_llmrec.utils.atomic import write_json_atomic
from recbole_llmrec.utils.machine import cpu_flags, cpu_name

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INPUT = ROOT.parent / "shared" / "data" / "amazon2018"
DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "converter" / "converter_memory.json"
BOOKS_2018_LINES = 27_164_983  # 2018 Books 5-core reviews
DAY = 86_400


def machine() -> Dict[str, Any]:
    """CPU, cores, memory, versions and load: what the numbers depend on."""
    import numpy

    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    flags = sorted(f for f in (cpu_flags() or "").split() if f.startswith(("avx2", "avx512", "amx")))
    return {"cpu": cpu_name(), "cpu_flags": flags, "cores": os.cpu_count(),
            "memory_gib": round(mem / 2**30, 1), "python": platform.python_version(),
            "numpy": numpy.__version__, "load_average": list(os.getloadavg())}


def _ids(values: List[str]) -> Dict[str, int]:
    return {v: n for n, v in enumerate(dict.fromkeys(values))}


def make_synthetic(real: Path, domain: str, lines: int, folder: Path) -> Dict[str, Any]:
    """Write ``<domain>_5.json.gz`` (``lines`` lines) + ``meta_<domain>.json.gz`` into ``folder``."""
    reviews = [json.loads(x) for x in gzip.open(real / f"{domain}_5.json.gz", "rt", encoding="utf-8")]
    meta = [json.loads(x) for x in gzip.open(real / f"meta_{domain}.json.gz", "rt", encoding="utf-8")]
    users = _ids([r["reviewerID"] for r in reviews])
    items = _ids([r["asin"] for r in reviews] + [m["asin"] for m in meta])
    base = [(users[r["reviewerID"]], items[r["asin"]], int(r["unixReviewTime"]),
             json.dumps(r.get("reviewTime", ""))) for r in reviews]
    copies = -(-lines // len(base))
    written = 0
    with gzip.open(folder / f"{domain}_5.json.gz", "wt", encoding="utf-8", compresslevel=1) as fh:
        for c in range(copies):
            chunk = [f'{{"reviewerID": "A{c:03d}X{u:09d}", "asin": "B{c:03d}{i:06d}", '
                     f'"unixReviewTime": {ts + c * DAY}, "reviewTime": {rt}}}\n'
                     for u, i, ts, rt in base[: lines - written]]
            fh.writelines(chunk)
            written += len(chunk)
    with gzip.open(folder / f"meta_{domain}.json.gz", "wt", encoding="utf-8", compresslevel=1) as fh:
        for c in range(copies):
            fh.writelines(json.dumps({"asin": f"B{c:03d}{items[m['asin']]:06d}",
                                      "title": f"{m.get('title', '')} #{c}"}) + "\n" for m in meta)
    return {"lines": written, "copies": copies, "meta_lines": copies * len(meta),
            "bytes_gz": (folder / f"{domain}_5.json.gz").stat().st_size}


TIME = Path("/usr/bin/time")


def run_converter(args: List[str], log: Path) -> Tuple[float, int, float, int]:
    """Run the converter in a fresh process: (wall s, peak RSS bytes, CPU s, exit status).

    Under ``/usr/bin/time -v`` where it exists (its maximum resident set size), else the
    child's ``ru_maxrss`` from ``os.wait4``; either way the parent must stay small, because a
    forked child's peak counts the parent's memory at the fork.
    """
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "dataset_converters.amazon", *args]
    timed = TIME.exists()
    start = time.monotonic()
    with open(log, "w") as out:
        proc = subprocess.Popen(([str(TIME), "-v"] if timed else []) + cmd, cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    rss, cpu = usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime
    if timed:
        report = dict(line.strip().split(": ", 1) for line in log.read_text().splitlines()
                      if line.startswith("\t") and ": " in line)
        rss = int(report["Maximum resident set size (kbytes)"]) * 1024
        cpu = float(report["User time (seconds)"]) + float(report["System time (seconds)"])
    return wall, rss, cpu, os.waitstatus_to_exitcode(status)


def digest(folder: Path) -> Dict[str, str]:
    """sha256 of every file of a dataset folder."""
    return {p.name: file_sha256(str(p)) for p in sorted(folder.iterdir())}


def measure(case: str, folder: Path, domain: str, lines: int, engines: List[str],
            work: Path) -> List[Dict[str, Any]]:
    """Convert ``folder`` once per engine; return one record each (and compare outputs)."""
    records, digests = [], {}
    for engine in engines:
        out = work / f"out_{case}_{engine}"
        args = ["--input", str(folder), "--domains", domain, "--output", str(out), "--name", "ds"]
        args += ["--streaming"] if engine == "streaming" else []
        wall, rss, cpu, rc = run_converter(args, work / f"{case}_{engine}.log")
        log = (work / f"{case}_{engine}.log").read_text()
        rec = {"case": case, "engine": engine, "lines": lines,
               "command": "python -m dataset_converters.amazon " + " ".join(
                   {str(folder): f"<{case} input>", str(out): "<tmp>/out"}.get(a, a) for a in args),
               "exit_status": rc, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
               "peak_rss_mib": round(rss / 2**20, 1), "rss_bytes_per_line": round(rss / lines),
               "load_average_after": list(os.getloadavg())}
        if rc == 0:
            rec["result"] = next(x for x in log.splitlines() if x.startswith("wrote ")).split(": ", 1)[1]
            digests[engine] = digest(out / "ds")
            shutil.rmtree(out)
        else:
            rec["log_tail"] = log[-2000:]
        print(json.dumps(rec), flush=True)
        records.append(rec)
    if len(digests) > 1:
        same = len({json.dumps(d, sort_keys=True) for d in digests.values()}) == 1
        for rec in records:
            rec["output_identical_across_engines"] = same
    return records


def project(records: List[Dict[str, Any]], lines: int) -> Dict[str, Any]:
    """Per engine: peak RSS extrapolated linearly (through the two measured sizes) to ``lines``."""
    out = {}
    for engine in sorted({r["engine"] for r in records}):
        pts = sorted((r["lines"], r["peak_rss_mib"]) for r in records
                     if r["engine"] == engine and r["exit_status"] == 0)
        if len(pts) < 2 or pts[0][0] == pts[-1][0]:
            continue
        (x0, y0), (x1, y1) = pts[0], pts[-1]
        slope = (y1 - y0) / (x1 - x0)
        out[engine] = {"mib_per_million_lines": round(slope * 1e6, 1),
                       "projected_peak_rss_gib": round((y0 + slope * (lines - x0)) / 1024, 1),
                       "lines": lines}
    return out


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--input", type=Path, default=DEFAULT_INPUT, help="folder of the real file")
    p.add_argument("--domain", default="Video_Games")
    p.add_argument("--lines", type=int, default=10_000_000, help="synthetic file size")
    p.add_argument("--cases", default="real,synthetic")
    p.add_argument("--engines", default="memory,streaming")
    p.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    p.add_argument("--generate", type=Path, metavar="FOLDER",
                   help="only write the synthetic files into FOLDER (run in a child process)")
    args = p.parse_args(argv)
    if args.generate:
        print(json.dumps(make_synthetic(args.input, args.domain, args.lines, args.generate)))
        return 0
    engines = args.engines.split(",")
    result: Dict[str, Any] = {"machine_start": machine(), "runs": []}
    work = Path(tempfile.mkdtemp(prefix="converter_memory-"))
    try:
        if "real" in args.cases:
            n = sum(1 for _ in gzip.open(args.input / f"{args.domain}_5.json.gz", "rb"))
            result["runs"] += measure("real", args.input, args.domain, n, engines, work)
        if "synthetic" in args.cases:
            syn = work / "synthetic"
            syn.mkdir()
            start = time.monotonic()
            gen = subprocess.run([sys.executable, __file__, "--generate", str(syn), "--input",
                                  str(args.input), "--domain", args.domain, "--lines", str(args.lines)],
                                 check=True, capture_output=True, text=True)
            result["synthetic"] = dict(json.loads(gen.stdout), generation_s=round(time.monotonic() - start, 1))
            result["runs"] += measure("synthetic", syn, args.domain, args.lines, engines, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result["projection_2018_books"] = project(result["runs"], BOOKS_2018_LINES)
    result["machine_end"] = {"load_average": list(os.getloadavg())}
    write_json_atomic(result, str(args.output))
    print(json.dumps(result["projection_2018_books"], indent=2))
    return 0 if all(r["exit_status"] == 0 for r in result["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
