"""RecBole's own ``load_data_and_model`` + a trainer's ``evaluate`` in a fresh process.

RecBole 1.2.1's NDCG uses ``np.float`` (removed in numpy 1.24); only building a ``Config`` restores
it. ``load_data_and_model`` unpickles the config instead of building one, so these checks must run
in a process where no Config was ever built: a subprocess that only imports ``recbole_llmrec``.
"""
import json
import subprocess
import sys
import textwrap

import pytest

from model_helpers import build_tiny_lm
from recbole_llmrec.runs.quick_start import run
from conftest import TINY_YAML

SCRIPT = textwrap.dedent("""
    import json, sys
    import recbole_llmrec  # noqa: F401  (the only plugin line a RecBole user adds)
    from recbole.quick_start import load_data_and_model
    from recbole.utils import get_trainer

    path = sys.argv[1]
    config, model, dataset, train_data, valid_data, test_data = load_data_and_model(path)
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    in_memory = trainer.evaluate(test_data, load_best_model=False)
    from_file = trainer.evaluate(test_data, model_file=path)
    print(json.dumps({"model": config["model"], "in_memory": dict(in_memory),
                      "from_file": dict(from_file)}))
""")


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    return build_tiny_lm("bert", tmp_path_factory.mktemp("lm") / "bert")


def _evaluate_in_fresh_process(checkpoint, cwd):
    proc = subprocess.run([sys.executable, "-c", SCRIPT, checkpoint], cwd=cwd,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _check(result, model, trained):
    assert result["model"] == model
    assert set(result["in_memory"]) == set(trained["test_result"])
    for key, value in trained["test_result"].items():
        assert result["in_memory"][key] == pytest.approx(value, abs=1e-4), key
        assert result["from_file"][key] == pytest.approx(value, abs=1e-4), key


def test_llmrec_checkpoint_loads_and_evaluates_in_fresh_process(tiny_config_dict, tiny_bert, tmp_path):
    config = dict(tiny_config_dict, llm_path=str(tiny_bert), autocast_dtype="fp32",
                  max_title_tokens=8, max_history=5, MAX_ITEM_LIST_LENGTH=5)
    trained = run("LLMRec", "tiny_mixed", [str(TINY_YAML)], config)
    _check(_evaluate_in_fresh_process(trained["checkpoint"], tmp_path), "LLMRec", trained)


@pytest.mark.parametrize("model", ["SASRec", "Pop"])
def test_baseline_checkpoint_loads_and_evaluates_in_fresh_process(tiny_config_dict, tmp_path, model):
    trained = run(model, "tiny_mixed", [str(TINY_YAML)], tiny_config_dict)
    _check(_evaluate_in_fresh_process(trained["checkpoint"], tmp_path), model, trained)
