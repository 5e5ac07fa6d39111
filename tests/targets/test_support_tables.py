"""The TensorRT support tables: every table's header and shape, resolve() semantics, facts read from the
onnx-tensorrt sources, the consistency of the derived 10.x chain with the 10.15 table that was read, and
the loader refusing broken tables (faults planted in copies of the real data)."""

from __future__ import annotations

import copy
import itertools
import json
import re
from pathlib import Path

import onnx
import onnx.defs
import pytest

from graphfix import targets
from graphfix.errors import UsageError
from graphfix.targets import _loader, _support

TABLES = Path(targets.__file__).parent / "tables"
RAW = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in TABLES.glob("trt-*.json")}
ONNX_TYPES = set(onnx.TensorProto.DataType.keys()) - {"UNDEFINED"}
SCHEMAS: dict[str, list[onnx.defs.OpSchema]] = {}
for _schema in onnx.defs.get_all_schemas_with_history():
    if _schema.domain == "":
        SCHEMAS.setdefault(_schema.name, []).append(_schema)


def key(version: str) -> tuple[int, int]:
    major, minor = version.split(".")
    return int(major), int(minor)


VERSIONS = sorted((name[len("trt-") : -len(".json")] for name in RAW), key=key)


def table(version: str) -> targets.SupportTable:
    return targets.resolve(version)


# -- files and headers ----------------------------------------------------------------------------------


def test_every_major_has_a_table() -> None:
    assert {"8.6", "10.0", "10.16", "11.0", "11.5"} <= set(VERSIONS)
    assert [f"10.{minor}" for minor in range(17)] == [v for v in VERSIONS if v.startswith("10.")]
    assert targets.available_versions() == tuple(sorted(VERSIONS, key=key))


@pytest.mark.parametrize("name", list(RAW))
def test_header(name: str) -> None:
    data = RAW[name]
    version = name[len("trt-") : -len(".json")]
    assert data["format"] == 1
    assert data["version"] == version
    assert version in data["covers"] and all(re.fullmatch(r"\d+\.\d+", c) for c in data["covers"])
    assert all(c.split(".")[0] == version.split(".")[0] and key(c) >= key(version) for c in data["covers"])
    source = data["source"]
    assert source["repository"].startswith("https://github.com/")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", source["read"])
    assert source["files"] and all(isinstance(f, str) and f for f in source["files"])
    if source["derived_from"] is None:
        # Read from a branch: the commit must be named.
        assert re.fullmatch(r"[0-9a-f]{40}", source["commit"])
        assert source["branch"].startswith("release/")
    else:
        # Derived: says from which table and what else.
        assert "base" in data and data["base"] in source["derived_from"]
        assert source["commit"] is None and source["branch"] is None
    if "base" in data:
        assert set(data) == {"format", "version", "covers", "source", "base", "changes"}
        assert key(data["base"]) < key(version)
    else:
        assert set(data) == {
            "format",
            "version",
            "covers",
            "source",
            "opset",
            "dtypes",
            "dispatch",
            "operators",
            "restrictions",
        }


def test_covers_do_not_overlap() -> None:
    seen: dict[str, str] = {}
    for name, data in RAW.items():
        for minor in data["covers"]:
            assert minor not in seen, f"{minor} is covered by {seen.get(minor)} and {name}"
            seen[minor] = name


def test_tables_read_from_branches_cite_lines_of_that_branch() -> None:
    for name, data in RAW.items():
        if "base" in data:
            continue
        branch = data["source"]["branch"]
        cites = [r["cite"] for r in data["restrictions"]] + [o["cite"] for o in data["operators"].values()]
        line_cites = [c for c in cites if re.match(r"release/[\w.-]+:[\w.]+\.(cpp|hpp):\d+", c)]
        assert line_cites, name
        if data["source"]["derived_from"] is None and not name.endswith("10.15.json"):
            # Complete tables read from a fetched branch cite that branch's lines only.
            assert all(c.startswith(branch + ":") for c in line_cites), name


