"""Item vectors on disk: a cache keyed by checkpoint + catalogue, chunked encoding, and export.

* the cache (:class:`~recbole_llmrec.model.text.vector_cache.VectorCache`, the package's one vector
  cache, here ``ItemVectorCache``) keeps a catalogue's encoded vectors in a safetensors file named
  by a key made of the checkpoint file (path, size, modification time), the catalogue's content
  hash and the settings that change the vectors; files are written atomically, so a second
  ``recommend`` on the same catalogue skips the language model.
* :func:`encode_titles_to_npy` encodes any number of titles chunk by chunk into a ``.npy`` memmap:
  memory holds the output matrix plus one chunk.
* ``python -m recbole_llmrec.serving.item_vectors export --checkpoint PATH --output FILE`` writes a
  catalogue's item vectors as ``.npy`` (plus an ``.items.tsv`` naming each row) or as a RecBole
  feature file (``iid:token`` + ``item_emb:float_seq``, loaded with ``alias_of_item_id: [iid]``),
  never replacing a file without ``--overwrite``.
* ``python -m recbole_llmrec.serving.item_vectors encode --dataset NAME --output FILE [--llm_path LM]``
  writes the frozen LM's title vectors of a dataset or catalogue file (MiniLM by default, any local
  sentence-transformers folder or hub name) as ``.npy`` or ``.safetensors`` plus ``<stem>.items.tsv``:
  what ``title_vectors_file`` reads, so a model trains on vectors made elsewhere.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
import torch
from safetensors.torch import save_file

from recbole_llmrec.model.settings import LMSettings, build_record
from recbole_llmrec.model.text.text_encoder import TextOutput
from recbole_llmrec.model.text.text_items import TextItemEncoder
from recbole_llmrec.model.text.vector_cache import CACHE_ENV, VectorCache, default_cache_dir, file_identity
from recbole_llmrec.serving.catalogue import load_catalogue
from recbole_llmrec.serving.recommender import Recommender, catalogue_cache_key
from recbole_llmrec.utils.atomic import atomic_output
from recbole_llmrec.utils.cli_errors import run_cli
from recbole_llmrec.utils.cli_spellings import modernize
from recbole_llmrec.utils.overwrite import refuse_existing
from recbole_llmrec.utils.resources import embedded_data_path

logger = logging.getLogger(__name__)

FORMATS = ("npy", "recbole")
#: File types ``encode`` writes (by the output's suffix).
VECTOR_SUFFIXES = (".npy", ".safetensors")
#: The tensor name of a ``.safetensors`` vectors file (what ``title_vectors_file`` reads).
SAFETENSORS_KEY = "title_vectors"
#: The item-vector cache is the package's one vector cache.
ItemVectorCache = VectorCache
checkpoint_identity = file_identity
__all__ = ["ItemVectorCache", "cache_key", "checkpoint_identity", "default_cache_dir", "encode_titles_to_npy",
           "encode_item_vectors", "export_item_vectors", "main"]


def cache_key(checkpoint: str, catalogue_hash: str, settings: Dict[str, Any]) -> str:
    """Hex key of a catalogue's vectors under a checkpoint and the settings that change them."""
    return catalogue_cache_key(checkpoint, catalogue_hash, settings)


