"""``graphfix plugin MODEL --op OP -o OUT.py``: a TensorRT Python plugin (``tensorrt.plugin``) for a custom op."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from graphfix.cli.common import EXIT_CLEAN, add_custom_ops_option, check_output_flag

if TYPE_CHECKING:
    from rich.console import Console


def add_parsers(commands: Any) -> None:
    plugin = commands.add_parser("plugin", help="write a TensorRT Python plugin (tensorrt.plugin) for a custom op")
    plugin.add_argument("path", metavar="MODEL", help="the ONNX model with the custom op")
    plugin.add_argument("--op", required=True, metavar="OP",
                        help="the custom op: a Plugin node's name attribute, or a custom node's op type")
    plugin.add_argument("-o", "--output", required=True, metavar="OUT.py", help="the plugin file to write")
    add_custom_ops_option(plugin)
    plugin.add_argument("--trt-version", metavar="V",
                        help="the target TensorRT (e.g. 8.6, 10.8); before 10.6 the notes list what a C++ "
                             "plugin must declare")
    plugin.add_argument("--namespace", metavar="NS", default=None,
                        help="the plugin namespace (default: the node's plugin_namespace, else graphfix)")
    plugin.add_argument("-v", "--verbose", action="store_true", help="show tracebacks for errors")
    plugin.set_defaults(run=run)


def run(args: argparse.Namespace, console: Console, errors: Console) -> int:
    from rich.markup import escape

    from graphfix.plugins.scaffold import write_plugin_scaffold

    check_output_flag("-o", args.output, [args.path])
    report = write_plugin_scaffold(args.path, args.op, args.output, trt_version=args.trt_version,
                                   namespace=args.namespace)
    shapes = ", ".join("?" if o.dims is None else "[" + ", ".join(str(d) for d in o.dims) + "]"
                       for o in report.outputs)
    console.print(f"wrote {escape(str(report.path))}: TensorRT plugin {escape(report.plugin_id)} "
                  f"({len(report.inputs)} input(s), output shape(s) {escape(shapes)})", soft_wrap=True)
    for note in report.notes:
        console.print(f"[yellow]note[/yellow] {escape(note)}", soft_wrap=True)
    if report.cpp_requirements:
        console.print(escape(report.cpp_requirements), soft_wrap=True)
    return EXIT_CLEAN