# -- resolved tables ------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_shape(version: str) -> None:
    t = table(version)
    assert t.version == version
    assert 7 <= t.opset.min <= t.opset.max <= onnx.defs.onnx_opset_version()
    assert not t.opset.enforced  # the parser rejects no opset (ModelImporter only warns below 7)
    assert set(t.dtypes) <= ONNX_TYPES
    assert {
        "FLOAT",
        "FLOAT16",
        "INT32",
        "INT64",
        "BOOL",
        "DOUBLE",
        "BFLOAT16",
        "FLOAT8E4M3FN",
        "UINT8",
    } <= set(t.dtypes)
    assert t.dispatch["by"] == "op_type" and t.dispatch["domain_ignored"] is True
    assert len(t.operators) > 150
    for name, entry in t.operators.items():
        assert entry.name == name and entry.cite
        assert set(entry.types) <= ONNX_TYPES, name
        if entry.origin == "onnx":
            assert onnx.defs.has(name), f"{version}: {name} is not an ONNX operator"
        elif entry.origin == "onnx-legacy":
            assert name in targets.ONNX_LEGACY_OPERATORS and not onnx.defs.has(name)
        else:
            assert entry.origin == "tensorrt" and name.startswith("TRT_")
    for r in t.restrictions():
        assert type(r) is targets.KINDS[r.kind]
        assert r.id.startswith(f"{r.op}/{r.kind}")
        assert r.effect in ("error", "silent", "documented") and r.cite and r.text
        assert t.operators[r.op].supported


@pytest.mark.parametrize("version", VERSIONS)
def test_restrictions_name_real_inputs_outputs_and_attributes(version: str) -> None:
    """Every input/output index, name and attribute a restriction names exists in the ONNX operator's
    schema (in some opset version)."""
    for r in table(version).restrictions():
        if r.op not in SCHEMAS:
            continue  # TensorRT-specific or legacy operators have no ONNX schema
        history = SCHEMAS[r.op]
        attribute = getattr(r, "attribute", None)
        if attribute is not None:
            assert any(attribute in s.attributes for s in history), f"{r.id}: no attribute {attribute}"
        for field, params in (("input", "inputs"), ("output", "outputs")):
            index = getattr(r, field, None)
            if index is None or not hasattr(r, "name"):
                continue
            names = {getattr(s, params)[index].name for s in history if index < len(getattr(s, params))}
            assert r.name in names, f"{r.id}: {field} {index} is {names}, not {r.name!r}"
        if r.opset_min is not None:
            assert r.opset_min <= max(s.since_version for s in history) or r.kind == "operator-version", r.id


def test_opset_ranges_never_shrink() -> None:
    tables = [table(v) for v in VERSIONS]
    for older, newer in itertools.pairwise(tables):
        assert newer.opset.max >= older.opset.max, (older.version, newer.version)
        assert newer.opset.min >= older.opset.min


def test_derived_tables_say_so() -> None:
    read = {v for v in VERSIONS if not table(v).derived}
    assert read == {"8.6", "10.0", "10.1", "10.15"}
    for v in set(VERSIONS) - read:
        assert table(v).source.derived_from


# -- facts read from the sources ----------------------------------------------------------------------


def test_opset_ranges_from_the_docs() -> None:
    assert (table("8.6").opset.min, table("8.6").opset.max) == (7, 17)
    assert (table("10.0").opset.min, table("10.0").opset.max) == (9, 20)
    assert table("10.15").opset.max == 24
    assert table("11.2").opset.max == 24
    assert table("11.5").opset.max == 25
    assert 18 not in table("8.6").opset and 17 in table("8.6").opset


def test_operators_added_and_missing() -> None:
    # Hardmax: N in 8.6, imported from 9.2 on; CastLike, Gelu, Mish have no 8.6 importer at all.
    assert not table("8.6").imports("Hardmax") and table("8.6").operator("Hardmax") is not None
    for op in ("Hardmax", "CastLike", "Gelu", "Mish"):
        assert table("10.0").imports(op), op
    for op in ("CastLike", "Gelu", "Mish"):
        assert table("8.6").operator(op) is None, op
    assert not table("10.0").imports("DeformConv") and table("10.1").imports("DeformConv")
    assert not table("10.13").imports("Attention") and table("10.14").imports("Attention")
    assert not table("10.4").imports("STFT") and table("10.5").imports("STFT")
    assert not table("10.16").imports("Swish") and table("11.0").imports("Swish")
    assert not table("11.0").imports("DFT") and table("11.2").imports("DFT")
    for t in targets.iter_tables():
        assert t.imports("NonMaxSuppression")  # imported in every version
        assert not t.imports("Unique") and not t.imports("SequenceAt")
    # TensorRT's own operators, and their origin.
    assert table("8.6").operator("TRT_FP8QuantizeLinear").origin == "tensorrt"
    assert table("8.6").operator("TRT_INT4QuantizeLinear") is None
    assert table("10.0").imports("TRT_INT4QuantizeLinear")


