"""recbole-llmrec: LLM-Rec (language models as domain-agnostic recommenders) as a RecBole plugin."""
__version__ = "0.1.0"

from recbole_llmrec.checkpoint import register_safe_globals
from recbole_llmrec.registry import get_model, get_trainer, register_with_recbole

# Make our checkpoints loadable with weights_only=True and our models findable by RecBole's
# own utilities (load_data_and_model, case_study) as soon as the plugin is imported.
register_safe_globals()
register_with_recbole()

from recbole_llmrec.model.llmrec import LLMRec  # noqa: E402
from recbole_llmrec.quick_start import run  # noqa: E402

__all__ = ["LLMRec", "run", "get_model", "get_trainer", "__version__"]
