"""Reference implementations of the test models' custom ops, as a user's ``--custom-ops`` file.

Every top-level function named like a custom op of the model is registered for it: inputs as numpy
arrays in order, attributes as keyword arguments.
"""

import json

import numpy as np
from numpy import clip  # noqa: F401 - an imported function: never registered


def HSwish(x, bias, info):  # noqa: N802 - the op's name
    """The seed's HSwish: x * relu6(x + 3) / 6 (bias and info unused, as in the seed's kernel)."""
    json.loads(info)  # the configuration arrives as the node's string
    return x * np.clip(x + 3, 0, 6) / 6


def UpsampleAdd(x, skip, scale, gain):  # noqa: N802
    """Nearest upsampling of x by the INT attribute scale, times gain, plus skip."""
    return (np.repeat(np.repeat(x, scale, axis=2), scale, axis=3) * gain + skip).astype(x.dtype)


def UpsampleAdd_shape(x, skip, scale, gain):  # noqa: N802 - <Op>_shape: UpsampleAdd's shape function
    return (x[0], x[1], x[2] * scale, x[3] * scale)


def helper(x):
    """Not an op of the model: not registered when the model is given."""
    return x
