#!/usr/bin/env python
"""Export a GPT-2-medium-sized, randomly initialised transformer to ONNX for benchmarking.

The model is written by hand in torch (no ``transformers``, nothing is downloaded):
24 layers, d_model 1024, 16 heads, vocab 50257, n_positions 1024, lm_head tied to the
token embedding -> ~355M parameters, ~1.4 GB of fp32 weights.

The attention deliberately reshapes with sizes read from the tensor at run time,

    b, t, c = x.size()
    q = q.view(b, t, self.n_head, c // self.n_head)

which is the pattern graphfix looks for: with a dynamic batch the exporter turns it into
Shape -> Gather -> Unsqueeze -> Concat -> Reshape chains.

Output: OUT_DIR/model.onnx + OUT_DIR/model.onnx.data (all weights in one external-data file).
Input:  ``input_ids`` int64 [batch, seq] with a dynamic batch and a fixed seq (default 128).
Output: ``logits`` float32 [batch, seq, vocab].

Usage:
    python bench/make_large_model.py OUT_DIR [--layers 24] [--exporter legacy|dynamo]
                                     [--seq 128] [--opset N] [--check] [--force]

The export is skipped when OUT_DIR/model.onnx and OUT_DIR/model.onnx.data already exist
(use --force to redo it). Files are written to a temporary folder next to OUT_DIR and moved
into place at the end, so an interrupted export never leaves a half-written model behind.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import resource
import shutil
import sys
import time
import warnings
from pathlib import Path

MODEL_NAME = "model.onnx"
DATA_NAME = "model.onnx.data"

# GPT-2 medium
VOCAB = 50257
N_POSITIONS = 1024
D_MODEL = 1024
N_HEAD = 16
SEED = 0


def _peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def build_model(layers: int, seq: int):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class Attention(nn.Module):
        def __init__(self, d_model: int, n_head: int):
            super().__init__()
            self.n_head = n_head
            self.scale = 1.0 / math.sqrt(d_model // n_head)  # a Python float: no tracer warning
            self.c_attn = nn.Linear(d_model, 3 * d_model)
            self.c_proj = nn.Linear(d_model, d_model)
            mask = torch.tril(torch.ones(N_POSITIONS, N_POSITIONS, dtype=torch.bool))
            self.register_buffer("bias", mask.view(1, 1, N_POSITIONS, N_POSITIONS), persistent=False)

        def forward(self, x):
            b, t, c = x.size()  # the anti-pattern: shapes read back from the tensor
            d = c // self.n_head
            q, k, v = self.c_attn(x).split(c, dim=2)
            q = q.view(b, t, self.n_head, d).transpose(1, 2)
            k = k.view(b, t, self.n_head, d).transpose(1, 2)
            v = v.view(b, t, self.n_head, d).transpose(1, 2)
            att = (q @ k.transpose(-2, -1)) * self.scale
            att = att.masked_fill(~self.bias[:, :, :t, :t], float("-inf"))
            att = F.softmax(att, dim=-1)
            y = att @ v
            y = y.transpose(1, 2).contiguous().view(b, t, c)
            return self.c_proj(y)

    class MLP(nn.Module):
        def __init__(self, d_model: int):
            super().__init__()
            self.c_fc = nn.Linear(d_model, 4 * d_model)
            self.c_proj = nn.Linear(4 * d_model, d_model)

        def forward(self, x):
            return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))

    class Block(nn.Module):
        def __init__(self, d_model: int, n_head: int):
            super().__init__()
            self.ln_1 = nn.LayerNorm(d_model)
            self.attn = Attention(d_model, n_head)
            self.ln_2 = nn.LayerNorm(d_model)
            self.mlp = MLP(d_model)

        def forward(self, x):
            x = x + self.attn(self.ln_1(x))
            return x + self.mlp(self.ln_2(x))

    class GPT(nn.Module):
        def __init__(self, n_layer: int):
            super().__init__()
            self.wte = nn.Embedding(VOCAB, D_MODEL)
            self.wpe = nn.Embedding(N_POSITIONS, D_MODEL)
            self.h = nn.ModuleList([Block(D_MODEL, N_HEAD) for _ in range(n_layer)])
            self.ln_f = nn.LayerNorm(D_MODEL)

        def forward(self, input_ids):
            b, t = input_ids.size()
            pos = torch.arange(0, t, dtype=torch.long, device=input_ids.device)
            x = self.wte(input_ids) + self.wpe(pos)
            for block in self.h:
                x = block(x)
            x = self.ln_f(x)
            return F.linear(x, self.wte.weight)  # lm_head tied to the token embedding, as in GPT-2

    torch.manual_seed(SEED)
    with torch.no_grad():
        model = GPT(layers)
        # GPT-2 style init (also much cheaper than nn.Linear's default kaiming_uniform).
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.zero_()
            elif ".ln_" in name or name.startswith("ln_f"):
                p.fill_(1.0)
            else:
                p.normal_(0.0, 0.02)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def example_input(batch: int, seq: int):
    import torch

    g = torch.Generator().manual_seed(SEED + 1)
    return torch.randint(0, VOCAB, (batch, seq), dtype=torch.long, generator=g)


def export_legacy(model, ids, tmp_dir: Path, opset: int) -> None:
    import onnx
    import torch

    raw = tmp_dir / "raw.onnx"  # < 2 GB, so the TorchScript exporter can write one protobuf file
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model,
            (ids,),
            str(raw),
            dynamo=False,
            input_names=["input_ids"],
            output_names=["logits"],
            dynamic_axes={"input_ids": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=opset,
            do_constant_folding=True,
        )
    print(f"  torch.onnx.export done: {raw.stat().st_size / 1e9:.2f} GB single file", flush=True)
    proto = onnx.load(str(raw))
    raw.unlink()
    onnx.save(
        proto,
        str(tmp_dir / MODEL_NAME),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=DATA_NAME,
        size_threshold=1024,
    )
    del proto


def export_dynamo(model, ids, tmp_dir: Path, opset: int) -> None:
    import torch

    batch = torch.export.Dim("batch", min=1, max=1024)
    program = torch.onnx.export(
        model,
        (ids,),
        dynamo=True,
        input_names=["input_ids"],
        output_names=["logits"],
        dynamic_shapes={"input_ids": {0: batch}},
        opset_version=opset,
        external_data=True,
        optimize=True,
    )
    # ONNXProgram.save with external_data=True writes <name>.data next to the model.
    program.save(str(tmp_dir / MODEL_NAME), external_data=True)
    del program


def check(model, out_dir: Path, batches=(1, 3)) -> None:
    """Run the exported model in ONNX Runtime at several batch sizes and compare with torch."""
    import numpy as np
    import onnxruntime as ort
    import torch

    sess = ort.InferenceSession(str(out_dir / MODEL_NAME), providers=["CPUExecutionProvider"])
    seq = sess.get_inputs()[0].shape[1]
    for b in batches:
        ids = example_input(b, seq)
        with torch.no_grad():
            ref = model(ids).numpy()
        got = sess.run(None, {"input_ids": ids.numpy()})[0]
        err = float(np.max(np.abs(ref - got)))
        ok = got.shape == ref.shape and err < 1e-3
        print(f"  check batch={b}: ORT {got.shape} vs torch {ref.shape}, max abs err {err:.2e} "
              f"-> {'OK' if ok else 'MISMATCH'}", flush=True)
        if not ok:
            raise SystemExit(f"check failed at batch {b}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir", type=Path, help="folder that receives model.onnx + model.onnx.data")
    ap.add_argument("--layers", type=int, default=24, help="number of transformer blocks (default 24)")
    ap.add_argument("--exporter", choices=["legacy", "dynamo"], default="legacy",
                    help="legacy = TorchScript exporter (dynamo=False, dynamic_axes); "
                         "dynamo = torch.export based exporter (dynamic_shapes)")
    ap.add_argument("--seq", type=int, default=128, help="fixed sequence length (default 128)")
    ap.add_argument("--opset", type=int, default=None,
                    help="ONNX opset (default 17 for legacy, 18 for dynamo)")
    ap.add_argument("--check", action="store_true",
                    help="after export, run ONNX Runtime at batch 1 and 3 and compare with torch")
    ap.add_argument("--force", action="store_true", help="re-export even if the output exists")
    args = ap.parse_args(argv)

    out_dir: Path = args.out_dir
    model_path, data_path = out_dir / MODEL_NAME, out_dir / DATA_NAME
    opset = args.opset or (17 if args.exporter == "legacy" else 18)

    exists = model_path.is_file() and data_path.is_file()
    if exists and not args.force and not args.check:
        print(f"{model_path} already exists, skipping export (use --force to redo it)")
        return 0

    t0 = time.perf_counter()
    import torch

    torch.set_grad_enabled(False)
    model = build_model(args.layers, args.seq)
    n_params = sum(p.numel() for p in model.parameters())
    t_build = time.perf_counter() - t0
    print(f"built GPT: {args.layers} layers, {n_params / 1e6:.1f}M params "
          f"({n_params * 4 / 1e9:.2f} GB fp32) in {t_build:.1f} s", flush=True)

    info = {}
    if exists and not args.force:
        print(f"{model_path} already exists, skipping export (use --force to redo it)")
    else:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp_dir = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp_dir, ignore_errors=True)
        tmp_dir.mkdir(parents=True)
        try:
            # batch 2 for the example: torch.export specialises dims that are 0 or 1.
            ids = example_input(2, args.seq)
            print(f"exporting with the {args.exporter} exporter (opset {opset})...", flush=True)
            t1 = time.perf_counter()
            with torch.no_grad():
                if args.exporter == "legacy":
                    export_legacy(model, ids, tmp_dir, opset)
                else:
                    export_dynamo(model, ids, tmp_dir, opset)
            t_export = time.perf_counter() - t1
            gc.collect()
            if not (tmp_dir / MODEL_NAME).is_file() or not (tmp_dir / DATA_NAME).is_file():
                raise SystemExit(f"exporter did not write {MODEL_NAME} + {DATA_NAME} in {tmp_dir}: "
                                 f"{sorted(p.name for p in tmp_dir.iterdir())}")
            out_dir.mkdir(parents=True, exist_ok=True)
            # data first, model last: model.onnx existing means the pair is complete.
            for name in (DATA_NAME, MODEL_NAME):
                os.replace(tmp_dir / name, out_dir / name)
        finally:
            shutil.rmtree(tmp_dir, ignore_errors=True)
        info = {
            "exporter": args.exporter,
            "opset": opset,
            "layers": args.layers,
            "seq": args.seq,
            "params": n_params,
            "torch": torch.__version__,
            "build_s": round(t_build, 1),
            "export_s": round(t_export, 1),
            "total_s": round(time.perf_counter() - t0, 1),
            "peak_rss_mb": round(_peak_rss_mb()),
            "model_bytes": model_path.stat().st_size,
            "data_bytes": data_path.stat().st_size,
        }
        (out_dir / "export_info.json").write_text(json.dumps(info, indent=2) + "\n")
        print(f"wrote {model_path} ({info['model_bytes'] / 1e6:.1f} MB) + {data_path.name} "
              f"({info['data_bytes'] / 1e9:.2f} GB); export {t_export:.1f} s, "
              f"total {info['total_s']} s, peak RSS {info['peak_rss_mb']} MB", flush=True)

    if args.check:
        check(model, out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
