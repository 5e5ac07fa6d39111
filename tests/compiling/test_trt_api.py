"""The TensorRT names the backend touches exist in every TensorRT version it serves (checked as data).

The signature lists (one per version, made from NVIDIA's binding wheels) live outside the repository, in
the machines' shared folder; the test skips where they are not. tests/targets/test_trt_api_names.py collects
the names from the source by AST; this list adds those reached through values that analysis cannot type
(the parser's error objects, the timing cache).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# ../shared/trt-api beside the repository (as CI lays it out), unless GRAPHFIX_TRT_API says otherwise.
API = Path(os.environ.get("GRAPHFIX_TRT_API", Path(__file__).resolve().parents[2].parent / "shared" / "trt-api"))
VERSIONS = sorted(API.glob("*.signatures.txt")) if API.is_dir() else []

# Every TensorRT name graphfix's backend uses directly (Polygraphy's own use is Polygraphy's business).
USED = [
    "__version__",
    "MemoryPoolType.WORKSPACE",  # build: the workspace limit
    "init_libnvinfer_plugins",  # parser diagnosis
    "OnnxParser.parse_from_file",
    "OnnxParser.num_errors",
    "OnnxParser.get_error",
    "ParserError.node",
    "ParserError.desc",
    "ParserError.code",
    "IBuilderConfig.get_timing_cache",  # timing cache: merged and written by graphfix's atomic writer
    "IBuilderConfig.create_timing_cache",
    "ITimingCache.combine",
    "ITimingCache.serialize",
]
# Used only through guarded accessors (``_call``): absent in some versions.
GUARDED = ["ParserError.node_name", "ParserError.node_operator"]


def _names(path: Path) -> set[str]:
    return {line.split("\t", 1)[0].removeprefix("tensorrt.") for line in path.read_text().splitlines() if line}


@pytest.mark.skipif(not VERSIONS, reason=f"no TensorRT API lists at {API} (set GRAPHFIX_TRT_API)")
@pytest.mark.parametrize("path", VERSIONS, ids=lambda p: p.name.removesuffix(".signatures.txt"))
def test_every_tensorrt_name_the_backend_uses_exists(path):
    names = _names(path)
    assert [name for name in USED if name not in names] == []


@pytest.mark.skipif(not VERSIONS, reason=f"no TensorRT API lists at {API} (set GRAPHFIX_TRT_API)")
def test_guarded_names_are_missing_somewhere_so_the_guard_matters():
    assert any(not set(GUARDED) <= _names(path) for path in VERSIONS)
