"""Real Hugging Face GPT-2 and BERT exports (both exporters): a verified `graphfix fix` exits 0.

Issue 8 asks for this: a Range that really needs the batch (GPT-2's positions) and a declared output
dim that is always the sequence length are information, so they never fail `fix` or `lint` on the
output. Small random-weight configurations (2 layers, 64 wide) keep the exports to a few seconds.
transformers is pinned to 4.53.3 in the test extra: its GPT-2 exports with both exporters and its legacy
export has the batch-dependent Range and the always-16/64 output dims this test is about (4.57's GPT-2
does not export with the legacy exporter: torch 2.13 fails with `unordered_map::at`). A planted fault
(the Range finding made an error) fails the gpt2-legacy case.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

torch = pytest.importorskip("torch", reason="the export tests need torch (pip install torch==2.13.0)")
transformers = pytest.importorskip("transformers", reason="needs transformers (the test extra pins it)")

from graphs import run  # noqa: E402

from graphfix.cli import main  # noqa: E402

SEQ = 16
VOCAB = 500


class _Wrapper(torch.nn.Module):  # type: ignore[misc]
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask, return_dict=False)[0]


def _model(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if name == "gpt2":
        config = transformers.GPT2Config(n_layer=2, n_head=4, n_embd=64, vocab_size=VOCAB, n_positions=64,
                                         use_cache=False)
        return transformers.GPT2Model(config).eval()
    config = transformers.BertConfig(num_hidden_layers=2, num_attention_heads=4, hidden_size=64,
                                     intermediate_size=128, vocab_size=VOCAB, max_position_embeddings=64)
    return transformers.BertModel(config).eval()


def _export(name: str, exporter: str, folder: Path) -> Path:
    wrapper = _Wrapper(_model(name))
    ids = torch.randint(0, VOCAB, (2, SEQ))
    mask = torch.ones(2, SEQ, dtype=torch.long)
    path = folder / f"{name}_{exporter}.onnx"
    names = {"input_names": ["input_ids", "attention_mask"], "output_names": ["last_hidden_state"]}
    if exporter == "legacy":
        torch.onnx.export(wrapper, (ids, mask), str(path), dynamo=False, opset_version=17,
                          dynamic_axes={n: {0: "batch"} for n in ("input_ids", "attention_mask",
                                                                  "last_hidden_state")}, **names)
    else:
        batch = torch.export.Dim("batch")
        torch.onnx.export(wrapper, (ids, mask), str(path), dynamo=True, opset_version=18,
                          dynamic_shapes={"input_ids": {0: batch}, "attention_mask": {0: batch}}, **names)
    return path


def _feeds(batch: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(batch)
    mask = np.ones((batch, SEQ), dtype=np.int64)
    mask[:, SEQ - 3:] = 0  # padding, so the mask path is exercised
    return {"input_ids": rng.integers(0, VOCAB, (batch, SEQ), dtype=np.int64), "attention_mask": mask}


@pytest.mark.parametrize("exporter", ["legacy", "dynamo"])
@pytest.mark.parametrize("name", ["gpt2", "bert"])
def test_verified_fix_exits_0_keeps_the_batch_and_lints_clean(name: str, exporter: str, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    original = _export(name, exporter, tmp_path)
    capsys.readouterr()  # the dynamo exporter prints its progress
    fixed = tmp_path / f"{name}_{exporter}.fixed.onnx"
    assert main(["fix", str(original), "-o", str(fixed), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    verification = report["verification"]
    if report["applied"]:  # a rewrite is never written unverified
        assert verification["passed"] is True and verification["batches"], verification
    # Nothing left that fails: only information findings may remain.
    assert all(f.get("severity") == "info" for f in report.get("remaining", [])), report.get("remaining")
    assert main(["lint", str(fixed)]) == 0
    capsys.readouterr()

    graph = onnx.load(str(fixed), load_external_data=False).graph
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param  # the batch stays dynamic
    before = sum(n.op_type == "Shape" for n in onnx.load(str(original), load_external_data=False).graph.node)
    after = sum(n.op_type == "Shape" for n in graph.node)
    assert after <= before
    for batch in (1, 3, 5):
        feeds = _feeds(batch)
        np.testing.assert_allclose(run(fixed, feeds)[0], run(original, feeds)[0], rtol=1e-5, atol=1e-5)
