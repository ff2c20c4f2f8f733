"""Benchmark models under one split and evaluator:
``python run_benchmark.py --dataset=amazon_mixed --models=LLMRec,SASRec,GRU4Rec,BERT4Rec,Pop --output=DIR``."""
import sys

from recbole_llmrec.utils.cli_errors import run_cli
from recbole_llmrec.comparison.cli import main

if __name__ == "__main__":
    sys.exit(run_cli(main))
