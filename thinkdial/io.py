"""Base layer: input/output helpers every stage may use (warnings on stderr, stdout kept for output)."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager, redirect_stdout


def warn(message: str) -> None:
    """Print `thinkdial: warning: MESSAGE` on stderr (stdout carries only a command's output); return None."""
    print(f"thinkdial: warning: {message}", file=sys.stderr, flush=True)


@contextmanager
def stdout_to_stderr():
    """Send everything written to stdout inside the block to stderr: Python prints, C-level writes and child
    processes (file descriptor 1 points at stderr meanwhile); yields None. Libraries' banners and logs
    (transformers' `[INFO] Running in WANDB offline mode`, the Trainer's log dicts) then never mix with a
    command's output."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        with redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