def test_operator_lookup_ignores_the_domain_like_the_parser() -> None:
    t = table("10")
    assert t.operator("Relu", "com.example") is t.operator("Relu")
    assert t.operator("MyPlugin", "com.example") is None
    assert targets.is_default_domain("") and targets.is_default_domain("ai.onnx")
    assert not targets.is_default_domain("com.microsoft")


def test_data_types() -> None:
    t86, t10 = table("8.6"), table("10.0")
    for name in ("BFLOAT16", "FLOAT8E4M3FN", "INT4", "FLOAT4E2M1"):
        assert t86.dtype(name).support == "unsupported", name
    assert t86.dtype("INT64").support == "narrowed" and t86.dtype("INT64").to == "INT32"
    assert t10.dtype("INT64").support == "native"
    assert t10.dtype("BFLOAT16").support == "native"
    assert t10.dtype("FLOAT8E4M3FN").support == "quantized"
    assert t10.dtype("FLOAT4E2M1").support == "unsupported"
    assert table("10.8").dtype("FLOAT4E2M1").support == "quantized"
    for t in targets.iter_tables():
        assert t.dtype("DOUBLE").support == "narrowed" and t.dtype("DOUBLE").to == "FLOAT"
        assert t.dtype("UINT8").support == "io-only"
        assert t.dtype("STRING").support == "unsupported"
        assert t.dtype("FLOAT8E5M2").support == "unsupported"


def test_restrictions_from_the_importers() -> None:
    r = table("8.6").restriction("MaxPool/output-absent")
    assert (
        isinstance(r, _support.OutputAbsent) and (r.output, r.name) == (1, "Indices") and r.effect == "error"
    )
    assert r.cite.startswith("release/8.6-GA:")
    for t in targets.iter_tables():
        assert t.restriction("MaxPool/output-absent").output == 1
        zero = t.restriction("QuantizeLinear/qdq-zero-point-zero")
        assert zero is not None and zero.input == 2
        assert t.restriction("GridSample/attribute-value/mode").effect == "silent"
    resize = table("8.6").restriction("Resize/attribute-value/coordinate_transformation_mode")
    assert "tf_crop_and_resize" not in resize.allowed and "half_pixel" in resize.allowed
    assert resize.applies_at(11) and not resize.applies_at(10)
    # Opset-18 Resize attributes: ignored by 8.6 (silently), rejected by 10.x.
    assert table("8.6").restriction("Resize/attribute-ignored/antialias").effect == "silent"
    assert table("10.0").restriction("Resize/attribute-value/antialias").allowed == (0,)


def test_squeeze_axes_per_version() -> None:
    constant = {v: table(v).restriction("Squeeze/input-constant") for v in ("8.6", "10.6", "10.7", "11.5")}
    assert constant["8.6"].constant == "initializer" and constant["10.6"].constant == "initializer"
    assert constant["10.7"].constant == "build-time" and constant["11.5"].constant == "build-time"
    assert isinstance(
        table("8.6").restriction("Squeeze/squeeze-axes-required-for-dynamic"),
        _support.SqueezeAxesRequiredForDynamic,
    )
    assert table("11.2").restriction("Squeeze/squeeze-axes-required-for-dynamic") is not None
    assert table("11.5").restriction("Squeeze/squeeze-axes-required-for-dynamic") is None


def test_pad_slice_and_scatter_per_version() -> None:
    assert isinstance(table("8.6").restriction("Pad/input-absent"), _support.InputAbsent)
    assert table("10.3").restriction("Pad/input-constant").constant == "initializer"
    assert table("10.4").restriction("Pad/input-constant") is None
    assert "wrap" not in table("8.6").restriction("Pad/attribute-value/mode").allowed
    assert "wrap" in table("10.0").restriction("Pad/attribute-value/mode").allowed
    assert table("10.2").restriction("Slice/input-constant") is not None
    assert table("10.3").restriction("Slice/input-constant") is None
    assert table("8.6").restriction("ScatterElements/attribute-ignored/reduction").effect == "silent"
    assert table("10.0").restriction("ScatterElements/attribute-ignored/reduction") is None
    assert isinstance(table("10.8").restriction("ScatterND/attribute-absent"), _support.AttributeAbsent)
    assert table("10.9").restriction("ScatterND/attribute-value").allowed == ("none",)


