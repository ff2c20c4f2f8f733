"""LoRA targets: peft's own per-architecture defaults, a clear error where peft has none."""
import pytest
import torch

from recbole_llmrec.model.text.lora import add_lora, check_lora_targets


def test_known_architectures_use_peft_defaults():
    for model_type in ("bert", "opt", "t5", "llama", "gpt2"):
        check_lora_targets(model_type, None)  # no error: peft knows a default


def test_unknown_architecture_without_targets_is_a_clear_error():
    with pytest.raises(ValueError, match="peft has no default LoRA target modules for model type "
                                         "'nosuchlm'; set lora_target_modules"):
        check_lora_targets("nosuchlm", None)
    check_lora_targets("nosuchlm", ["q_proj"])  # explicit targets: fine


def test_lora_on_a_tiny_bert_targets_query_and_value(tiny_lms):
    import transformers

    backbone = transformers.AutoModel.from_pretrained(str(tiny_lms["bert"]), dtype=torch.float32)
    wrapped = add_lora(backbone, "bert", r=2, alpha=4, dropout=0.0)
    adapted = {name.split(".")[-2] for name, _ in wrapped.named_modules() if name.endswith("lora_A")}
    assert adapted == {"query", "value"}
    trainable = [n for n, p in wrapped.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
