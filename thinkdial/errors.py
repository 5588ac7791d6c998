"""Base layer: the one exception class for the user's mistakes.

A `UsageError` is raised for what the user can fix (an unknown recipe key, a missing file, a value out
of range, data the model cannot take) and is raised before any model loads. The CLI prints it as one
line and exits 2; any other exception is a bug or an environment failure and keeps its traceback
(exit 1).
"""

from __future__ import annotations


class UsageError(ValueError):
    """The user's mistake, with the fix in the message: `thinkdial` prints one line and exits 2.

    A ValueError subclass, so callers (and tests) that catch ValueError keep working.
    """
