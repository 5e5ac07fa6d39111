"""``graphfix._deferred``: onnx-ir's sympy is imported when first used, never with onnx-ir, and only then."""

from __future__ import annotations

import subprocess
import sys


def _run(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_onnx_ir_imported_after_graphfix_imports_no_sympy_until_symbolic_arithmetic():
    out = _run(
        "import sys, types\n"
        "import graphfix, onnx_ir\n"
        "print('sympy' in sys.modules, 'onnx_ir._symbolic_shapes' in sys.modules)\n"
        "dim = onnx_ir.SymbolicDim('batch') * 2 + 1\n"  # SymbolicDim arithmetic needs sympy: it loads now
        "print(dim.value, dim.evaluate({'batch': 3}), type(sys.modules['sympy']) is types.ModuleType)\n"
        "from onnx_ir import _symbolic_shapes\n"
        "print(_symbolic_shapes.parse_symbolic_expression('max(a, 2)'))\n"
        "import sympy\n"
        "print(sympy.Symbol('x') + 1, onnx_ir._core.sympy.Expr is sympy.Expr)\n"
    )
    assert out.splitlines() == ["False False", "2*batch + 1 7 True", "Max(2, a)", "x + 1 True"]


def test_the_finder_leaves_sys_meta_path_and_onnx_ir_keeps_its_own_loader():
    out = _run(
        "import sys\n"
        "import graphfix\n"
        "from graphfix import _deferred\n"
        "print(_deferred._FINDER in sys.meta_path)\n"
        "import onnx_ir\n"
        "print(_deferred._FINDER in sys.meta_path, type(onnx_ir.__loader__).__name__,"
        " type(onnx_ir.__spec__.loader).__name__)\n"
    )
    assert out.splitlines() == ["True", "False SourceFileLoader SourceFileLoader"]


def test_nothing_is_deferred_when_sympy_or_onnx_ir_came_first():
    sympy_first = _run("import sympy, graphfix, onnx_ir\nprint(onnx_ir._core.sympy is sympy)")
    assert sympy_first == "True"
    ir_first = _run("import onnx_ir, graphfix, sys\nfrom graphfix import _deferred\n"
                    "print('sympy' in sys.modules, _deferred._FINDER in sys.meta_path)")
    assert ir_first == "True False"
