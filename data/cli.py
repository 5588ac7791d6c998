"""`thinkdial data`: build a split of rows, write it as JSONL, print per-level statistics."""

from __future__ import annotations

from collections import defaultdict

from thinkdial.data.config import load_data_config
from thinkdial.data.sources import build_rows
from thinkdial.io import write_jsonl


def register(subparsers) -> None:
    """Add the `data` subcommand."""
    p = subparsers.add_parser("data", help="build difficulty-tagged rows from a data config")
    p.add_argument("--config", required=True, help="data config YAML (e.g. configs/tiny/data.yaml)")
    p.add_argument("--split", choices=("train", "test"), default="train")
    p.add_argument("--limit", type=int, default=None, help="at most this many rows")
    p.add_argument("--out", default=None, help="write rows to this JSONL file (atomically)")
    p.add_argument("--stats", action="store_true", help="print rows and mean min_reasoning_tokens per level")
    p.set_defaults(func=run)


def level_stats(rows: list[dict]) -> dict:
    """Return {level: {"rows": n, "min_reasoning_tokens_mean": mean or None}} sorted by level."""
    groups = defaultdict(list)
    for row in rows:
        groups[row["difficulty"]].append(row.get("min_reasoning_tokens"))
    stats = {}
    for level in sorted(groups):
        known = [v for v in groups[level] if v is not None]
        stats[level] = {
            "rows": len(groups[level]),
            "min_reasoning_tokens_mean": sum(known) / len(known) if known else None,
        }
    return stats


def run(args) -> int:
    """Build the split; write and/or summarise it; return 0."""
    rows = build_rows(load_data_config(args.config), args.split, args.limit)
    if args.out:
        print(f"wrote {len(rows)} {args.split} rows to {write_jsonl(args.out, rows)}")
    if args.stats or not args.out:
        print(f"{'level':>6} {'rows':>7} {'min_reasoning_tokens_mean':>26}")
        for level, s in level_stats(rows).items():
            m = s["min_reasoning_tokens_mean"]
            shown = "-" if m is None else f"{m:.2f}"
            print(f"{level:>6} {s['rows']:>7} {shown:>26}")
        if any(row.get("difficulty_missing") for row in rows):
            print("note: the source has no difficulty column; every row is level 1 (see the warning above)")
    return 0
