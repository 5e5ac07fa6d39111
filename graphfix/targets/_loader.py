"""Loading the support tables: resolve a version, apply deltas over their base, validate every record.

Everything wrong in a table (unknown kinds or fields, missing fields, wrong types, restriction ids that do
not match their operator and kind, deltas that remove what their base lacks) raises ``SupportTableError``.
The data model lives in ``graphfix.targets._support``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import MISSING, fields
from functools import cache, lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Any, TypeVar, cast

from graphfix.errors import UsageError
from graphfix.targets._support import (
    AttributeDtype,
    AttributeInts,
    AttributeRequires,
    AttributeValue,
    Dtype,
    DtypeSupport,
    EFFECTS,
    EinsumEquation,
    FORMAT,
    InputConstant,
    InputValue,
    KINDS,
    ONNX_LEGACY_OPERATORS,
    ORIGINS,
    OperatorEntry,
    OpsetRange,
    Rank,
    Restriction,
    STATUSES,
    SUPPORT_LEVELS,
    Source,
    SupportTable,
    SupportTableError,
    _CONSTANT_FORMS,
    _EINSUM_FORMS,
    _INTS_CHECKS,
    _RESTRICTION_FIELDS,
)

_T = TypeVar("_T")


# -- loading ------------------------------------------------------------------------------------------

_VERSION = re.compile(r"^\s*(?:tensorrt\s*|trt\s*)?(\d+)(?:\.(\d+))?(?:\.\d+)*\s*$", re.IGNORECASE)
_CHANGE_KEYS = frozenset(
    {
        "opset",
        "dtypes",
        "dispatch",
        "operators_set",
        "operators_remove",
        "restrictions_remove",
        "restrictions_add",
    }
)
_HEADER_KEYS = frozenset({"format", "version", "covers", "source"})


def _key(version: str) -> tuple[int, int]:
    major, _, minor = version.partition(".")
    return int(major), int(minor or 0)


@lru_cache(maxsize=1)
def _raw_tables() -> Mapping[str, Mapping[str, Any]]:
    folder = resources.files(__package__ or "graphfix.targets").joinpath("tables")
    raw: dict[str, Mapping[str, Any]] = {}
    for item in folder.iterdir():
        match = re.fullmatch(r"trt-(\d+\.\d+)\.json", item.name)
        if match is None:
            continue
        try:
            data = json.loads(item.read_text(encoding="utf-8"))
        except ValueError as error:
            raise SupportTableError(f"{item.name}: not valid JSON ({error})") from error
        if not isinstance(data, dict) or data.get("version") != match.group(1):
            raise SupportTableError(f"{item.name}: its version field must be {match.group(1)!r}")
        raw[match.group(1)] = data
    if not raw:
        raise SupportTableError("no support tables found in graphfix/targets/tables")
    return MappingProxyType(dict(sorted(raw.items(), key=lambda kv: _key(kv[0]))))


def available_versions() -> tuple[str, ...]:
    """The TensorRT versions that have a table, oldest first (``"8.6"``, ``"10.0"``, ...)."""
    return tuple(_raw_tables())


def covered_versions() -> Mapping[str, str]:
    """Every MAJOR.MINOR a table covers -> that table's version (``"11.3"`` -> ``"11.2"``)."""
    return MappingProxyType(
        {minor: version for version, data in _raw_tables().items() for minor in data.get("covers", [version])}
    )


def resolve(version: str) -> SupportTable:
    """The support table for a TensorRT version.

    ``"10"`` is the newest 10.x table, ``"10.12"`` (or ``"10.12.0.36"``) exactly 10.12, ``"11.3"`` the table
    covering 11.3. Raises ``UsageError`` naming the available versions for anything else.
    """
    match = _VERSION.match(version) if isinstance(version, str) else None
    covered = covered_versions()
    choices = ", ".join(available_versions())
    if match is None:
        raise UsageError(f"TensorRT version {version!r}: expected MAJOR or MAJOR.MINOR (tables: {choices})")
    major, minor = match.group(1), match.group(2)
    if minor is None:
        candidates = [v for v in covered if v.split(".")[0] == major]
        if not candidates:
            raise UsageError(f"no support table for TensorRT {major} (tables: {choices})")
        wanted = max(candidates, key=_key)
    else:
        wanted = f"{int(major)}.{int(minor)}"
    if wanted not in covered:
        raise UsageError(
            f"no support table for TensorRT {wanted} (tables: {choices}; covered: "
            f"{', '.join(sorted(covered, key=_key))})"
        )
    return _load(covered[wanted])


