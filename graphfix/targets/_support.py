"""The support tables' data model (imported lazily by ``graphfix.targets``; see its docstring).

Dataclasses for a resolved table (``SupportTable``), its entries (``OperatorEntry``, ``DtypeSupport``,
``OpsetRange``, ``Source``) and one per restriction kind (``KINDS``: ``AttributeValue``,
``InputConstant``, ...). ``graphfix.targets._loader`` reads and validates the tables.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import MISSING, dataclass, field, fields
from functools import cache, lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Any, ClassVar, TypeVar, cast



FORMAT = 1
EFFECTS = ("error", "silent", "documented")
STATUSES = ("supported", "unsupported")
ORIGINS = ("onnx", "onnx-legacy", "tensorrt")
SUPPORT_LEVELS = ("native", "narrowed", "io-only", "quantized", "unsupported")
# Experimental operators of early ONNX opsets that the parser still imports; onnx.defs no longer has them.
ONNX_LEGACY_OPERATORS = frozenset({"ImageScaler", "ParametricSoftplus", "ScaledTanh"})

__all__ = [
    "FORMAT",
    "KINDS",
    "ONNX_LEGACY_OPERATORS",
    "DtypeSupport",
    "OperatorEntry",
    "OpsetRange",
    "Restriction",
    "Source",
    "SupportTable",
    "SupportTableError",
]


class SupportTableError(ValueError):
    """A support table in the package is malformed (a graphfix bug, not a user error)."""


# -- restrictions -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Restriction:
    """One restriction the parser places on an operator. Subclasses add the kind's fields."""

    kind: ClassVar[str] = ""
    id: str
    op: str
    static: bool
    effect: str
    cite: str
    text: str
    opset_min: int | None = None
    opset_max: int | None = None

    def applies_at(self, opset: int) -> bool:
        """Whether the restriction applies to a model importing this default-domain opset."""
        return (self.opset_min is None or opset >= self.opset_min) and (
            self.opset_max is None or opset <= self.opset_max
        )

    # Written once here for every kind (``_kind`` generates only __init__ and the frozen setters): each
    # generated method costs an exec at import, and lint imports this module.
    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f.name) for f in fields(self))

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash((self.__class__, self._values()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{f.name}={getattr(self, f.name)!r}' for f in fields(self))})"


_T = TypeVar("_T")


def _kind(cls: type[_T]) -> type[_T]:
    """A restriction kind: a frozen dataclass whose equality, hash and repr are :class:`Restriction`'s."""
    return dataclass(frozen=True, eq=False, repr=False)(cls)


@_kind
class AttributeValue(Restriction):
    """``attribute`` (``default`` when absent) must be one of ``allowed``."""

    kind: ClassVar[str] = "attribute-value"
    attribute: str = ""
    allowed: tuple[Any, ...] = ()
    default: Any = None


@_kind
class AttributeAbsent(Restriction):
    """``attribute`` must not be set."""

    kind: ClassVar[str] = "attribute-absent"
    attribute: str = ""


@_kind
class AttributeIgnored(Restriction):
    """The importer never reads ``attribute``: any value other than ``default`` is silently ignored."""

    kind: ClassVar[str] = "attribute-ignored"
    attribute: str = ""
    default: Any = None


@_kind
class AttributeInts(Restriction):
    """An ints attribute must pass ``check``: ``all-ones`` or ``symmetric-pads`` (begin == end per axis)."""

    kind: ClassVar[str] = "attribute-ints"
    attribute: str = ""
    check: str = ""


@_kind
class AttributeRequires(Restriction):
    """When every attribute in ``condition`` has its value, ``attribute`` must be one of ``allowed``
    (absent attributes take their value from ``defaults``)."""

    kind: ClassVar[str] = "attribute-requires"
    condition: Mapping[str, Any] = field(default_factory=dict)
    attribute: str = ""
    allowed: tuple[Any, ...] = ()
    defaults: Mapping[str, Any] = field(default_factory=dict)


@_kind
class AttributeDtype(Restriction):
    """A type-valued attribute (``Cast.to``) or a tensor attribute's element type (``ConstantOfShape.value``)
    must be in ``allowed`` / not in ``disallowed`` (ONNX TensorProto type names)."""

    kind: ClassVar[str] = "attribute-dtype"
    attribute: str = ""
    allowed: tuple[str, ...] | None = None
    disallowed: tuple[str, ...] | None = None


@_kind
class AttributeDefaultDiffers(Restriction):
    """When ``attribute`` is absent the parser uses ``parser_default``, not ONNX's ``onnx_default``; only for
    nodes of the form ``applies`` (``per-axis``: a 1-D scale of more than one element)."""

    kind: ClassVar[str] = "attribute-default-differs"
    attribute: str = ""
    parser_default: Any = None
    onnx_default: Any = None
    applies: str = ""


@_kind
class BidirectionalActivationsEqual(Restriction):
    """With ``direction="bidirectional"`` the reverse pass's activations, alphas and betas must equal the
    forward pass's."""

    kind: ClassVar[str] = "bidirectional-activations-equal"


@_kind
class InputConstant(Restriction):
    """Input ``input`` (``name``), when present, must be constant: ``initializer`` (an initializer or a
    Constant output) or ``build-time`` (computable without running the network)."""

    kind: ClassVar[str] = "input-constant"
    input: int = 0
    name: str = ""
    constant: str = ""


@_kind
class InputNotConstant(Restriction):
    """Input ``input`` must be a computed tensor, not an initializer or Constant."""

    kind: ClassVar[str] = "input-not-constant"
    input: int = 0
    name: str = ""


@_kind
class InputAbsent(Restriction):
    """Optional input ``input`` must be absent (or empty)."""

    kind: ClassVar[str] = "input-absent"
    input: int = 0
    name: str = ""


@_kind
class InputRequired(Restriction):
    """Optional input ``input`` must be given."""

    kind: ClassVar[str] = "input-required"
    input: int = 0
    name: str = ""


@_kind
class InputValue(Restriction):
    """Input ``input``, when present, must be constant (initializer or Constant) with every value in
    ``allowed``."""

    kind: ClassVar[str] = "input-value"
    input: int = 0
    name: str = ""
    allowed: tuple[Any, ...] = ()


@_kind
class InputStaticShape(Restriction):
    """Input ``input`` must have a static shape; with ``axis_attribute``, only its dim at that axis."""

    kind: ClassVar[str] = "input-static-shape"
    input: int = 0
    name: str = ""
    axis_attribute: str | None = None


@_kind
class OutputAbsent(Restriction):
    """Optional output ``output`` must not be produced (absent, or an empty name)."""

    kind: ClassVar[str] = "output-absent"
    output: int = 0
    name: str = ""


@_kind
class Rank(Restriction):
    """Input ``input`` must have one of the ranks in ``allowed``."""

    kind: ClassVar[str] = "rank"
    input: int = 0
    name: str = ""
    allowed: tuple[int, ...] = ()


@_kind
class Dtype(Restriction):
    """Input ``input``'s element type must be in ``allowed`` / not in ``disallowed``."""

    kind: ClassVar[str] = "dtype"
    input: int = 0
    name: str = ""
    allowed: tuple[str, ...] | None = None
    disallowed: tuple[str, ...] | None = None


@_kind
class ValueMax(Restriction):
    """Input ``input``'s value (when constant) must be at most ``maximum``."""

    kind: ClassVar[str] = "value-max"
    input: int = 0
    name: str = ""
    maximum: int = 0


@_kind
class SqueezeAxesRequiredForDynamic(Restriction):
    """A Squeeze without axes needs a fully static input shape."""

    kind: ClassVar[str] = "squeeze-axes-required-for-dynamic"


@_kind
class SplitEqualParts(Restriction):
    """A Split without split sizes gives every output floor(dim / outputs): the split dim must divide
    evenly (opset 18's uneven last chunk is not computed)."""

    kind: ClassVar[str] = "split-equal-parts"


@_kind
class ResizeScaledDims(Restriction):
    """With constant scales and ``mode``, only the ``innermost`` dims may have a scale other than 1."""

    kind: ClassVar[str] = "resize-scaled-dims"
    mode: str = ""
    innermost: int = 0


@_kind
class EinsumEquation(Restriction):
    """The equation must not use the forms in ``forbid``: ``ellipsis`` (``...``), ``diagonal`` (a
    subscript repeated within one operand)."""

    kind: ClassVar[str] = "einsum-equation"
    forbid: tuple[str, ...] = ()


@_kind
class QdqZeroPointZero(Restriction):
    """The zero point (input ``input``), when given, must be all zeros."""

    kind: ClassVar[str] = "qdq-zero-point-zero"
    input: int = 2
    name: str = ""


@_kind
class QdqScalePositive(Restriction):
    """A constant scale (input ``input``) must be all positive."""

    kind: ClassVar[str] = "qdq-scale-positive"
    input: int = 1
    name: str = ""


@_kind
class QdqBlockUnsupported(Restriction):
    """Blocked quantization (a scale of the input's rank) is not supported."""

    kind: ClassVar[str] = "qdq-block-unsupported"


@_kind
class QdqBlockSingleAxis(Restriction):
    """Blocked quantization may block exactly one dim (scale dims equal the input's elsewhere)."""

    kind: ClassVar[str] = "qdq-block-single-axis"


@_kind
class OperatorVersion(Restriction):
    """The importer implements the operator's definitions up to ``max_since_version``: a model whose opset
    selects a newer definition (``onnx.defs.get_schema(op, opset).since_version``) is outside it."""

    kind: ClassVar[str] = "operator-version"
    max_since_version: int = 0


@_kind
class Text(Restriction):
    """A restriction stated in words only (usually ``static=False``)."""

    kind: ClassVar[str] = "text"


_RESTRICTION_FIELDS = frozenset(f.name for f in fields(Restriction))
KINDS: Mapping[str, type[Restriction]] = MappingProxyType(
    {
        cls.kind: cls
        for cls in (
            AttributeValue,
            AttributeAbsent,
            AttributeIgnored,
            AttributeInts,
            AttributeRequires,
            AttributeDtype,
            AttributeDefaultDiffers,
            BidirectionalActivationsEqual,
            InputConstant,
            InputNotConstant,
            InputAbsent,
            InputRequired,
            InputValue,
            InputStaticShape,
            OutputAbsent,
            Rank,
            Dtype,
            ValueMax,
            SqueezeAxesRequiredForDynamic,
            SplitEqualParts,
            ResizeScaledDims,
            EinsumEquation,
            QdqZeroPointZero,
            QdqScalePositive,
            QdqBlockUnsupported,
            QdqBlockSingleAxis,
            OperatorVersion,
            Text,
        )
    }
)
_CONSTANT_FORMS = ("initializer", "build-time")
_INTS_CHECKS = ("all-ones", "symmetric-pads")
_EINSUM_FORMS = ("ellipsis", "diagonal")


# -- table entries ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """Where a table's facts come from."""

    repository: str
    branch: str | None
    commit: str | None
    files: tuple[str, ...]
    read: str
    derived_from: str | None
    notes: tuple[str, ...] = ()
    commit_date: str | None = None


@dataclass(frozen=True)
class OpsetRange:
    """The default-domain opsets the parser is documented to accept (it enforces neither bound)."""

    min: int
    max: int
    enforced: bool
    documented: str
    cite: str | None = None
    note: str | None = None
    derived: bool = False

    def __contains__(self, opset: object) -> bool:
        return isinstance(opset, int) and self.min <= opset <= self.max


@dataclass(frozen=True)
class DtypeSupport:
    """How the parser treats an ONNX element type (TensorProto name): ``native``, ``narrowed`` (to ``to``,
    values clamped), ``io-only``, ``quantized`` (through Q/DQ only) or ``unsupported``."""

    name: str
    support: str
    cite: str
    to: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class OperatorEntry:
    """One operator of the support matrix: imported (``supported``) or not, with its restrictions."""

    name: str
    status: str
    origin: str
    types: tuple[str, ...]
    cite: str
    restrictions: tuple[Restriction, ...] = ()

    @property
    def supported(self) -> bool:
        return self.status == "supported"


@dataclass(frozen=True)
class SupportTable:
    """The resolved support table of one TensorRT version (deltas applied)."""

    version: str
    covers: tuple[str, ...]
    source: Source
    chain: tuple[str, ...]  # the table files applied, base first (provenance)
    opset: OpsetRange
    dtypes: Mapping[str, DtypeSupport]
    dispatch: Mapping[str, Any]
    operators: Mapping[str, OperatorEntry]

    @property
    def derived(self) -> bool:
        """True when this version's branch could not be read and its table was derived."""
        return self.source.derived_from is not None

    def operator(self, op_type: str, domain: str = "") -> OperatorEntry | None:
        """The entry the parser would dispatch ``op_type`` to, or None (no importer: plugin path).

        The parser dispatches on op_type alone, so a node of another domain with a standard op_type is
        imported as the standard operator; ``domain`` is accepted so that callers pass what the node
        has (``graphfix.targets.is_default_domain`` tells GF501 from the plugin path).
        """
        del domain  # dispatch ignores it (self.dispatch["domain_ignored"]); kept for the callers' clarity
        return self.operators.get(op_type)

    def imports(self, op_type: str, domain: str = "") -> bool:
        """Whether the parser has an importer for ``op_type`` in this version."""
        entry = self.operator(op_type, domain)
        return entry is not None and entry.supported

    def restrictions(self, op_type: str | None = None) -> tuple[Restriction, ...]:
        """All restrictions, or those of one operator."""
        if op_type is not None:
            entry = self.operators.get(op_type)
            return entry.restrictions if entry is not None else ()
        return tuple(r for entry in self.operators.values() for r in entry.restrictions)

    def restriction(self, restriction_id: str) -> Restriction | None:
        op = restriction_id.split("/", 1)[0]
        return next((r for r in self.restrictions(op) if r.id == restriction_id), None)

    def dtype(self, name: str) -> DtypeSupport | None:
        """How this version treats an ONNX element type (``"INT64"``, ``"BFLOAT16"``, ...)."""
        return self.dtypes.get(name)
