#!/usr/bin/env python
"""ONNX Runtime CPU latency of original vs fixed vs fp16 vs int8, and the accuracy of each.

For each model (built in torch by hand, seeded, random init, nothing downloaded):

    original      the torch export (legacy exporter by default; --exporter dynamo)
    fixed         graphfix.fixing.fix(original, fixed.onnx): the `graphfix fix` rewrite, verified in
                  ONNX Runtime at batch 1 and 3 before it is written
    fp16          graphfix.precision.transform(fixed, ..., "fp16")
    int8          graphfix.precision.transform(fixed, ..., "int8", calibration=...) with calibration data
                  made of a few random-but-realistic batches (see below), read back through
                  graphfix.precision.load_calibration like a user's .npz

Every variant gets ONE onnxruntime.InferenceSession (CPUExecutionProvider, ORT_ENABLE_ALL, default thread
settings), used at every batch size. Per batch size, all variants get the same input feed; each variant is
warmed up (--warmup runs), then timed with time.perf_counter around session.run, --runs runs each.

The runs are interleaved in rounds: by default each round runs every variant once (--rounds splits the
runs into fewer, longer blocks), and the order rotates from round to round. Before each block the bench
pauses 0.1 s: ORT's intra-op workers spin-wait after a run, and on 2 cores the previous session's
spinning worker takes a core from the next session (measured: about 70 ms, two batch-1 runs at half
speed); 50 ms was enough for it to park. Reported per cell: the median and the 90th percentile of the
timed runs, and "vs original", the PAIRED ratio: the median over rounds of (this variant's time / the
original's time in the same round). On a shared 2-vCPU VM the machine's speed drifts by +-10% from one
second to the next and sometimes halves for a second, which moves the overall medians of identical graphs
by several percent; neighbouring runs of one round see the same conditions, so their ratio cancels that.
The goals use the paired ratios (goal 1 also shows a 95% bootstrap interval). While timing, the CPU
time other processes use is measured (system-wide busy time in /proc/stat minus this process's own);
above 5% of the CPUs the report says the machine was not quiet and the figures are not reliable.

Accuracy: the outputs of each variant on the timed feed, against the original's on the same feed: the
largest absolute difference and the cosine similarity of the flattened output. fp16 runs in ORT's CPU
provider, which has almost no fp16 kernels: it casts to fp32 around most ops (and its optimizer removes
Cast pairs), so its error here is smaller than on a GPU that computes in fp16. graphfix's own check
(graphfix.precision.compare_precision, fp16 emulated the way TensorRT rounds) is run too and printed
below the table (--no-precision-check skips it).

Models:

    resnet   ResNet-18-like CNN: 7x7/2 stem + max-pool, 4 stages of 2 basic blocks (64, 128, 256, 512
             channels), global average pool, `x.view(x.size(0), -1)`, Linear(512, 1000); input
             `images` float32 [batch, 3, 224, 224] (--image-size). 11.7 M parameters, 1.8 GFLOP per image.
             BatchNorm running statistics are set by forward passes in training mode over synthetic
             images (so every BN normalises, as in a trained net), then the model is put in eval mode
             (the exporters fold BN into the convolutions).
    bert     BERT-small-like encoder: token + position embeddings (positions from
             `torch.arange(input_ids.size(1))`), LayerNorm, 4 post-norm layers (hidden 512, 8 heads,
             FFN 2048, GELU), hand-written attention (`b, t, c = x.size()`, `view(b, t, h, d)`,
             `transpose(1, 2).contiguous().view(b, t, c)`) with the additive padding mask
             `(1 - attention_mask) * -10000`; inputs `input_ids`, `attention_mask` int64 [batch, 128]
             (--seq), output `last_hidden_state` float32 [batch, 128, 512]. BERT's init (normal(0, 0.02)).
             28.5 M parameters (15.6 M of them the 30522-row token table).

Inputs (numpy, seeded; the same generator for calibration and for timing, different seeds):

    images   smooth colour fields (a sum of a few random low-frequency 2-D cosines per channel, amplitude
             falling with frequency) plus pixel noise, clipped to [0, 1] and normalised with the ImageNet
             mean/std: spatially correlated like photographs, not white noise.
    tokens   each sequence: [CLS] (101), a random length (seq/4 .. seq) of Zipf-distributed word-piece ids
             (ids 1000 .. vocab-1, frequent ids small, like BERT's vocabulary), [SEP] (102), then padding
             (id 0, attention_mask 0).

int8 calibration: --calib-samples samples (default 32) in batches of 8, from these generators with a seed
other than the timing seed, saved to bench/.cache/latency/<model>-<exporter>/calibration.npz. They are
random but realistic in range and structure, not real data, so the int8 accuracy is indicative only.

Goals (see bench/README.md):

    1. the fixed model is never slower than the original: at every model and batch size, its median is at
       most the original's plus max(--margin-pct (3%) of it, --margin-ms (0.05 ms));
    2. int8 is faster than fp32 (the fixed fp32 model it is made from) at batch 8 for every model; batch 1
       is printed too, for information.

Exports are cached in bench/.cache/latency/<model>-<exporter>/original.onnx (with export_info.json; they
are redone when the model configuration or the torch version changes, or with --force-export). The
graphfix outputs (fixed, fp16, int8) are rebuilt on every run beside them, since they measure graphfix
as it is now. Raw results (every timing, the ORT-optimised op counts, the fix report) go to
bench/.cache/results/latency-<timestamp>.json, and to --json FILE as well.

Usage:
    python bench/latency_bench.py [--models resnet,bert] [--batches 1,8] [--runs 50] [--warmup 5]
                                  [--rounds N] [--exporter legacy|dynamo] [--json FILE] [--check-goals]
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
CACHE_DIR = BENCH_DIR / ".cache" / "latency"
RESULTS_DIR = BENCH_DIR / ".cache" / "results"

MODELS = ("resnet", "bert")
# "int8" is what `graphfix compile --backend onnxruntime --precision int8` runs (ONNX Runtime's own int8
# form); "int8-trt" is the TensorRT Q/DQ form (fixed.int8.onnx), which ONNX Runtime runs mostly in fp32.
VARIANTS = ("original", "fixed", "fp16", "int8", "int8-trt")
SEED = 0  # torch.manual_seed for the weights
TIMING_SEED = 1234  # the timed feeds
CALIB_SEED = 5678  # the calibration batches
CALIB_BATCH = 8

# ResNet-18
RESNET_WIDTHS = (64, 128, 256, 512)
RESNET_BLOCKS = (2, 2, 2, 2)
RESNET_CLASSES = 1000
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(1, 3, 1, 1)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(1, 3, 1, 1)
BN_WARMUP_BATCHES = 4  # training-mode forward passes that set the BatchNorm running statistics
BN_WARMUP_BATCH = 16

# BERT-small
BERT_VOCAB = 30522
BERT_HIDDEN = 512
BERT_LAYERS = 4
BERT_HEADS = 8
BERT_FFN = 2048
BERT_MAX_POS = 512
CLS, SEP, PAD = 101, 102, 0
FIRST_WORD_ID = 1000

# Goal 1: noise margin for "fixed is never slower than the original".
MARGIN_PCT = 3.0
MARGIN_MS = 0.05
INT8_GOAL_BATCH = 8
BLOCK_PAUSE_S = 0.1  # pause before each block of runs (see time_variants)
BACKGROUND_WARN = 0.05  # warn when other processes used more than 5% of the CPUs while timing

# Op types worth counting in the graph ORT actually runs (after ORT_ENABLE_ALL).
ORT_OPS_OF_INTEREST = (
    "Conv", "FusedConv", "QLinearConv", "MatMul", "FusedMatMul", "Gemm", "QGemm", "QLinearMatMul",
    "MatMulInteger", "MatMulIntegerToFloat", "DynamicQuantizeMatMul", "QuantizeLinear", "DequantizeLinear",
    "Cast", "Attention", "MultiHeadAttention", "SkipLayerNormalization", "LayerNormalization", "Gelu",
    "BiasGelu", "Shape", "Reshape", "Transpose", "ReorderInput", "ReorderOutput",
)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------------
# inputs


def synthetic_images(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """[n, 3, size, size] float32: smooth random colour fields plus pixel noise, ImageNet-normalised."""
    v, u = np.meshgrid(np.linspace(0.0, 1.0, size, dtype=np.float32),
                       np.linspace(0.0, 1.0, size, dtype=np.float32), indexing="ij")
    out = np.empty((n, 3, size, size), dtype=np.float32)
    for i in range(n):
        base = rng.uniform(0.2, 0.8, size=3).astype(np.float32)  # the image's overall colour
        field = np.zeros((size, size), dtype=np.float32)
        for _ in range(10):  # shared structure (edges, shapes), amplitude ~ 1/f
            fy, fx = rng.uniform(-8, 8, size=2)
            amp = 0.35 / max(1.0, math.hypot(fx, fy))
            phase = rng.uniform(0, 2 * np.pi)
            field += (amp * np.cos(2 * np.pi * (fx * u + fy * v) + phase)).astype(np.float32)
        for c in range(3):
            tint = np.zeros((size, size), dtype=np.float32)
            for _ in range(3):  # per-channel colour variation, lower frequency
                fy, fx = rng.uniform(-3, 3, size=2)
                phase = rng.uniform(0, 2 * np.pi)
                tint += (0.1 * np.cos(2 * np.pi * (fx * u + fy * v) + phase)).astype(np.float32)
            out[i, c] = base[c] + field + tint
    out += rng.normal(0.0, 0.03, size=out.shape).astype(np.float32)
    np.clip(out, 0.0, 1.0, out=out)
    return ((out - IMAGENET_MEAN) / IMAGENET_STD).astype(np.float32)


def synthetic_tokens(n: int, seq: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """input_ids / attention_mask int64 [n, seq]: [CLS] Zipf word ids [SEP] then padding."""
    ids = np.full((n, seq), PAD, dtype=np.int64)
    mask = np.zeros((n, seq), dtype=np.int64)
    words = BERT_VOCAB - FIRST_WORD_ID
    for i in range(n):
        length = int(rng.integers(max(2, seq // 4), seq + 1))  # including [CLS] and [SEP]
        body = (rng.zipf(1.2, size=length - 2) - 1) % words + FIRST_WORD_ID
        ids[i, 0], ids[i, 1:length - 1], ids[i, length - 1] = CLS, body, SEP
        mask[i, :length] = 1
    return {"input_ids": ids, "attention_mask": mask}


# --------------------------------------------------------------------------------------------------
# models


@dataclass
class ModelDef:
    name: str
    input_names: list[str]
    output_names: list[str]
    config: dict
    make_feeds: object  # (n, rng) -> {input name: array}
    build: object  # () -> torch module in eval mode
    description: str = ""


def resnet_def(image: int) -> ModelDef:
    def feeds(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {"images": synthetic_images(n, image, rng)}

    def build():  # noqa: ANN202 - torch is imported lazily
        import torch
        from torch import nn

        class BasicBlock(nn.Module):
            def __init__(self, cin: int, cout: int, stride: int) -> None:
                super().__init__()
                self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
                self.bn1 = nn.BatchNorm2d(cout, momentum=None)
                self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
                self.bn2 = nn.BatchNorm2d(cout, momentum=None)
                self.relu = nn.ReLU(inplace=True)
                self.down = None
                if stride != 1 or cin != cout:
                    self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                              nn.BatchNorm2d(cout, momentum=None))

            def forward(self, x):  # noqa: ANN001, ANN202
                out = self.relu(self.bn1(self.conv1(x)))
                out = self.bn2(self.conv2(out))
                return self.relu(out + (x if self.down is None else self.down(x)))

        class ResNet(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False),
                                          nn.BatchNorm2d(64, momentum=None),
                                          nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
                blocks, cin = [], 64
                for i, (width, count) in enumerate(zip(RESNET_WIDTHS, RESNET_BLOCKS)):
                    for j in range(count):
                        blocks.append(BasicBlock(cin, width, 2 if i > 0 and j == 0 else 1))
                        cin = width
                self.layers = nn.Sequential(*blocks)
                self.pool = nn.AdaptiveAvgPool2d(1)
                self.fc = nn.Linear(cin, RESNET_CLASSES)
                for m in self.modules():  # torchvision's init
                    if isinstance(m, nn.Conv2d):
                        nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

            def forward(self, images):  # noqa: ANN001, ANN202
                x = self.pool(self.layers(self.stem(images)))
                return self.fc(x.view(x.size(0), -1))  # the shape chain of older torchvision models

        torch.manual_seed(SEED)
        model = ResNet()
        # BatchNorm statistics from data (cumulative averages: momentum=None), as a trained net has.
        rng = np.random.default_rng(SEED)
        model.train()
        with torch.no_grad():
            for _ in range(BN_WARMUP_BATCHES):
                model(torch.from_numpy(synthetic_images(BN_WARMUP_BATCH, image, rng)))
        return model.eval()

    return ModelDef(
        "resnet", ["images"], ["logits"],
        {"arch": "resnet18", "widths": RESNET_WIDTHS, "blocks": RESNET_BLOCKS, "image": image,
         "classes": RESNET_CLASSES, "bn_warmup": [BN_WARMUP_BATCHES, BN_WARMUP_BATCH], "seed": SEED},
        feeds, build, f"ResNet-18-like, images [batch, 3, {image}, {image}]")


def bert_def(seq: int) -> ModelDef:
    def feeds(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return synthetic_tokens(n, seq, rng)

    def build():  # noqa: ANN202 - torch is imported lazily
        import torch
        import torch.nn.functional as F
        from torch import nn

        class SelfAttention(nn.Module):
            def __init__(self, c: int, h: int) -> None:
                super().__init__()
                self.h, self.d = h, c // h
                self.q, self.k, self.v, self.o = (nn.Linear(c, c) for _ in range(4))

            def forward(self, x, mask_bias):  # noqa: ANN001, ANN202
                b, t, c = x.size()
                q = self.q(x).view(b, t, self.h, self.d).transpose(1, 2)
                k = self.k(x).view(b, t, self.h, self.d).transpose(1, 2)
                v = self.v(x).view(b, t, self.h, self.d).transpose(1, 2)
                att = (q @ k.transpose(-2, -1)) / math.sqrt(self.d) + mask_bias
                y = att.softmax(dim=-1) @ v
                return self.o(y.transpose(1, 2).contiguous().view(b, t, c))

        class Layer(nn.Module):  # post-norm, as BERT
            def __init__(self) -> None:
                super().__init__()
                self.attn = SelfAttention(BERT_HIDDEN, BERT_HEADS)
                self.ln1 = nn.LayerNorm(BERT_HIDDEN, eps=1e-12)
                self.fc1 = nn.Linear(BERT_HIDDEN, BERT_FFN)
                self.fc2 = nn.Linear(BERT_FFN, BERT_HIDDEN)
                self.ln2 = nn.LayerNorm(BERT_HIDDEN, eps=1e-12)

            def forward(self, x, mask_bias):  # noqa: ANN001, ANN202
                x = self.ln1(x + self.attn(x, mask_bias))
                return self.ln2(x + self.fc2(F.gelu(self.fc1(x))))

        class Bert(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.tok = nn.Embedding(BERT_VOCAB, BERT_HIDDEN)
                self.pos = nn.Embedding(BERT_MAX_POS, BERT_HIDDEN)
                self.ln = nn.LayerNorm(BERT_HIDDEN, eps=1e-12)
                self.layers = nn.ModuleList(Layer() for _ in range(BERT_LAYERS))

            def forward(self, input_ids, attention_mask):  # noqa: ANN001, ANN202
                positions = torch.arange(input_ids.size(1), device=input_ids.device)
                x = self.ln(self.tok(input_ids) + self.pos(positions))
                mask_bias = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * -10000.0
                for layer in self.layers:
                    x = layer(x, mask_bias)
                return x

        torch.manual_seed(SEED)
        model = Bert()
        with torch.no_grad():  # BERT's init
            for name, p in model.named_parameters():
                if ".ln" in name or name.startswith("ln."):
                    p.fill_(1.0 if name.endswith("weight") else 0.0)
                elif name.endswith("bias"):
                    p.zero_()
                else:
                    p.normal_(0.0, 0.02)
        return model.eval()

    return ModelDef(
        "bert", ["input_ids", "attention_mask"], ["last_hidden_state"],
        {"arch": "bert", "vocab": BERT_VOCAB, "hidden": BERT_HIDDEN, "layers": BERT_LAYERS,
         "heads": BERT_HEADS, "ffn": BERT_FFN, "max_pos": BERT_MAX_POS, "seq": seq, "seed": SEED},
        feeds, build, f"BERT-small-like, {BERT_LAYERS} layers, hidden {BERT_HIDDEN}, seq {seq}")


# --------------------------------------------------------------------------------------------------
# building the variants


def export_original(md: ModelDef, exporter: str, folder: Path, force: bool) -> tuple[Path, dict]:
    """The torch export, cached; redone when the configuration or the torch version changed."""
    import torch

    path = folder / "original.onnx"
    info_path = folder / "export_info.json"
    wanted = {"model": md.name, "config": json.loads(json.dumps(md.config)), "exporter": exporter,
              "torch": torch.__version__}
    if not force and path.exists() and info_path.exists():
        info = json.loads(info_path.read_text())
        if {k: info.get(k) for k in wanted} == wanted:
            log(f"[{md.name}] export cached: {path}")
            return path, info
    from graphfix.export import export

    folder.mkdir(parents=True, exist_ok=True)
    log(f"[{md.name}] building the torch model and exporting with the {exporter} exporter ...")
    start = time.perf_counter()
    torch.set_num_threads(os.cpu_count() or 1)
    model = md.build()
    example = {name: torch.from_numpy(a) for name, a in md.make_feeds(2, np.random.default_rng(SEED)).items()}
    built = time.perf_counter()
    export(model, tuple(example[n] for n in md.input_names), path, exporter=exporter,
           input_names=md.input_names, output_names=md.output_names,
           opset=17 if exporter == "legacy" else None)
    done = time.perf_counter()
    # The torch reference at batch 2 (the example), to check the export itself once.
    with torch.no_grad():
        reference = model(*(example[n] for n in md.input_names)).numpy()
    session = make_session(path)
    got = session.run(None, {n: a.numpy() for n, a in example.items()})[0]
    info = {**wanted, "build_s": round(built - start, 2), "export_s": round(done - built, 2),
            "params": int(sum(p.numel() for p in model.parameters())),
            "ort_vs_torch_max_abs": float(np.abs(got - reference).max()),
            "written": _dt.datetime.now().isoformat(timespec="seconds")}
    info_path.write_text(json.dumps(info, indent=2) + "\n")
    log(f"[{md.name}] exported in {done - built:.1f} s ({info['params'] / 1e6:.1f} M parameters; "
        f"ORT vs torch max abs {info['ort_vs_torch_max_abs']:.2e})")
    return path, info


def build_fixed(original: Path, folder: Path) -> tuple[Path | None, dict]:
    from graphfix.errors import GraphfixError
    from graphfix.fixing import fix

    out = folder / "fixed.onnx"
    start = time.perf_counter()
    try:
        result = fix(original, out)  # verified in ONNX Runtime (batch 1 and 3) before it is written
    except GraphfixError as error:
        return None, {"ok": False, "error": str(error)}
    ver = result.verification
    worst = ver.worst() if ver is not None else None
    report = {
        "ok": True, "seconds": round(time.perf_counter() - start, 2),
        "applied": Counter(f.code for f in result.applied),
        "remaining": Counter(f.code for f in result.remaining),
        "nodes_before": sum(result.ops_before.values()), "nodes_after": sum(result.ops_after.values()),
        "shape_before": result.ops_before.get("Shape", 0), "shape_after": result.ops_after.get("Shape", 0),
        "verified": None if ver is None else ver.passed,
        "verification": None if ver is None else ver.message or f"batches {ver.batches}",
        "verification_max_abs": None if worst is None else worst.max_abs,
    }
    return out, report


def build_precision(
    md: ModelDef, base: Path, folder: Path, precision: str, calib_samples: int
) -> tuple[Path | None, dict]:
    from graphfix import precision as gp
    from graphfix.errors import GraphfixError
    from graphfix.ir.loading import load
    from graphfix.verify import input_specs

    start = time.perf_counter()
    info: dict = {}
    try:
        calibration = None
        if precision.startswith("int8"):
            rng = np.random.default_rng(CALIB_SEED)
            arrays = md.make_feeds(calib_samples, rng)
            npz = folder / "calibration.npz"
            np.savez(npz, **arrays)
            specs = input_specs(load(base).model)
            calibration = gp.load_calibration(npz, specs, batch=CALIB_BATCH)
            info["calibration"] = calibration.source
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if precision == "int8":
                path = gp.to_int8(base, folder / "fixed.int8.ort.onnx", calibration, target="onnxruntime")
            else:
                path = gp.transform(base, folder / "fixed.onnx", precision.removesuffix("-trt"),
                                    calibration=calibration)
    except GraphfixError as error:
        return None, {"ok": False, "error": str(error)}
    info.update(ok=True, seconds=round(time.perf_counter() - start, 2), source=base.name)
    return path, info


def precision_check(md: ModelDef, base: Path, candidate: Path, precision: str, batches: list[int]) -> dict:
    """graphfix's own verdict (compare_precision: polygraphy's seeded random inputs, fp16 emulated)."""
    from graphfix import precision as gp
    from graphfix.ir.loading import load
    from graphfix.verify import input_shapes_for, input_specs, integer_ranges

    model = load(base).model
    specs = input_specs(model)
    feeds = {b: input_shapes_for(specs, b, {}) for b in batches}
    report = gp.compare_precision(base, candidate, feeds, precision=precision.removesuffix("-trt"),
                                  dtypes={s.name: s.dtype for s in specs}, ranges=integer_ranges(model))
    return {"passed": report.passed, "message": report.message, "runner": report.runner}


# --------------------------------------------------------------------------------------------------
# ONNX Runtime


def session_options(optimized_path: Path | None = None, threads: int = 0):  # noqa: ANN201
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        opts.intra_op_num_threads = threads
    if optimized_path is not None:
        opts.optimized_model_filepath = str(optimized_path)
    return opts


def make_session(path: Path, threads: int = 0):  # noqa: ANN201
    import onnxruntime as ort

    return ort.InferenceSession(str(path), session_options(threads=threads),
                                providers=["CPUExecutionProvider"])


def ort_graph_ops(path: Path) -> dict:
    """Op counts of the graph ORT runs after ORT_ENABLE_ALL (saved through optimized_model_filepath)."""
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="latency-ortopt-") as tmp:
        out = Path(tmp) / "optimized.onnx"
        ort.InferenceSession(str(path), session_options(out), providers=["CPUExecutionProvider"])
        graph = onnx.load(str(out), load_external_data=False).graph
        ops = Counter(n.op_type for n in graph.node)
    return {"nodes": sum(ops.values()), "ops": dict(sorted(ops.items()))}


def file_ops(path: Path) -> dict:
    import onnx

    ops = Counter(n.op_type for n in onnx.load(str(path), load_external_data=False).graph.node)
    return {"nodes": sum(ops.values()), "ops": dict(sorted(ops.items())), "bytes": _model_bytes(path)}


def _model_bytes(path: Path) -> int:
    data = path.with_name(path.name + ".data")
    return path.stat().st_size + (data.stat().st_size if data.exists() else 0)


def accuracy(reference: list[np.ndarray], got: list[np.ndarray]) -> dict:
    """Largest |difference| and cosine similarity over all outputs (flattened, float64)."""
    ref = np.concatenate([np.asarray(r, dtype=np.float64).ravel() for r in reference])
    out = np.concatenate([np.asarray(g, dtype=np.float64).ravel() for g in got])
    if ref.shape != out.shape:
        return {"max_abs": None, "cosine": None, "nonfinite": None, "problem": "output shapes differ"}
    finite = np.isfinite(out)
    diff = np.abs(out - ref)
    ref_norm, out_norm = np.linalg.norm(ref), np.linalg.norm(out)
    if ref_norm == 0 and out_norm == 0:
        cosine = 1.0
    elif ref_norm == 0 or out_norm == 0 or not finite.all():
        cosine = 0.0
    else:
        cosine = float(np.dot(ref, out) / (ref_norm * out_norm))
    return {"max_abs": float(diff.max()) if finite.all() else math.inf, "cosine": cosine,
            "nonfinite": int((~finite).sum())}


def time_variants(
    sessions: dict, feeds: dict[str, np.ndarray], runs: int, warmup: int, rounds: int
) -> tuple[dict[str, list[float]], int]:
    """Interleaved timing: ``rounds`` rounds, in each one every variant runs ``runs / rounds`` timed runs
    back to back (the order rotates). Returns ``{variant: times in ms, in round order}`` and the number of
    timed runs per round."""
    names = list(sessions)
    for name in names:
        for _ in range(warmup):
            sessions[name].run(None, feeds)
    rounds = max(1, min(rounds or runs, runs))
    per_round = math.ceil(runs / rounds)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            run = sessions[name].run
            # ORT's intra-op workers spin-wait for a while after a run; on a 2-core machine the previous
            # session's spinning worker takes a core from this one (measured: about 70 ms, two batch-1
            # runs at half speed). A pause lets it park; 50 ms was enough, 100 ms leaves a margin.
            time.sleep(BLOCK_PAUSE_S)
            for _ in range(per_round):
                t0 = time.perf_counter()
                run(None, feeds)
                times[name].append((time.perf_counter() - t0) * 1e3)
    return times, per_round


def paired_ratio(times: list[float], reference: list[float], per_round: int) -> float:
    """Median over rounds of (this variant's median / the reference's median in the same round).

    The machine's speed drifts (on a shared VM by +-10% from one second to the next, and sometimes by
    2x for a second); neighbouring blocks of one round see the same conditions, so their ratio cancels
    the drift that a ratio of overall medians keeps."""
    return float(np.median(_round_ratios(times, reference, per_round)))


def paired_ratio_ci(times: list[float], reference: list[float], per_round: int) -> tuple[float, float]:
    """95% bootstrap confidence interval of :func:`paired_ratio` (rounds resampled, seeded)."""
    ratios = _round_ratios(times, reference, per_round)
    rng = np.random.default_rng(0)
    medians = np.median(rng.choice(ratios, size=(2000, ratios.size)), axis=1)
    return float(np.percentile(medians, 2.5)), float(np.percentile(medians, 97.5))


def _round_ratios(times: list[float], reference: list[float], per_round: int) -> np.ndarray:
    a = np.asarray(times).reshape(-1, per_round)
    b = np.asarray(reference).reshape(-1, per_round)
    return np.median(a, axis=1) / np.median(b, axis=1)


class CpuMonitor:
    """CPU time used by other processes while we time (system-wide busy time from /proc/stat minus this
    process's own user+system time, ORT's threads included), as a share of all CPUs. Timing on a machine
    that runs something else is meaningless; this makes it visible instead of silently wrong."""

    def __init__(self) -> None:
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.start = self._sample()

    @staticmethod
    def _busy_ticks() -> int | None:
        try:
            fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        except (OSError, ValueError):
            return None
        # user nice system idle iowait irq softirq steal ...: busy = all but idle and iowait
        return sum(fields[:8]) - fields[3] - fields[4]

    def _sample(self) -> tuple[float, int | None, float]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return time.perf_counter(), self._busy_ticks(), usage.ru_utime + usage.ru_stime

    def other_share(self) -> float | None:
        """Fraction (0..1) of all CPUs that other processes used since construction."""
        wall0, busy0, own0 = self.start
        wall1, busy1, own1 = self._sample()
        if busy0 is None or busy1 is None or wall1 <= wall0:
            return None
        other = (busy1 - busy0) / self.tick - (own1 - own0)
        return max(0.0, other / ((wall1 - wall0) * (os.cpu_count() or 1)))


def summarize(times: list[float]) -> dict:
    return {"median_ms": statistics.median(times), "p90_ms": float(np.percentile(times, 90)),
            "min_ms": min(times), "runs": len(times)}


# --------------------------------------------------------------------------------------------------
# one model


@dataclass
class ModelResult:
    name: str
    description: str
    exporter: str
    export_info: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)  # variant -> path
    build: dict = field(default_factory=dict)  # variant -> build report
    graph: dict = field(default_factory=dict)  # variant -> op counts of the file
    ort_graph: dict = field(default_factory=dict)  # variant -> op counts after ORT_ENABLE_ALL
    load_ms: dict = field(default_factory=dict)  # variant -> InferenceSession creation time
    cells: dict = field(default_factory=dict)  # "variant@batch" -> timing + accuracy
    precision_checks: dict = field(default_factory=dict)
    background: dict = field(default_factory=dict)  # batch -> CPU share other processes used while timing
    errors: list = field(default_factory=list)


def run_model(md: ModelDef, args: argparse.Namespace) -> ModelResult:
    folder = CACHE_DIR / f"{md.name}-{args.exporter}"
    res = ModelResult(md.name, md.description, args.exporter)
    original, res.export_info = export_original(md, args.exporter, folder, args.force_export)
    res.files["original"] = original
    for stale in folder.glob("fixed*.onnx*"):  # last run's graphfix outputs: never measure those by mistake
        stale.unlink()

    log(f"[{md.name}] graphfix fix (verified) ...")
    fixed, res.build["fixed"] = build_fixed(original, folder)
    if fixed is None:
        res.errors.append(f"fix failed: {res.build['fixed']['error']}")
        log(f"[{md.name}] fix FAILED: {res.build['fixed']['error']}; fp16/int8 are made from the original")
    else:
        res.files["fixed"] = fixed
    base = fixed or original
    for precision in ("fp16", "int8", "int8-trt"):
        log(f"[{md.name}] {precision} transform ...")
        path, res.build[precision] = build_precision(md, base, folder, precision, args.calib_samples)
        if path is None:
            res.errors.append(f"{precision} failed: {res.build[precision]['error']}")
            log(f"[{md.name}] {precision} FAILED: {res.build[precision]['error']}")
        else:
            res.files[precision] = path

    sessions = {}
    for variant, path in res.files.items():
        res.graph[variant] = file_ops(path)
        start = time.perf_counter()
        try:
            sessions[variant] = make_session(path, args.threads)
        except Exception as error:  # noqa: BLE001 - a variant ORT refuses is a finding, not a crash
            if variant == "original":
                raise
            res.errors.append(f"{variant}: ONNX Runtime cannot load it: {str(error).strip()[:300]}")
            res.build.setdefault(variant, {})["ok"] = False
            continue
        res.load_ms[variant] = (time.perf_counter() - start) * 1e3
        if not args.no_ort_graph:
            res.ort_graph[variant] = ort_graph_ops(path)

    rounds = max(1, min(args.rounds or args.runs, args.runs))
    for batch in args.batches:
        feeds = md.make_feeds(batch, np.random.default_rng(TIMING_SEED + batch))
        outputs = {}
        for variant in list(sessions):
            try:
                outputs[variant] = sessions[variant].run(None, feeds)
            except Exception as error:  # noqa: BLE001 - reported as a failed variant
                if variant == "original":
                    raise
                res.errors.append(f"{variant}: fails to run at batch {batch}: {str(error).strip()[:300]}")
                res.build.setdefault(variant, {})["ok"] = False
                del sessions[variant]
        log(f"[{md.name}] batch {batch}: timing {', '.join(sessions)} ({args.runs} runs each after "
            f"{args.warmup} warm-up, interleaved in {rounds} rounds) ...")
        monitor = CpuMonitor()
        times, per_round = time_variants(sessions, feeds, args.runs, args.warmup, args.rounds)
        share = monitor.other_share()
        res.background[batch] = share
        if share is not None and share > BACKGROUND_WARN:
            log(f"[{md.name}] batch {batch}: WARNING: other processes used {share:.0%} of the CPUs "
                "while timing")
        for variant in sessions:
            cell = {"batch": batch, **summarize(times[variant]), "runs_per_round": per_round,
                    "vs_original": paired_ratio(times[variant], times["original"], per_round),
                    "vs_original_ci95": paired_ratio_ci(times[variant], times["original"], per_round),
                    "times_ms": [round(t, 4) for t in times[variant]]}
            if variant == "int8" and "fixed" in times:
                cell["vs_fixed"] = paired_ratio(times["int8"], times["fixed"], per_round)
            if variant != "original":
                cell.update(accuracy(outputs["original"], outputs[variant]))
            res.cells[f"{variant}@{batch}"] = cell
        medians = {v: res.cells[f"{v}@{batch}"]["median_ms"] for v in sessions}
        log(f"[{md.name}] batch {batch}: " + ", ".join(
            f"{v} {m:.2f} ms ({res.cells[f'{v}@{batch}']['vs_original']:.2f}x)" for v, m in medians.items()))
    del sessions

    if not args.no_precision_check:
        for precision in ("fp16", "int8", "int8-trt"):
            if precision in res.files:
                log(f"[{md.name}] graphfix.precision.compare_precision({precision}) ...")
                try:
                    res.precision_checks[precision] = precision_check(
                        md, base, res.files[precision], precision, args.batches)
                except Exception as error:  # noqa: BLE001 - reported, not fatal
                    res.precision_checks[precision] = {"passed": False, "message": f"check crashed: {error}"}
    return res


# --------------------------------------------------------------------------------------------------
# report


def fmt_ms(x: float) -> str:
    return f"{x:.3f}" if x < 10 else f"{x:.2f}" if x < 100 else f"{x:.1f}"


def fmt_err(cell: dict) -> tuple[str, str]:
    if "max_abs" not in cell:
        return "reference", "reference"
    if cell.get("max_abs") is None:
        return cell.get("problem", "?"), "–"
    max_abs = cell["max_abs"]
    return (f"{max_abs:.2e}" if max_abs else "0"), f"{cell['cosine']:.6f}"


def fix_note(fx: dict) -> str:
    if not fx.get("ok"):
        return f"graphfix fix failed: {fx.get('error')}"
    if not fx["applied"]:
        return (f"graphfix fix: nothing to fix ({fx['nodes_before']} nodes, {fx['shape_before']} Shape), "
                "model unchanged")
    applied = ", ".join(f"{code} ×{count}" for code, count in sorted(fx["applied"].items()))
    verified = ("verified" if fx["verified"] else f"verification FAILED: {fx['verification']}") \
        if fx["verified"] is not None else "not verified"
    return (f"graphfix fix: {applied}; nodes {fx['nodes_before']} → {fx['nodes_after']}, "
            f"Shape {fx['shape_before']} → {fx['shape_after']}; {verified}")


def table(results: list[ModelResult], batches: list[int]) -> str:
    lines = ["| model | variant | batch | median ms | p90 ms | vs original | max abs err | cosine |",
             "|---|---|---|---|---|---|---|---|"]
    for res in results:
        for batch in batches:
            ref = res.cells.get(f"original@{batch}")
            for variant in VARIANTS:
                cell = res.cells.get(f"{variant}@{batch}")
                if cell is None:
                    if variant in res.build and not res.build[variant].get("ok", True):
                        lines.append(f"| {res.name} | {variant} | {batch} | – | – | – | failed | – |")
                    continue
                ratio = "1.00×" if variant == "original" else f"{cell['vs_original']:.2f}×"
                err, cos = fmt_err(cell)
                lines.append(f"| {res.name} | {variant} | {batch} | {fmt_ms(cell['median_ms'])} | "
                             f"{fmt_ms(cell['p90_ms'])} | {ratio} | {err} | {cos} |")
    return "\n".join(lines)


def ort_table(results: list[ModelResult]) -> str:
    lines = ["| model | variant | nodes in file | nodes ORT runs | ORT's ops of interest "
             "(after ORT_ENABLE_ALL) |",
             "|---|---|---|---|---|"]
    for res in results:
        for variant in VARIANTS:
            if variant not in res.ort_graph:
                continue
            ops = res.ort_graph[variant]["ops"]
            shown = ", ".join(f"{op} {ops[op]}" for op in ORT_OPS_OF_INTEREST if ops.get(op))
            lines.append(f"| {res.name} | {variant} | {res.graph[variant]['nodes']} | "
                         f"{res.ort_graph[variant]['nodes']} | {shown} |")
    return "\n".join(lines)


def goals(
    results: list[ModelResult], batches: list[int], margin_pct: float, margin_ms: float
) -> tuple[list[str], bool]:
    lines, ok = [], True
    # 1. fixed never slower than the original
    checks, verdict = [], True
    for res in results:
        for batch in batches:
            o, f = res.cells.get(f"original@{batch}"), res.cells.get(f"fixed@{batch}")
            if o is None or f is None:
                checks.append(f"{res.name} b{batch}: no fixed model")
                verdict = False
                continue
            allowed = 1 + max(margin_pct / 100, margin_ms / o["median_ms"])
            good = f["vs_original"] <= allowed
            verdict &= good
            low, high = ((x - 1) * 100 for x in f["vs_original_ci95"])
            checks.append(f"{res.name} b{batch}: {(f['vs_original'] - 1) * 100:+.1f}% "
                          f"[95% CI {low:+.1f}..{high:+.1f}] ({fmt_ms(f['median_ms'])} vs "
                          f"{fmt_ms(o['median_ms'])} ms){'' if good else ' SLOWER'}")
    lines.append(f"- Goal 1, fixed never slower than original (paired ratio at most +{margin_pct:g}% or "
                 f"+{margin_ms:g} ms, whichever is larger): {'PASS' if verdict else 'FAIL'} — "
                 + "; ".join(checks))
    ok &= verdict
    # 2. int8 faster than fp32 at batch 8 (required) and other batches (information)
    checks, verdict, required = [], True, False
    for res in results:
        for batch in batches:
            fp32_variant = "fixed" if f"fixed@{batch}" in res.cells else "original"
            f, q = res.cells.get(f"{fp32_variant}@{batch}"), res.cells.get(f"int8@{batch}")
            if f is None or q is None:
                if batch == INT8_GOAL_BATCH:
                    verdict, required = False, True
                    checks.append(f"{res.name} b{batch}: no int8 model")
                continue
            ratio = q["vs_fixed"] if fp32_variant == "fixed" else q["vs_original"]
            good = ratio < 1
            speed = 1 / ratio
            note = "" if batch == INT8_GOAL_BATCH else " (info)"
            kernels = int8_kernel_note(res) if batch == INT8_GOAL_BATCH else ""
            checks.append(f"{res.name} b{batch}: int8 {fmt_ms(q['median_ms'])} vs fp32 "
                          f"{fmt_ms(f['median_ms'])} ms = {speed:.2f}× {'faster' if good else 'SLOWER'}"
                          f"{note}{kernels}")
            if batch == INT8_GOAL_BATCH:
                required = True
                verdict &= good
    if not required:
        lines.append(f"- Goal 2, int8 faster than fp32 at batch {INT8_GOAL_BATCH}: N/A "
                     f"(batch {INT8_GOAL_BATCH} not measured) — " + "; ".join(checks))
    else:
        lines.append(f"- Goal 2, int8 faster than fp32 (the fixed fp32 model) at batch {INT8_GOAL_BATCH}: "
                     f"{'PASS' if verdict else 'FAIL'} — " + "; ".join(checks))
        ok &= verdict
    return lines, ok


INT8_KERNELS = ("QLinearConv", "QLinearMatMul", "MatMulIntegerToFloat", "QGemm", "DynamicQuantizeMatMul",
                "MatMulInteger", "ConvInteger")
FLOAT_WEIGHTED = ("Conv", "FusedConv", "MatMul", "FusedMatMul", "Gemm")


def int8_kernel_note(res: ModelResult) -> str:
    """How many weighted ops of the int8 model ORT actually runs with integer kernels."""
    ops = res.ort_graph.get("int8", {}).get("ops")
    if not ops:
        return ""
    quantized = sum(ops.get(op, 0) for op in INT8_KERNELS)
    floating = sum(ops.get(op, 0) for op in FLOAT_WEIGHTED)
    return f" [ORT runs {quantized} of {quantized + floating} weighted ops with int8 kernels]"


def environment(threads: int) -> dict:
    import onnxruntime as ort

    flags, model_name = set(), platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
            elif line.startswith("model name"):
                model_name = line.split(":", 1)[1].strip()
    except OSError:
        pass
    versions = {}
    from importlib.metadata import PackageNotFoundError, version

    for package in ("graphfix", "onnx", "onnxruntime", "numpy", "torch", "onnxconverter-common"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            pass
    return {
        "cpu": model_name, "logical_cpus": os.cpu_count(),
        "int8_isa": sorted(f for f in flags if f in ("avx2", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni",
                                                     "avx_vnni_int8", "amx_int8")),
        "ort_threads": threads or "default (ORT: one per physical core)",
        "ort_providers": ort.get_available_providers(),
        "versions": versions, "python": platform.python_version(),
    }


def to_jsonable(obj):  # noqa: ANN001, ANN201
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    return obj


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated: resnet,bert")
    parser.add_argument("--batches", default="1,8", help="comma-separated batch sizes (default 1,8)")
    parser.add_argument("--runs", type=int, default=50, help="timed runs per variant and batch (default 50)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed runs first (default 5)")
    parser.add_argument("--rounds", type=int, default=0,
                        help="interleaved rounds the runs are split into (default 0: as many as --runs, "
                             "one timed run per variant and round)")
    parser.add_argument("--exporter", choices=("legacy", "dynamo"), default="legacy")
    parser.add_argument("--image-size", type=int, default=224, help="ResNet input size (default 224)")
    parser.add_argument("--seq", type=int, default=128, help="BERT sequence length (default 128)")
    parser.add_argument("--calib-samples", type=int, default=32, help="int8 calibration samples (default 32)")
    parser.add_argument("--threads", type=int, default=0,
                        help="ORT intra-op threads (default 0: ORT's default)")
    parser.add_argument("--margin-pct", type=float, default=MARGIN_PCT)
    parser.add_argument("--margin-ms", type=float, default=MARGIN_MS)
    parser.add_argument("--force-export", action="store_true", help="redo the torch exports")
    parser.add_argument("--no-precision-check", action="store_true",
                        help="skip graphfix.precision.compare_precision")
    parser.add_argument("--no-ort-graph", action="store_true",
                        help="skip counting the ops of ORT's optimised graphs")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--check-goals", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args(argv)

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in MODELS]
    if unknown or not models:
        parser.error(f"--models: unknown {unknown}; choose from {', '.join(MODELS)}")
    try:
        args.batches = sorted({int(b) for b in args.batches.split(",") if b.strip()})
    except ValueError:
        parser.error("--batches: comma-separated integers, e.g. 1,8")
    if (not args.batches or min(args.batches) < 1 or args.runs < 1 or args.warmup < 0
            or args.calib_samples < 1):
        parser.error("--batches, --runs and --calib-samples must be >= 1, --warmup >= 0")

    defs = {"resnet": lambda: resnet_def(args.image_size), "bert": lambda: bert_def(args.seq)}
    env = environment(args.threads)
    log(f"CPU: {env['cpu']} ({env['logical_cpus']} logical CPUs), int8 ISA: {', '.join(env['int8_isa'])}; "
        f"onnxruntime {env['versions'].get('onnxruntime')}")
    started = time.perf_counter()
    results = [run_model(defs[name](), args) for name in models]

    lines = [f"## ONNX Runtime CPU latency ({env['cpu']}, {env['logical_cpus']} CPUs with "
             f"{', '.join(env['int8_isa']) or 'no AVX2'}; onnxruntime {env['versions'].get('onnxruntime')}, "
             f"ORT_ENABLE_ALL; {args.exporter} export)", ""]
    for res in results:
        calibration = res.build.get("int8", {}).get("calibration", "–").replace(str(REPO_DIR) + os.sep, "")
        lines.append(f"- **{res.name}**: {res.description}, {res.export_info.get('params', 0) / 1e6:.1f} M "
                     f"parameters; {fix_note(res.build.get('fixed', {}))}; int8 calibration: {calibration}")
    rounds = max(1, min(args.rounds or args.runs, args.runs))
    lines += ["", f"Median and p90 of {args.runs} runs per cell after {args.warmup} warm-up runs, "
              f"interleaved in {rounds} rounds of {math.ceil(args.runs / rounds)} run(s) per variant; one "
              "InferenceSession per variant. vs original: paired ratio (median over rounds). Accuracy: "
              "outputs on the timed inputs vs the original's.", "",
              table(results, args.batches), ""]
    if not args.no_ort_graph:
        lines += ["What ORT runs (op counts of the session's optimised graph):", "", ort_table(results), ""]
    if not args.no_precision_check:
        lines.append("graphfix.precision.compare_precision (seeded random inputs, fp16 emulated):")
        for res in results:
            for precision, check in res.precision_checks.items():
                verdict = "PASS" if check["passed"] else "FAIL"
                lines.append(f"- {res.name} {precision}: {verdict} — {check['message']}")
        lines.append("")
    busy = [(r.name, b, share) for r in results for b, share in r.background.items()
            if share is not None and share > BACKGROUND_WARN]
    if busy:
        lines += ["**Warning: the machine was not quiet while timing** (CPU share used by other processes: "
                  + ", ".join(f"{n} b{b} {share:.0%}" for n, b, share in busy)
                  + "); the figures are not reliable.", ""]
    goal_lines, all_ok = goals(results, args.batches, args.margin_pct, args.margin_ms)
    lines += ["Goals:", *goal_lines]
    for res in results:
        lines += [f"- {res.name}: {e}" for e in res.errors]
    print("\n".join(lines))

    payload = to_jsonable({
        "timestamp": _dt.datetime.now().isoformat(timespec="seconds"), "argv": sys.argv[1:],
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "environment": env, "seconds": round(time.perf_counter() - started, 1),
        "margin": {"pct": args.margin_pct, "ms": args.margin_ms}, "goals": goal_lines, "goals_ok": all_ok,
        "models": [vars(r) for r in results],
    })
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = RESULTS_DIR / f"latency-{stamp}.json"
    out.write_text(json.dumps(payload, indent=1) + "\n")
    if args.json:
        args.json.write_text(json.dumps(payload, indent=1) + "\n")
    log(f"raw results: {out}" + (f" and {args.json}" if args.json else ""))
    return 1 if args.check_goals and not all_ok else 0


if __name__ == "__main__":
    sys.exit(main())
