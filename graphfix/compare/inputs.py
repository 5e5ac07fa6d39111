"""The inputs of a comparison: seeded random data per batch size, from Polygraphy's DataLoader.

Every comparison in graphfix (fix verification, precision checks, engine comparisons) draws its inputs
here, so the same model at the same batch and seed always sees the same data: batch ``b`` uses seed
``seed + b``. Integer inputs get valid values through ``ranges`` (token ids below the table they index,
0/1 masks: :func:`graphfix.verify.integer_ranges`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from graphfix.deps import require


@dataclass(frozen=True)
class Inputs:
    """Input shapes per batch size, the inputs' dtypes and value ranges, and the seed."""

    shapes: Mapping[int, Mapping[str, tuple[int, ...]]]  # {batch: {input name: shape}}
    dtypes: Mapping[str, np.dtype]
    ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    seed: int = 0

    @property
    def batches(self) -> list[int]:
        return list(self.shapes)

    def feeds(self) -> dict[int, dict[str, np.ndarray]]:
        """``{batch: {input name: array}}``, the same for the same shapes, dtypes, ranges and seed.

        Raises:
            MissingDependencyError: Polygraphy is not installed.
            Exception: Polygraphy cannot make data for an input (strings, for instance).
        """
        comparator = require("polygraphy.comparator", "comparing outputs")
        common = require("polygraphy.common", "comparing outputs")
        feeds: dict[int, dict[str, np.ndarray]] = {}
        for batch, shapes in self.shapes.items():
            metadata = common.TensorMetadata()
            for name, shape in shapes.items():
                metadata.add(name, self.dtypes[name], tuple(shape))
            loader = comparator.DataLoader(
                seed=self.seed + batch, iterations=1, input_metadata=metadata,
                val_range={name: self.ranges[name] for name in shapes if name in self.ranges} or None)
            feeds[batch] = {name: np.asarray(value) for name, value in loader[0].items()}
        return feeds
