"""Base layer: input/output helpers every stage may use (warnings on stderr, ...)."""

from __future__ import annotations

import sys


def warn(message: str) -> None:
    """Print `thinkdial: warning: MESSAGE` on stderr (stdout carries only a command's output); return None."""
    print(f"thinkdial: warning: {message}", file=sys.stderr, flush=True)