def test_qdq_forms_per_version() -> None:
    assert table("8.6").restriction("QuantizeLinear/dtype").effect == "error"  # UINT8 zero point rejected
    assert table("10.0").restriction("QuantizeLinear/dtype").effect == "silent"  # read as INT8
    assert table("8.6").restriction("DequantizeLinear/input-required").input == 2
    assert table("8.6").restriction("DequantizeLinear/qdq-block-unsupported") is not None
    assert table("10.0").restriction("DequantizeLinear/qdq-block-single-axis") is not None
    axis = table("10.14").restriction("QuantizeLinear/attribute-default-differs")
    assert (axis.parser_default, axis.onnx_default) == (0, 1)
    assert table("10.15").restriction("QuantizeLinear/attribute-default-differs") is None


def test_derived_10_14_matches_the_10_15_table_that_was_read() -> None:
    """The 10.2-10.14 deltas come from the changelog; applied to the 10.1 source they must reach the 10.15
    table (read from docs and source) up to what the 10.15 changelog entry itself added."""
    derived, read = table("10.14"), table("10.15")
    added_in_10_15 = {
        "RotaryEmbedding",
        "RMSNormalization",
        "TensorScatter",
        "TRT_QuantizedAttention",
        "TRT_FP4DynamicQuantize",
        "TRT_DynamicQuantize",
        "TRT_BlockQuantize",
        "TRT_BlockDequantize",
    }
    assert set(read.operators) - set(derived.operators) == added_in_10_15
    assert set(derived.operators) <= set(read.operators)
    for name, entry in derived.operators.items():
        assert read.operators[name].status == entry.status, name
    changed = {r.id for r in read.restrictions()} ^ {r.id for r in derived.restrictions()}
    assert {c.split("/")[0] for c in changed} <= {
        "RotaryEmbedding",
        "TensorScatter",
        "QuantizeLinear",
        "DequantizeLinear",
        "LayerNormalization",
        "BatchNormalization",
    }


# -- resolve() ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("asked", "got"),
    [
        ("8.6", "8.6"),
        ("8", "8.6"),
        ("8.6.1", "8.6"),
        ("10", "10.16"),
        ("10.12", "10.12"),
        ("10.12.0.36", "10.12"),
        (" 10.0 ", "10.0"),
        ("TensorRT 10.8", "10.8"),
        ("11", "11.5"),
        ("11.0", "11.0"),
        ("11.1", "11.0"),
        ("11.3", "11.2"),
        ("11.4.0.106", "11.2"),
        ("11.5", "11.5"),
    ],
)
def test_resolve(asked: str, got: str) -> None:
    assert targets.resolve(asked).version == got


def test_resolve_major_picks_the_newest_covered_minor() -> None:
    newest_10 = max((v for v in targets.covered_versions() if v.startswith("10.")), key=key)
    assert targets.resolve("10").version == targets.covered_versions()[newest_10] == "10.16"


@pytest.mark.parametrize("asked", ["9", "9.3", "10.17", "12", "7.1", "x", "", "10.x", "latest"])
def test_resolve_unknown_lists_the_versions(asked: str) -> None:
    with pytest.raises(UsageError) as error:
        targets.resolve(asked)
    assert "8.6" in str(error.value) and "10.16" in str(error.value) and "11.5" in str(error.value)


def test_resolve_is_cached_and_tables_are_read_only() -> None:
    t = targets.resolve("10.12")
    assert targets.resolve("10.12") is t
    with pytest.raises(TypeError):
        t.operators["Relu"] = None  # type: ignore[index]
    with pytest.raises(AttributeError):
        t.version = "9"  # type: ignore[misc]


