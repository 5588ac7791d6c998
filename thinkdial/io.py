"""Base layer: input/output helpers every stage uses, one of each.

Warnings on stderr, stdout kept for a command's output (`stdout_to_stderr`), the YAML-mapping reader of
every config, the JSONL reader and writer, the atomic write behind every file thinkdial writes, the
prompt hash (a problem's identity: train/test split, reward groups) and the label of a difficulty level
(wandb metric names, results.json keys).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
from collections.abc import Iterable
from contextlib import contextmanager, redirect_stdout
from pathlib import Path

import yaml

from thinkdial.errors import UsageError


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


def read_yaml_mapping(path: str | Path, what: str) -> dict:
    """Return the top-level mapping of YAML file `path` ({} for an empty file); errors name `what`
    (e.g. 'data config') and the file, as a UsageError (missing, not UTF-8, invalid YAML, no mapping)."""
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"{what} not found: {file}")
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as err:
        raise UsageError(f"{what} {file}: not UTF-8 text (byte {err.start}): re-save it as UTF-8") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise UsageError(f"{what} {file}: invalid YAML{where}: {getattr(err, 'problem', err)}") from None
    if not isinstance(raw, dict):
        raise UsageError(f"{what} {file}: expected a mapping of keys at the top level")
    return raw


def read_jsonl(path: str | Path) -> list[tuple[int, dict]]:
    """Return (line number, object) for every non-blank line of JSONL file `path`.

    A line that is not UTF-8, not JSON or not a JSON object raises one UsageError naming the file, the
    line and the cause; a last line cut off mid-object (no final newline) is reported as a truncated file.
    """
    lines = Path(path).read_bytes().split(b"\n")
    rows = []
    for line_no, raw in enumerate(lines, 1):
        where = f"{path}:{line_no}"
        try:
            text = raw.decode("utf-8-sig" if line_no == 1 else "utf-8")
        except UnicodeDecodeError as err:
            raise UsageError(
                f"{where}: not UTF-8 text (byte 0x{raw[err.start]:02x} at column {err.start + 1}); "
                "re-save the file as UTF-8"
            ) from None
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as err:
            cut = " (the file ends mid-line: truncated?)" if line_no == len(lines) else ""
            raise UsageError(f"{where}: invalid JSON: {err.msg}: column {err.colno}{cut}") from None
        if not isinstance(row, dict):
            raise UsageError(f"{where}: expected a JSON object, got {type(row).__name__}")
        rows.append((line_no, row))
    return rows


def write_atomic(path: str | Path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` through a temporary file renamed over it, so a reader never sees a
    half-written file and a failed write leaves the old one; create the parent folders; return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def jsonl_text(rows: Iterable[dict]) -> str:
    """Return `rows` as JSONL text: one JSON object per line (non-ASCII characters kept as they are)."""
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def write_jsonl(path: str | Path, rows: Iterable[dict]) -> Path:
    """Write `rows` as JSONL (`jsonl_text`, UTF-8) to `path` atomically; return the path."""
    return write_atomic(path, jsonl_text(rows))


def prompt_hash(prompt) -> str:
    """Return the sha256 hex digest (64 digits) of a prompt: its text, or its chat messages as sorted-key JSON
    (every key of every message counts). Equal prompts hash equal on every process and machine."""
    text = prompt if isinstance(prompt, str) else json.dumps(prompt, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def level_label(difficulty) -> str | None:
    """Return the label of a difficulty level: '3' for an integer level, the shortest form of a float
    ('0.25', up to 6 significant digits), None when absent (None, a bool, NaN or infinite)."""
    if difficulty is None or isinstance(difficulty, bool):
        return None
    value = float(difficulty)
    if not math.isfinite(value):
        return None
    return str(int(value)) if value.is_integer() else f"{value:g}"
