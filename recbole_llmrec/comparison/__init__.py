"""Model comparison (behind ``run_benchmark.py``): several models under the same split and
evaluator, with resumable per-run results. (The speed benchmark is ``benchmarks/``.)

Layout of a benchmark folder::

    DIR/manifest.json        dataset + config the results belong to (guards against mixing)
    DIR/runs/<model>__seed<seed>.json   one finished (model, seed) run each, written atomically
    DIR/results.{md,csv,json,png}       rebuilt from DIR/runs/ after every invocation
"""
from recbole_llmrec.comparison.runner import BenchmarkSpec, run_benchmark

__all__ = ["BenchmarkSpec", "run_benchmark"]
