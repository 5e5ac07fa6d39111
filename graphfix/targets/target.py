"""Which TensorRT version the GF5xx rules check: the one asked for, the installed one, or the newest table.

    target = resolve_target("8.6")        # Target(version="8.6", source="requested", table=<8.6 table>)
    target = resolve_target(None)         # the installed TensorRT's version, else the newest table

``--trt-version`` takes ``MAJOR`` (its newest table: ``10`` is 10.16), ``MAJOR.MINOR`` (``10.12``; ``11.3``
is checked with the 11.2 table, which covers 11.2-11.4) or a full version string (``10.13.0.35``). Without
it, the installed TensorRT's version is used when ``tensorrt`` imports (imported lazily, only then), and
the newest table otherwise. The summary line of ``graphfix lint`` names the version checked.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Literal

from graphfix.errors import UsageError
from graphfix.targets import SupportTable, available_versions, covered_versions, resolve

TargetSource = Literal["requested", "installed", "newest"]


@dataclass(frozen=True)
class Target:
    """The TensorRT version to check, and the support table that describes it."""

    version: str  # MAJOR.MINOR the user meant ("11.3"); the table may cover it from an older minor
    source: TargetSource
    table: SupportTable
    note: str = ""  # why this version was chosen, when it was not asked for

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    @property
    def minor(self) -> int:
        return int(self.version.split(".")[1])

    def describe(self) -> str:
        """``TensorRT 10.16 (the newest table; TensorRT is not installed)``."""
        text = f"TensorRT {self.version}"
        if self.table.version != self.version:
            text += f" (table {self.table.version})"
        return text + (f" ({self.note})" if self.note else "")


def _key(version: str) -> tuple[int, int]:
    major, _, minor = version.partition(".")
    return int(major), int(minor or 0)


def _major_minor(text: str, table: SupportTable) -> str:
    """What the user meant: ``"10"`` -> the table's version, ``"11.3.0.1"`` -> ``"11.3"``."""
    parts = text.strip().lower().removeprefix("tensorrt").removeprefix("trt").strip().split(".")
    if len(parts) < 2:
        return table.version
    return f"{int(parts[0])}.{int(parts[1])}"


def resolve_target(trt_version: str | None = None) -> Target:
    """The version the GF5xx rules check.

    Raises ``UsageError`` for a requested version without a table (the message lists the tables).
    """
    if trt_version is not None:
        table = resolve(str(trt_version))
        return Target(_major_minor(str(trt_version), table), "requested", table)
    installed = installed_tensorrt()
    if installed is not None:
        covered = covered_versions()
        wanted = f"{installed[0]}.{installed[1]}"
        if wanted in covered:
            return Target(wanted, "installed", resolve(wanted), f"the installed TensorRT {wanted}")
        older = [v for v in covered if _key(v) <= installed]
        if older:
            version = max(older, key=_key)
            return Target(version, "installed", resolve(version),
                          f"TensorRT {wanted} is installed and has no table; checked with the newest older one")
    newest = available_versions()[-1]
    return Target(newest, "newest", resolve(newest), "the newest table; TensorRT is not installed"
                  if installed is None else "the newest table")


@functools.lru_cache(maxsize=1)
def installed_tensorrt() -> tuple[int, int] | None:
    """The installed TensorRT's (major, minor), else None.

    Found without importing TensorRT where its package metadata says the version (pip wheels); only a
    TensorRT without metadata (JetPack's bindings) is imported, through the TensorRT status check.
    """
    import importlib.metadata
    import importlib.util

    from graphfix.deps import is_installed

    if not is_installed("tensorrt"):
        return None  # before importing the compile stage: lint without TensorRT never loads it
    from graphfix.compiling.backends.tensorrt.status import parse_version, tensorrt_status

    for distribution in _DISTRIBUTIONS:
        try:
            return parse_version(importlib.metadata.version(distribution))
        except Exception:  # noqa: BLE001 - not this distribution, or an unreadable version
            continue
    status = tensorrt_status()
    if status.version is None:
        return None
    try:
        return parse_version(status.version)
    except Exception:  # noqa: BLE001 - an unreadable version is treated as no TensorRT
        return None


# The pip distributions that install the ``tensorrt`` module.
_DISTRIBUTIONS = ("tensorrt", "tensorrt-cu13", "tensorrt-cu12", "tensorrt-cu11", "tensorrt-bindings")


def check_version_text(trt_version: str | None) -> str | None:
    """Validate ``trt_version`` early (before any model is read); returns it unchanged.

    Raises:
        UsageError: No support table covers it (the message lists the tables).
    """
    if trt_version is None:
        return None
    if not str(trt_version).strip():
        raise UsageError("trt_version needs a version, e.g. 8.6, 10, 10.12 or 11", parameters=("trt_version",))
    try:
        resolve(str(trt_version))
    except UsageError as error:
        raise UsageError(f"trt_version: {error}", parameters=("trt_version",)) from None
    return str(trt_version)


def target_for(ctx: Any) -> Target:
    """The target of a lint run (``ctx.options.trt_version``)."""
    return resolve_target(ctx.options.trt_version)  # cheap: tables and the installed version are cached