# ------------------------------------------------------------------------------ chunked encoding
def encode_titles_to_npy(
    encode: Callable[[List[str]], torch.Tensor],
    titles: Sequence[str],
    output: str,
    chunk_size: int = 4096,
    overwrite: bool = False,
    progress: Optional[Callable[[int, int], None]] = None,
) -> Path:
    """Encode ``titles`` (any sequence supporting ``len`` and slices, e.g. a lazy one) with
    ``encode`` (a list of titles -> [n, D] tensor), ``chunk_size`` at a time, into a float32 ``.npy``
    file of shape [len(titles), D]. Memory holds the memory-mapped output plus one chunk; the file
    appears only when complete."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    total = len(titles)
    if total == 0:
        raise ValueError("no titles to encode")
    refuse_existing(output, overwrite)
    first = encode(list(titles[:chunk_size])).float().cpu().numpy()
    with atomic_output(output, ".npy") as tmp:
        matrix = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(total, first.shape[1]))
        matrix[: len(first)] = first
        done = len(first)
        del first
        if progress:
            progress(done, total)
        while done < total:
            chunk = encode(list(titles[done: done + chunk_size])).float().cpu().numpy()
            matrix[done: done + len(chunk)] = chunk
            done += len(chunk)
            if progress:
                progress(done, total)
        matrix.flush()
        del matrix
    return Path(output)


# ------------------------------------------------------------------------------------- export
def items_sidecar(output: str) -> str:
    """``vectors.npy`` -> ``vectors.items.tsv``: the catalogue row of each vector."""
    root, _ = os.path.splitext(output)
    return root + ".items.tsv"


def write_items_tsv(catalogue: Any, path: str) -> None:
    """The catalogue as a TSV catalogue file (``item_id``, ``title``, ``domain``), atomically."""
    with atomic_output(path, ".tsv") as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as out:
        out.write("item_id\ttitle\tdomain\n")
        for i, (item_id, title) in enumerate(zip(catalogue.item_ids, catalogue.titles)):
            clean = " ".join(title.split())  # tabs / newlines would break the row
            out.write(f"{item_id}\t{clean}\t{catalogue.domain(i)}\n")


def write_vector_items(catalogue: Any, path: str) -> None:
    """The rows of a ``title_vectors_file``: ``item_id<TAB>title`` a line, no header, atomically."""
    with atomic_output(path, ".tsv") as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as out:
        for item_id, title in zip(catalogue.item_ids, catalogue.titles):
            out.write(f"{item_id}\t{' '.join(title.split())}\n")


def write_recbole_feature(item_ids: Sequence[str], vectors: np.ndarray, path: str,
                          id_field: str = "iid", emb_field: str = "item_emb") -> None:
    """A RecBole atomic feature file: ``<id_field>:token`` and ``<emb_field>:float_seq`` columns.

    The id column is named ``iid`` (RecBole's convention for pretrained embeddings): load it with
    ``additional_feat_suffix: [itememb]``, ``load_col: {itememb: [iid, item_emb]}``,
    ``alias_of_item_id: [iid]`` and ``preload_weight: {iid: item_emb}``.
    """
    with atomic_output(path, ".tmp") as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as out:
        out.write(f"{id_field}:token\t{emb_field}:float_seq\n")
        for item_id, row in zip(item_ids, vectors):
            out.write(item_id + "\t" + " ".join(f"{v:.7g}" for v in row.tolist()) + "\n")


def export_item_vectors(
    checkpoint: str,
    output: str,
    catalogue: Optional[str] = None,
    fmt: str = "npy",
    overwrite: bool = False,
    cache_dir: Optional[str] = None,
    use_cache: bool = True,
    data_path: Optional[str] = None,
) -> Dict[str, Any]:
    """Write the item vectors a checkpoint ranks ``catalogue`` with (default: its own dataset).

    ``npy``: a float32 [n_items, D] matrix in catalogue order, plus ``<output stem>.items.tsv``
    naming each row's item. ``recbole``: one RecBole feature file (e.g. ``<dataset>.itememb``).
    Returns a summary (``output``, ``items``, ``dim``, ``format``, ``files``).
    """
    if fmt not in FORMATS:
        raise ValueError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    files = [output] + ([items_sidecar(output)] if fmt == "npy" else [])
    for path in files:
        refuse_existing(path, overwrite)
    recommender = Recommender.from_checkpoint(checkpoint, catalogue=catalogue, cache_dir=cache_dir,
                                              use_cache=use_cache, data_path=data_path)
    vectors = recommender.catalogue_item_vectors().numpy()
    cat = recommender.catalogue
    if fmt == "npy":
        with atomic_output(output, ".npy") as tmp:
            np.save(tmp, vectors)
        write_items_tsv(cat, files[1])
    else:
        write_recbole_feature(cat.item_ids, vectors, output)
    logger.info("wrote %d item vectors of width %d to %s", len(cat), vectors.shape[1], output)
    return {"output": output, "items": len(cat), "dim": int(vectors.shape[1]), "format": fmt,
            "files": files}


def encode_item_vectors(
    catalogue: str,
    output: str,
    llm_path: Optional[str] = None,
    settings: Optional[Dict[str, Any]] = None,
    data_path: Optional[str] = None,
    overwrite: bool = False,
    chunk_size: int = 4096,
    device: str = "cpu",
) -> Dict[str, Any]:
    """Encode a catalogue's titles (a converted dataset's name or folder, or a TSV/CSV file) with a frozen
    LM (``llm_path``, default LLMRec's; ``settings``: other LM keys such as ``pooling``,
    ``max_title_tokens``) into ``output`` (``.npy`` or ``.safetensors``, float32 [n_items, H], catalogue
    order) plus ``<stem>.items.tsv`` naming each row: the vectors LLMRec would compute itself, as a
    ``title_vectors_file``. Returns a summary (``output``, ``items``, ``dim``, ``files``)."""
    suffix = os.path.splitext(output)[1].lower()
    if suffix not in VECTOR_SUFFIXES:
        raise ValueError(f"--output must end with {' or '.join(VECTOR_SUFFIXES)}, got {output!r}")
    files = [output, items_sidecar(output)]
    for path in files:
        refuse_existing(path, overwrite)
    search = [embedded_data_path()] + ([data_path] if data_path else [])
    cat = load_catalogue(catalogue, search)
    values = dict(settings or {})
    if llm_path is not None:
        values["llm_path"] = llm_path
    settings = build_record(LMSettings, {**values, "tuning": "frozen"})
    text = TextItemEncoder(settings, True, TextOutput(normalize=True)).eval().to(device)  # as the sequence encoder's
    started = time.perf_counter()
    if suffix == ".npy":
        encode_titles_to_npy(text.encode_titles, cat.titles, output, chunk_size, overwrite)
        dim = int(np.load(output, mmap_mode="r").shape[1])
    else:
        chunks = [text.encode_titles(cat.titles[lo: lo + chunk_size]).float().cpu()
                  for lo in range(0, len(cat), chunk_size)]
        matrix = torch.cat(chunks).contiguous()
        with atomic_output(output, ".safetensors") as tmp:
            save_file({SAFETENSORS_KEY: matrix}, tmp, metadata={"llm_path": str(text.settings.llm_path)})
        dim = int(matrix.shape[1])
    write_vector_items(cat, files[1])
    logger.info("encoded %d titles (width %d) in %.1f s", len(cat), dim, time.perf_counter() - started)
    return {"output": output, "items": len(cat), "dim": dim, "files": files, "llm_path": text.settings.llm_path}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m recbole_llmrec.serving.item_vectors",
        description="Item vectors of a trained LLMRec checkpoint, for reuse in other tools.")
    sub = parser.add_subparsers(dest="command", required=True)
    export = sub.add_parser("export", help="write a catalogue's item vectors to a file")
    export.add_argument("--checkpoint", required=True, help="an LLMRec checkpoint (.pth)")
    export.add_argument("--dataset", "--catalogue", dest="catalogue", default=None,
                        help="catalogue: a converted dataset name or folder, or a TSV/CSV file "
                             "(item_id, title[, domain]); default: the checkpoint's dataset")
    export.add_argument("--output", required=True, help="file to write")
    export.add_argument("--format", choices=FORMATS, default="npy",
                        help="npy: float32 matrix + .items.tsv; recbole: a RecBole feature file "
                             "(iid:token, item_emb:float_seq; e.g. <dataset>.itememb)")
    export.add_argument("--overwrite", action="store_true", help="replace existing output files")
    export.add_argument("--cache_dir", default=None, help=f"item-vector cache folder "
                        f"(default ${CACHE_ENV} or ~/.cache/recbole_llmrec/serving/item_vectors)")
    export.add_argument("--no_cache", action="store_true", help="neither read nor write the cache")
    export.add_argument("--data_path", default=None,
                        help="folder holding the checkpoint's dataset, if it moved since training")
    encode = sub.add_parser("encode", help="encode a catalogue's titles with a frozen LM (title_vectors_file)")
    encode.add_argument("--dataset", "--catalogue", dest="catalogue", required=True,
                        help="a converted dataset name or folder, or a TSV/CSV file (item_id, title[, domain])")
    encode.add_argument("--output", required=True, help="vectors file to write: .npy or .safetensors")
    encode.add_argument("--llm_path", default=None,
                        help="LM: a local (sentence-transformers) folder, an installed package or a hub name "
                             "in the local cache (default: LLMRec.yaml's llm_path)")
    encode.add_argument("--pooling", default=None, help="pooling (default: LLMRec.yaml's; as the model's LM keys)")
    encode.add_argument("--max_title_tokens", type=int, default=None, help="tokens per title (default: LLMRec.yaml's)")
    encode.add_argument("--autocast_dtype", default=None, help="LM precision (default: LLMRec.yaml's)")
    encode.add_argument("--item_encode_batch_size", type=int, default=None, help="titles per LM batch")
    encode.add_argument("--data_path", default=None, help="folder holding the dataset (default: embedded datasets)")
    encode.add_argument("--overwrite", action="store_true", help="replace existing output files")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """``python -m recbole_llmrec.serving.item_vectors export ...``; returns the exit status."""
    args = _parser().parse_args(modernize(argv))
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    start = time.perf_counter()
    if args.command == "encode":
        keys = ("pooling", "max_title_tokens", "autocast_dtype", "item_encode_batch_size")
        settings = {key: getattr(args, key) for key in keys if getattr(args, key) is not None}
        summary = encode_item_vectors(args.catalogue, args.output, args.llm_path, settings, args.data_path,
                                      args.overwrite)
        print(f"wrote {summary['items']} title vectors (width {summary['dim']}, {summary['llm_path']}) to "
              f"{', '.join(summary['files'])} in {time.perf_counter() - start:.1f} s")
        return 0
    summary = export_item_vectors(args.checkpoint, args.output, args.catalogue, args.format,
                                  args.overwrite, args.cache_dir, not args.no_cache, args.data_path)
    print(f"wrote {summary['items']} item vectors (width {summary['dim']}) to "
          f"{', '.join(summary['files'])} in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
