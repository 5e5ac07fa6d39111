"""What TensorRT's ONNX parser accepts, per TensorRT version: the data the GF5xx rules check against.

One JSON table per TensorRT version lives in ``graphfix/targets/tables/`` (``trt-8.6.json``,
``trt-10.0.json`` ... ``trt-10.16.json``, ``trt-11.0.json``, ``trt-11.2.json``, ``trt-11.5.json``). A table
is either complete or a delta over an older table (``"base"``); either way its header names the
onnx-tensorrt branch, files and commit it was read from, or says ``derived_from`` when no branch could
be read and the table was derived from its base and the release notes. ``docs/trt-support.md`` says how
the tables were built and how to update them.

    from graphfix import targets
    table = targets.resolve("10")                 # the newest 10.x table (10.16)
    table.opset.max                               # 24
    entry = table.operator("Resize")              # OperatorEntry, or None: no importer
    for restriction in entry.restrictions:        # typed: AttributeValue, InputConstant, ...
        ...

Semantics the rules rely on:

- The parser dispatches a node on its ``op_type`` alone (``dispatch["domain_ignored"]``). An op_type
  with no entry, or an entry whose status is ``unsupported``, has no importer: the parser looks it up
  in the plugin registry and fails without a plugin.
- ``opset`` is the documented range; the parser enforces neither bound (it warns below 7). Operators
  whose newer versions it does not read carry ``attribute-ignored``/``operator-version`` restrictions.
- Each restriction has ``effect``: ``error`` (the parser or builder rejects the node), ``silent`` (it
  imports the node and computes something else) or ``documented`` (stated in operators.md, not seen
  enforced in the source read). ``static`` is False where the condition cannot be decided from the ONNX
  graph alone (the finding must say so). ``when`` (``opset_min``/``opset_max``) limits a restriction to
  models of those default-domain opsets.
- ``input-constant`` with ``constant="initializer"`` means an initializer or a Constant node's output
  (the parser's "weights"); ``"build-time"`` means any value TensorRT can compute without running the
  network (constants and arithmetic on static shapes).

Importing this package costs nothing: the data model (``graphfix.targets._support``), the loader (``_loader``) and the tables load
on first use, so ``graphfix lint`` pays only when a GF5xx rule runs. ``resolve`` raises ``UsageError``
for a version without a table; a malformed packaged table raises ``SupportTableError``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from graphfix.targets._support import (
        KINDS,
        ONNX_LEGACY_OPERATORS,
        DtypeSupport,
        OperatorEntry,
        OpsetRange,
        Restriction,
        Source,
        SupportTable,
        SupportTableError,
    )

__all__ = [
    "KINDS",
    "ONNX_LEGACY_OPERATORS",
    "DtypeSupport",
    "OperatorEntry",
    "OpsetRange",
    "Restriction",
    "Source",
    "SupportTable",
    "SupportTableError",
    "available_versions",
    "covered_versions",
    "is_default_domain",
    "iter_tables",
    "resolve",
]


def resolve(version: str) -> SupportTable:
    """The support table for a TensorRT version: ``"10"`` is the newest 10.x table, ``"10.12"`` (or
    ``"10.12.0.36"``) exactly 10.12, ``"11.3"`` the table covering 11.3; anything else is a
    ``UsageError`` listing the available versions."""
    from graphfix.targets import _loader

    return _loader.resolve(version)


def available_versions() -> tuple[str, ...]:
    """The TensorRT versions that have a table, oldest first (``"8.6"``, ``"10.0"``, ...)."""
    from graphfix.targets import _loader

    return _loader.available_versions()


def covered_versions() -> Mapping[str, str]:
    """Every MAJOR.MINOR a table covers -> that table's version (``"11.3"`` -> ``"11.2"``)."""
    from graphfix.targets import _loader

    return _loader.covered_versions()


def is_default_domain(domain: str | None) -> bool:
    """The ONNX default domain, spelled ``""`` or ``"ai.onnx"``."""
    return (domain or "") in ("", "ai.onnx")


def iter_tables() -> Any:
    """Every table, resolved, oldest first."""
    from graphfix.targets import _loader

    return _loader.iter_tables()


def __getattr__(name: str) -> Any:
    # The dataclasses and KINDS come from the lazily imported data model.
    if name in __all__:
        from graphfix.targets import _support

        return getattr(_support, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
