"""Base layer: input/output helpers every stage uses, one of each: warnings on stderr, the YAML-mapping
reader of every config."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml


def warn(message: str) -> None:
    """Print `thinkdial: warning: MESSAGE` on stderr (stdout carries only a command's output); return None."""
    print(f"thinkdial: warning: {message}", file=sys.stderr, flush=True)


def read_yaml_mapping(path: str | Path, what: str) -> dict:
    """Return the top-level mapping of YAML file `path` ({} for an empty file); errors name `what`
    (e.g. 'data config') and the file: FileNotFoundError when it is missing, ValueError otherwise."""
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"{what} not found: {file}")
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as err:
        raise ValueError(f"{what} {file}: not UTF-8 text (byte {err.start}): re-save it as UTF-8") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ValueError(f"{what} {file}: invalid YAML{where}: {getattr(err, 'problem', err)}") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{what} {file}: expected a mapping of keys at the top level")
    return raw
