"""recbole-llmrec: LLM-Rec (language models as domain-agnostic recommenders) as a RecBole plugin."""
from typing import Any

__version__ = "0.1.0"

from recbole_llmrec.utils.numpy_compat import restore_numpy_aliases
from recbole_llmrec.runs.checkpoint import register_safe_globals
from recbole_llmrec.config.registry import get_model, register_with_recbole

# Make our checkpoints loadable with weights_only=True and our models findable by RecBole's
# own utilities (load_data_and_model, case_study) as soon as the plugin is imported.
restore_numpy_aliases()  # RecBole 1.2.1's metrics use np.float (removed in numpy 1.24)
register_safe_globals()
register_with_recbole()

__all__ = ["LLMRec", "run", "get_model", "get_trainer", "__version__"]


def __getattr__(name: str) -> Any:
    # LLMRec pulls in transformers, the run and trainer modules RecBole's trainers (seconds):
    # import them only when asked for.
    if name == "LLMRec":
        from recbole_llmrec.model.llmrec import LLMRec

        return LLMRec
    if name == "run":
        from recbole_llmrec.runs.quick_start import run

        return run
    if name == "get_trainer":
        from recbole_llmrec.runs.trainer import get_trainer

        return get_trainer
    raise AttributeError(f"module 'recbole_llmrec' has no attribute {name!r}")