def test_import_is_lazy() -> None:
    import subprocess
    import sys

    code = (
        "import sys, graphfix.targets; "
        "print('graphfix.targets._support' in sys.modules, 'json' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split()[0] == "False"


# -- broken tables are refused -------------------------------------------------------------------------


def _load_with(monkeypatch: pytest.MonkeyPatch, version: str, mutate) -> None:
    raw = {v: copy.deepcopy(dict(d)) for v, d in _loader._raw_tables().items()}
    mutate(raw)
    monkeypatch.setattr(_loader, "_raw_tables", lambda: raw)
    _loader._load.cache_clear()
    try:
        _loader._load(version)
    finally:
        _loader._load.cache_clear()


def _first(raw: dict, version: str, op: str) -> dict:
    return next(r for r in raw[version]["restrictions"] if r["op"] == op)


def _indices(raw: dict) -> dict:
    """8.6's MaxPool Indices restriction (an output-absent kind)."""
    return next(r for r in raw["8.6"]["restrictions"] if r["id"] == "MaxPool/output-absent")


FAULTS = {
    "unknown kind": ("8.6", lambda raw: _first(raw, "8.6", "Resize").update(kind="resize-magic")),
    "missing kind field": ("8.6", lambda raw: _indices(raw).pop("output")),
    "unknown field": ("8.6", lambda raw: _indices(raw).update(outptu=1)),
    "wrong type": ("8.6", lambda raw: _indices(raw).update(output="1")),
    "bad effect": ("8.6", lambda raw: _indices(raw).update(effect="fatal")),
    "id of another kind": ("8.6", lambda raw: _indices(raw).update(id="MaxPool/rank/x")),
    "restriction of an absent op": (
        "8.6",
        lambda raw: _indices(raw).update(op="Maxpool", id=_indices(raw)["id"].replace("MaxPool", "Maxpool")),
    ),
    "restriction on an unsupported op": (
        "8.6",
        lambda raw: raw["8.6"]["operators"]["MaxPool"].update(status="unsupported"),
    ),
    "bad status": ("8.6", lambda raw: raw["8.6"]["operators"]["Relu"].update(status="maybe")),
    "TRT op claimed as onnx": ("8.6", lambda raw: raw["8.6"]["operators"]["TRT_Scale"].update(origin="onnx")),
    "narrowed without to": ("8.6", lambda raw: raw["8.6"]["dtypes"]["INT64"].pop("to")),
    "bad support level": ("8.6", lambda raw: raw["8.6"]["dtypes"]["BFLOAT16"].update(support="maybe")),
    "inverted opset range": ("8.6", lambda raw: raw["8.6"]["opset"].update(min=18)),
    "bad format": ("8.6", lambda raw: raw["8.6"].update(format=2)),
    "empty allowed": (
        "8.6",
        lambda raw: next(r for r in raw["8.6"]["restrictions"] if r["kind"] == "attribute-value").update(
            allowed=[]
        ),
    ),
    "bad constant form": (
        "8.6",
        lambda raw: next(r for r in raw["8.6"]["restrictions"] if r["kind"] == "input-constant").update(
            constant="maybe"
        ),
    ),
    "duplicate id": ("8.6", lambda raw: raw["8.6"]["restrictions"].append(dict(_indices(raw)))),
    "delta removes a missing restriction": (
        "10.3",
        lambda raw: raw["10.3"]["changes"].update(restrictions_remove=["Slice/input-constant", "Nope/text"]),
    ),
    "delta removes a missing operator": (
        "10.3",
        lambda raw: raw["10.3"]["changes"].update(operators_remove=["Nope"]),
    ),
    "delta with an unknown change": ("10.3", lambda raw: raw["10.3"]["changes"].update(ops_add={})),
    "delta with a missing base": ("10.3", lambda raw: raw["10.3"].update(base="10.99")),
    "delta based on a newer table": ("10.3", lambda raw: raw["10.3"].update(base="10.4")),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_broken_tables_are_refused(monkeypatch: pytest.MonkeyPatch, fault: str) -> None:
    version, mutate = FAULTS[fault]
    with pytest.raises(_support.SupportTableError):
        _load_with(monkeypatch, version, mutate)


def test_unbroken_copy_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fault tests above fail for their fault, not for the copying."""
    _load_with(monkeypatch, "10.3", lambda raw: None)
    _load_with(monkeypatch, "8.6", lambda raw: None)
