"""Hyper-parameter search for LLMRec or any RecBole model:
``python run_hyper.py --model=SASRec --dataset=amazon_mixed --params_file=properties/hyper/SASRec.hyper --max_evals=10``."""
import sys

from recbole_llmrec.hyper.cli import cli

if __name__ == "__main__":
    sys.exit(cli())
