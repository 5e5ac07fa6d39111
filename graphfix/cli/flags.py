"""The CLI's names for the library's parameters.

Library errors speak of parameters (``input_shapes``, ``verify=False``) and list the spellings they use
(``GraphfixError.parameters``); the CLI prints them with its flags instead (``--input-shape``,
``--no-verify``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

FLAGS: dict[str, str] = {
    "input_shapes": "--input-shape",
    "input_ranges": "--input-range",
    "reshape": "--reshape",
    "verify=False": "--no-verify",
    "force=True": "--force",
    "in_place=True": "--in-place",
    "dynamic_batch=True": "--dynamic-batch",
    "unsafe_fixes=True": "--unsafe-fixes",
    "backend": "--backend",
    "opt_batch": "--opt-batch",
    "max_batch": "--max-batch",
    "optimization_level": "--opt-level",
    "workspace_bytes": "--workspace",
    "calib_data": "--calib-data",
    "trt_version": "--trt-version",
    "atol": "--atol",
    "rtol": "--rtol",
}


def speak(text: str, parameters: Sequence[str]) -> str:
    """``text`` with each of ``parameters`` (library spellings it uses) replaced by its CLI flag."""
    for parameter in parameters:
        flag = FLAGS.get(parameter)
        if flag is not None:
            text = re.sub(rf"(?<![\w-]){re.escape(parameter)}(?![\w=])", flag, text)
    return text