@cache
def _load(version: str) -> SupportTable:
    chain = _chain(version)
    merged = _merge(chain)
    data = _raw_tables()[version]
    name = f"trt-{version}.json"
    return _build(name, data, merged, tuple(v for v, _ in chain))


def _chain(version: str) -> list[tuple[str, Mapping[str, Any]]]:
    raw = _raw_tables()
    chain: list[tuple[str, Mapping[str, Any]]] = []
    seen: set[str] = set()
    current: str | None = version
    while current is not None:
        if current in seen:
            raise SupportTableError(f"trt-{version}.json: its base chain loops at {current}")
        if current not in raw:
            raise SupportTableError(f"trt-{chain[-1][0]}.json: base {current!r} has no table")
        seen.add(current)
        data = raw[current]
        chain.append((current, data))
        base = data.get("base")
        if base is not None and _key(base) >= _key(current):
            raise SupportTableError(f"trt-{current}.json: base {base} is not older")
        current = base
    return chain[::-1]


def _merge(chain: list[tuple[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """Apply the deltas of a chain to its complete base table: plain dicts, not validated yet."""
    version, base = chain[0]
    name = f"trt-{version}.json"
    missing = {"opset", "dtypes", "dispatch", "operators", "restrictions"} - set(base)
    if "base" in base or missing:
        raise SupportTableError(
            f"{name}: a complete table needs opset, dtypes, dispatch, operators and "
            f"restrictions (missing: {sorted(missing)})"
        )
    merged: dict[str, Any] = {
        "opset": dict(_mapping(name, "opset", base["opset"])),
        "dtypes": dict(_mapping(name, "dtypes", base["dtypes"])),
        "dispatch": dict(_mapping(name, "dispatch", base["dispatch"])),
        "operators": dict(_mapping(name, "operators", base["operators"])),
        "restrictions": {},
    }
    _add_restrictions(name, merged["restrictions"], base["restrictions"], replace=False)
    for version, data in chain[1:]:
        name = f"trt-{version}.json"
        extra = set(data) - _HEADER_KEYS - {"base", "changes"}
        if extra:
            raise SupportTableError(
                f"{name}: a delta has only a header, base and changes (found {sorted(extra)})"
            )
        changes = _mapping(name, "changes", data.get("changes", {}))
        unknown = set(changes) - _CHANGE_KEYS
        if unknown:
            raise SupportTableError(f"{name}: unknown change {sorted(unknown)}")
        merged["opset"].update(_mapping(name, "opset", changes.get("opset", {})))
        merged["dtypes"].update(_mapping(name, "dtypes", changes.get("dtypes", {})))
        merged["dispatch"].update(_mapping(name, "dispatch", changes.get("dispatch", {})))
        for op in changes.get("operators_remove", []):
            if op not in merged["operators"]:
                raise SupportTableError(f"{name}: cannot remove operator {op!r}: not in its base")
            del merged["operators"][op]
        merged["operators"].update(_mapping(name, "operators_set", changes.get("operators_set", {})))
        for rid in changes.get("restrictions_remove", []):
            if rid not in merged["restrictions"]:
                raise SupportTableError(f"{name}: cannot remove restriction {rid!r}: not in its base")
            del merged["restrictions"][rid]
        _add_restrictions(name, merged["restrictions"], changes.get("restrictions_add", []), replace=True)
    return merged


def _add_restrictions(name: str, into: dict[str, Any], items: Any, *, replace: bool) -> None:
    if not isinstance(items, list):
        raise SupportTableError(f"{name}: restrictions must be a list")
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise SupportTableError(f"{name}: every restriction needs a string id ({item!r:.80})")
        if item["id"] in into and not replace:
            raise SupportTableError(f"{name}: restriction id {item['id']!r} appears twice")
        into[item["id"]] = item


def _mapping(name: str, what: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise SupportTableError(f"{name}: {what} must be an object")
    return value


def _build(
    name: str, data: Mapping[str, Any], merged: Mapping[str, Any], chain: tuple[str, ...]
) -> SupportTable:
    if data.get("format") != FORMAT:
        raise SupportTableError(f"{name}: format must be {FORMAT}")
    covers = data.get("covers")
    if not isinstance(covers, list) or not covers or not all(isinstance(c, str) for c in covers):
        raise SupportTableError(f"{name}: covers must be a non-empty list of MAJOR.MINOR strings")
    source = _record(name, "source", Source, data.get("source"))
    opset = _record(name, "opset", OpsetRange, merged["opset"])
    if not 1 <= opset.min <= opset.max:
        raise SupportTableError(f"{name}: opset range {opset.min}..{opset.max} is not a range")
    dtypes = {}
    for type_name, entry in merged["dtypes"].items():
        dtype = _record(
            name, f"dtypes.{type_name}", DtypeSupport, {"name": type_name, **_mapping(name, "dtype", entry)}
        )
        if dtype.support not in SUPPORT_LEVELS:
            raise SupportTableError(
                f"{name}: dtypes.{type_name}.support {dtype.support!r} is not one of {SUPPORT_LEVELS}"
            )
        if (dtype.support == "narrowed") != (dtype.to is not None):
            raise SupportTableError(
                f"{name}: dtypes.{type_name}: 'to' is required exactly for narrowed types"
            )
        dtypes[type_name] = dtype
    by_op: dict[str, list[Restriction]] = {}
    for rid, item in merged["restrictions"].items():
        restriction = _restriction(name, rid, item)
        by_op.setdefault(restriction.op, []).append(restriction)
    operators = {}
    for op, entry in merged["operators"].items():
        entry = _mapping(name, f"operators.{op}", entry)
        record = _record(
            name,
            f"operators.{op}",
            OperatorEntry,
            {"name": op, **entry, "restrictions": tuple(by_op.pop(op, ()))},
        )
        if record.status not in STATUSES or record.origin not in ORIGINS:
            raise SupportTableError(
                f"{name}: operators.{op}: status {record.status!r} / origin {record.origin!r}"
            )
        if (record.origin == "tensorrt") != op.startswith("TRT_"):
            raise SupportTableError(f"{name}: operators.{op}: origin tensorrt is for TRT_ operators only")
        if (record.origin == "onnx-legacy") != (op in ONNX_LEGACY_OPERATORS):
            raise SupportTableError(
                f"{name}: operators.{op}: origin onnx-legacy is for {sorted(ONNX_LEGACY_OPERATORS)}"
            )
        if record.restrictions and not record.supported:
            raise SupportTableError(f"{name}: operators.{op} is unsupported but has restrictions")
        operators[op] = record
    if by_op:
        raise SupportTableError(f"{name}: restrictions for operators without an entry: {sorted(by_op)}")
    return SupportTable(
        version=str(data["version"]),
        covers=tuple(covers),
        source=source,
        chain=chain,
        opset=opset,
        dtypes=MappingProxyType(dtypes),
        dispatch=MappingProxyType(dict(merged["dispatch"])),
        operators=MappingProxyType(operators),
    )


def _restriction(name: str, rid: str, item: Mapping[str, Any]) -> Restriction:
    kind = item.get("kind")
    cls = KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise SupportTableError(
            f"{name}: restriction {rid}: unknown kind {kind!r} (known: {', '.join(KINDS)})"
        )
    values = {k: v for k, v in item.items() if k not in ("kind", "when")}
    when = item.get("when") or {}
    if not isinstance(when, dict) or set(when) - {"opset_min", "opset_max"}:
        raise SupportTableError(f"{name}: restriction {rid}: when may hold opset_min and opset_max only")
    values.update(when)
    restriction = _record(name, f"restriction {rid}", cls, values)
    expected = f"{restriction.op}/{kind}"
    if rid != expected and not rid.startswith(expected + "/"):
        raise SupportTableError(f"{name}: restriction id {rid!r} must start with {expected!r}")
    if restriction.effect not in EFFECTS:
        raise SupportTableError(
            f"{name}: restriction {rid}: effect {restriction.effect!r} is not one of {EFFECTS}"
        )
    problem = _check_kind(restriction)
    if problem:
        raise SupportTableError(f"{name}: restriction {rid}: {problem}")
    return restriction


def _check_kind(r: Restriction) -> str | None:
    if isinstance(r, InputConstant) and r.constant not in _CONSTANT_FORMS:
        return f"constant must be one of {_CONSTANT_FORMS}"
    if isinstance(r, AttributeInts) and r.check not in _INTS_CHECKS:
        return f"check must be one of {_INTS_CHECKS}"
    if isinstance(r, EinsumEquation) and (not r.forbid or set(r.forbid) - set(_EINSUM_FORMS)):
        return f"forbid must list some of {_EINSUM_FORMS}"
    if isinstance(r, (Dtype, AttributeDtype)) and (r.allowed is None) == (r.disallowed is None):
        return "give exactly one of allowed and disallowed"
    if isinstance(r, (AttributeValue, Rank, InputValue, AttributeRequires)) and not r.allowed:
        return "allowed must not be empty"
    if isinstance(r, Rank) and not all(isinstance(x, int) and 0 <= x <= 8 for x in r.allowed):
        return "ranks must be integers 0..8"
    for attr in ("attribute", "name"):
        if hasattr(r, attr) and not getattr(r, attr):
            return f"{attr} must not be empty"
    if r.opset_min is not None and r.opset_max is not None and r.opset_min > r.opset_max:
        return "opset_min is above opset_max"
    return None


_SIMPLE = {"str": str, "int": int, "bool": bool}


def _record(name: str, what: str, cls: type[_T], values: Any) -> _T:
    """Build dataclass ``cls`` from a JSON object, checking field names and simple types; lists become
    tuples and objects read-only mappings. A restriction kind's own fields are required unless typed
    ``... | None``; elsewhere a field with a default is optional."""
    if not isinstance(values, dict):
        raise SupportTableError(f"{name}: {what} must be an object")
    known = {f.name: f for f in fields(cast(Any, cls))}  # cls is always one of the dataclasses above
    unknown = set(values) - set(known)
    if unknown:
        raise SupportTableError(f"{name}: {what}: unknown field(s) {sorted(unknown)}")
    own = set(known) - _RESTRICTION_FIELDS if issubclass(cls, Restriction) else set()
    kwargs = {}
    for key, f in known.items():
        if key not in values:
            optional = str(f.type).endswith(" | None")
            if (key in own and not optional) or (f.default is MISSING and f.default_factory is MISSING):
                raise SupportTableError(f"{name}: {what}: missing field {key!r}")
            continue
        kwargs[key] = _convert(name, f"{what}.{key}", str(f.type), values[key])
    return cls(**kwargs)


def _convert(name: str, what: str, annotation: str, value: Any) -> Any:
    optional = annotation.endswith(" | None")
    base = annotation[: -len(" | None")] if optional else annotation
    if value is None:
        if optional or base == "Any":
            return None
        raise SupportTableError(f"{name}: {what} must not be null")
    if base in _SIMPLE:
        expected = _SIMPLE[base]
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise SupportTableError(f"{name}: {what} must be {base}, not {type(value).__name__}")
        return value
    if base.startswith("tuple["):
        if not isinstance(value, (list, tuple)):
            raise SupportTableError(f"{name}: {what} must be a list")
        item = base[len("tuple[") : -len(", ...]")]
        return tuple(_convert(name, f"{what}[]", item, v) for v in value)
    if base.startswith("Mapping["):
        if not isinstance(value, dict):
            raise SupportTableError(f"{name}: {what} must be an object")
        return MappingProxyType(dict(value))
    return value  # Any


def iter_tables() -> Iterator[SupportTable]:
    """Every table, resolved, oldest first (for tests and ``graphfix rules``)."""
    for version in available_versions():
        yield _load(version)
