"""Stages 4 to 6, plan / apply / validate: rewrite the model until no selected fix applies.

Takes a model and the user's options; repeats analyse -> lint -> apply (through the one
:class:`~graphfix.fixing.editor.Editor`) until nothing changes (10 rounds at most), then validates
(``onnx.checker``), verifies (:mod:`graphfix.verify`) and writes atomically (:mod:`graphfix.ir.saving`);
gives a :class:`FixResult`: the new model, what was applied, what remains, the verification.

Must never: modify the caller's model or file, mutate a graph anywhere but in the editor, or write a
model that fails verification unless the caller insists (``force=True``).
"""

from graphfix.fixing.editor import Editor
from graphfix.fixing.hooks import ReshapeHook
from graphfix.fixing.pipeline import MAX_ROUNDS, FixResult, fix, isolate_round, op_counts

__all__ = ["MAX_ROUNDS", "Editor", "FixResult", "ReshapeHook", "fix", "isolate_round", "op_counts"]
