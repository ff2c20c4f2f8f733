"""Train and evaluate LLMRec or any RecBole model: ``python run_recbole_llmrec.py --model=LLMRec --dataset=amazon_mixed``."""
import sys

from recbole_llmrec.runs.quick_start import cli

if __name__ == "__main__":
    sys.exit(cli())
