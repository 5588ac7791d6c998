"""Cell and table formatting shared by report.md and the stdout summary."""

from __future__ import annotations


def fmt(value, digits: int = 3) -> str:
    """Return a table cell: '-' for None, floats with `digits` decimals, anything else as str."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def md_table(header: list[str], rows: list[list[str]]) -> str:
    """Return a markdown table with `header` and `rows` (lists of cells)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
