"""Build difficulty-tagged rows (docs/design.md, "The data row") from any configured source.

Row fields: prompt, answer, difficulty, source, and where known reasoning, min_reasoning_tokens,
budget and effort (the dial, data/dial.py: its control text is rendered into `prompt`).
Every user-caused failure (missing column, empty file, non-integer level, a prompt that is no text)
raises one UsageError naming the file, the row and the column, before anything is written. A row is
named by its place in the file: `FILE:LINE` for JSONL (the line number, blank lines counted), `FILE: row
N` for csv, parquet, json and hub splits (N counts the data rows from 1; a csv's header is no row), and
`SOURCE SPLIT row N` for synthetic rows (the line of `thinkdial data --out`).
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from thinkdial.data.completion import THINK_CLOSE, THINK_OPEN
from thinkdial.data.config import ADAPTERS, DataConfig
from thinkdial.data.dial import DialConfig, apply_dial, fill_effort_budget, parse_budget, parse_effort
from thinkdial.data.synthetic import FAMILIES, make_problem, render_answer, render_reasoning
from thinkdial.errors import UsageError
from thinkdial.io import prompt_hash, read_jsonl, warn

DEFAULT_SYSTEM_PROMPT = (
    f"Think step by step inside {THINK_OPEN} {THINK_CLOSE}, as briefly as the problem allows, then give only "
    "the final answer. Put a math answer in \\boxed{}."
)
_HASH_BUCKETS = 10_000


def in_test_split(prompt, test_fraction: float) -> bool:
    """Return True when the problem's content hash falls in the test share of the hash space."""
    return int(prompt_hash(prompt)[:12], 16) % _HASH_BUCKETS < test_fraction * _HASH_BUCKETS


def _split_rng(cfg: DataConfig, split: str) -> random.Random:
    return random.Random(f"{cfg.source}:{cfg.seed}:{split}")


# Row fields read from a file source under their own names; `columns` only renames.
CANONICAL_COLUMNS = (
    "prompt",
    "answer",
    "difficulty",
    "reasoning",
    "min_reasoning_tokens",
    "budget",
    "effort",
)


def _style_of(cfg: DataConfig, level, rng: random.Random, default: str, fits=None) -> str:
    """Return a reasoning style drawn from the level's mixture (`reasoning_styles_by_level`, else
    `reasoning_styles`, else `default`); with `fits`, among the chains it accepts, or 'direct' when it accepts
    none."""
    mixture = (cfg.reasoning_styles_by_level or {}).get(level) or cfg.reasoning_styles or {default: 1.0}
    if fits is not None:
        chains = {
            style: w
            for style, w in {**mixture, "lastdirect": 1.0}.items()
            if style != "direct" and fits(style)
        }
        mixture = chains or {"direct": 1.0}
    return rng.choices(list(mixture), weights=list(mixture.values()))[0]


def _budget_fit(problem, budget: int | None):
    """Return None without a budget, else the test of a style for a row with that budget: its trace ends on the
    gold answer and fits the budget (synthetic traces are one token per character under the embedded
    tokenizer). A budget row shows what obeying looks like: a chain that fits (still drawn from the level's
    mixture: verbose where verbose fits), else the chain without its last value when that fits (the last
    step answered directly), else a direct answer."""
    if budget is None:
        return None
    if len(render_reasoning(problem, "minimal")) > budget >= len(render_reasoning(problem, "lastdirect")):
        return lambda style: style == "lastdirect"
    return lambda style: (
        style not in ("giveup", "lastdirect") and len(render_reasoning(problem, style)) <= budget
    )


def _synthetic_rows(cfg: DataConfig, split: str) -> list[dict]:
    want_test = split == "test"
    rng = _split_rng(cfg, split)
    style_rng = random.Random(f"styles:{cfg.seed}")
    if want_test:
        plan = [lv for lv in cfg.levels for _ in range(cfg.test_rows_per_level)]
    else:
        weights = cfg.level_weights or [1.0] * len(cfg.levels)
        plan = rng.choices(cfg.levels, weights=weights, k=cfg.train_rows)
    rows, seen = [], set()
    for level in plan:
        for _ in range(10_000):
            problem = make_problem(cfg.source, rng, level)
            if in_test_split(problem.prompt, cfg.test_fraction) == want_test and (
                not want_test or problem.prompt not in seen
            ):
                break
        else:
            raise UsageError(f"{cfg.source}: could not draw a {split} problem at level {level}")
        seen.add(problem.prompt)
        budget, effort = (
            cfg.dial.draw(f"{cfg.seed}:{prompt_hash(problem.prompt)}", level)
            if cfg.dial and not want_test
            else (None, None)
        )  # the same draw as build_rows' apply_dial: it keeps these
        fits = _budget_fit(problem, budget)
        style = "minimal" if want_test else _style_of(cfg, level, style_rng, "minimal", fits)
        row = {
            "prompt": problem.prompt,
            "answer": problem.answer,
            "difficulty": level,
            "source": cfg.source,
            "reasoning": render_reasoning(problem, style),
            "reasoning_style": style,
            "min_reasoning_tokens": level,
        }
        target = render_answer(problem, style, style_rng)
        if target != problem.answer:
            row["target_answer"] = target  # the SFT target guesses (giveup style)
        if budget is not None or effort is not None:
            row["budget"], row["effort"] = budget, effort
        rows.append(row)
    return rows


_CALC = re.compile(r"<<[^>]*>>")


def _gsm8k_row(raw: dict) -> dict:
    solution = str(raw["answer"])
    if "####" not in solution:
        raise UsageError("no '#### <answer>' line in column 'answer'")
    steps_text, final = solution.rsplit("####", 1)
    steps = [line for line in steps_text.strip().splitlines() if line.strip()]
    return {
        "prompt": raw["question"],
        "answer": final.strip().replace(",", ""),
        "difficulty": max(1, len(steps)),
        "reasoning": _CALC.sub("", "\n".join(steps)),
    }


def _math_row(raw: dict) -> dict:
    return {
        "prompt": raw["problem"],
        "answer": raw["answer"],
        "difficulty": raw["level"],
        "reasoning": raw.get("solution"),
        "subject": raw.get("subject", ""),
    }


def _aime_row(raw: dict) -> dict:
    return {  # AIME has no level column: every problem is level 1
        "prompt": raw["problem"],
        "answer": raw["answer"],
        "difficulty": 1,
        "reasoning": raw.get("solution"),
    }


ADAPTER_COLUMNS = {
    "gsm8k": ("question", "answer"),
    "math": ("problem", "answer", "level", "solution"),
    "aime": ("problem", "answer"),
    "deepscaler": ("problem", "answer"),
}
ADAPTER_FILES = {
    "gsm8k": {"train": "train.jsonl", "test": "test.jsonl"},
    "math": {"test": "test.jsonl"},
    "aime": {"test": "test.jsonl"},
    "deepscaler": {"train": "train.jsonl"},
}
# DeepScaleR-Preview-Dataset's rows have AIME's columns (problem, answer, solution) and no level either
ADAPTER_ROWS = {"gsm8k": _gsm8k_row, "math": _math_row, "aime": _aime_row, "deepscaler": _aime_row}


def _resolve_file(cfg: DataConfig, split: str) -> Path | str:
    path = Path(cfg.path)
    splits = cfg.splits or ADAPTER_FILES.get(cfg.source, {})
    if path.is_dir():
        if split not in splits:
            raise UsageError(f"{cfg.path}: no file for split {split!r}; set `splits: {{{split}: FILE}}`")
        path = path / splits[split]
    if not path.exists():
        raise UsageError(f"data file not found: {path}")
    return path


def _load_records(cfg: DataConfig, split: str) -> tuple[str, list[dict], list[str]]:
    """Return (where, raw records, each record's place as errors name it) of `split` from the local `path`
    when there is one, else from `hub`; a file that cannot be read raises one UsageError naming it and the
    cause (for JSONL, also the line)."""
    if cfg.path is None:
        where, records = _load_hub(cfg, split)
        return where, records, [f"{where}: row {n}" for n in range(1, len(records) + 1)]
    file = _resolve_file(cfg, split)
    if file.stat().st_size == 0:
        raise UsageError(f"{file}: the file is empty")
    kind = "jsonl" if cfg.source in ADAPTERS else cfg.source
    if kind == "jsonl":
        numbered = read_jsonl(file)
        records, places = [row for _, row in numbered], [f"{file}:{line}" for line, _ in numbered]
    else:
        records = _read_table(file, kind)
        places = [f"{file}: row {n}" for n in range(1, len(records) + 1)]
    if not records:
        raise UsageError(f"{file}: the file has no rows")
    return str(file), records, places


def row_place(cfg: DataConfig, split: str, index: int) -> str:
    """Return how errors name row `index` (from 0) of `build_rows(cfg, split)` without a limit: its file
    and line, its file and row, or its synthetic row (the module docstring). Reads the file again: for the
    way to an error."""
    if cfg.source in FAMILIES:
        return f"{cfg.source} {split} row {index + 1}"
    return _load_records(cfg, split)[2][index]


def prompt_place(cfg: DataConfig, split: str, prompt) -> str:
    """Return the place (`row_place`) of the first row of `build_rows(cfg, split)` whose prompt is `prompt`
    (as rendered, control text included), for a row a later stage refuses after dropping or holding out
    others; builds the rows again: for the way to an error."""
    rows = build_rows(cfg, split)
    index = next((i for i, row in enumerate(rows) if row["prompt"] == prompt), None)
    return f"a row of the {cfg.source} {split} split" if index is None else row_place(cfg, split, index)


def _load_hub(cfg: DataConfig, split: str) -> tuple[str, list[dict]]:
    """Return (where, raw records) of `split` of the hub dataset `cfg.hub` (configuration `cfg.hub_config`)."""
    import datasets

    if cfg.source in ADAPTERS and split not in ADAPTER_FILES[cfg.source]:
        raise UsageError(f"{cfg.hub}: the {cfg.source} adapter has no {split!r} split")
    name = cfg.splits.get(split, split)
    datasets.disable_progress_bars()
    try:
        ds = datasets.load_dataset(cfg.hub, cfg.hub_config, split=name)
    except Exception as err:
        raise UsageError(
            f"{cfg.hub}: cannot load split {name!r} from the Hugging Face hub ({_root_cause(err)}); "
            "offline, point `path` at a local copy (configs/data/*.yaml read $THINKDIAL_DATA_DIR)"
        ) from None
    return f"{cfg.hub}[{name}]", ds.to_list()


def _read_table(file: Path, kind: str) -> list[dict]:
    """Return the rows of a json / csv / parquet file read by `datasets`; its errors become one UsageError
    naming the file and the underlying cause (datasets wraps them in its own error types)."""
    import datasets

    datasets.disable_progress_bars()
    verbosity = datasets.logging.get_verbosity()
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)  # the UsageError below says it, once
    try:
        return datasets.load_dataset(kind, data_files=str(file), split="train").to_list()
    except Exception as err:
        raise UsageError(f"{file}: cannot read as {kind}: {_root_cause(err)}") from None
    finally:
        datasets.logging.set_verbosity(verbosity)


def _root_cause(err: BaseException) -> str:
    """Return the innermost exception under `err` as text ('not UTF-8 text' for a decoding error)."""
    while err.__cause__ or err.__context__:
        err = err.__cause__ or err.__context__
    if isinstance(err, UnicodeDecodeError):
        return f"not UTF-8 text (byte 0x{err.object[err.start]:02x}); re-save the file as UTF-8"
    return f"{type(err).__name__}: {err}"


def _as_level(value, place: str, column: str) -> int | float:
    if isinstance(value, bool) or value is None:
        raise UsageError(f"{place}: column {column!r}: difficulty must be an integer level, got {value!r}")
    if isinstance(value, float) and 0.0 <= value <= 1.0 and not value.is_integer():
        return value  # estimated difficulty in [0, 1]
    try:
        level = int(str(value).strip().removeprefix("Level ").strip())
    except ValueError:
        raise UsageError(
            f"{place}: column {column!r}: difficulty must be an integer level, got {value!r}"
        ) from None
    if float(str(value).strip().removeprefix("Level ")) != level or level < 1:
        raise UsageError(f"{place}: column {column!r}: difficulty must be an integer >= 1, got {value!r}")
    return level


def is_chat(value) -> bool:
    """Return whether `value` is chat messages: a non-empty list of mappings with a text `role` and `content`."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
            for m in value
        )
    )


def _check_row_types(row: dict, place: str, columns: dict) -> None:
    """Raise a UsageError naming the row's place and column unless its prompt is text or chat messages, its
    reasoning text and its min_reasoning_tokens a number: a datasets column cannot mix types (training
    would stop in pyarrow), and the model reads text."""
    prompt, reasoning, need = row["prompt"], row.get("reasoning"), row.get("min_reasoning_tokens")
    problems = {
        "prompt": not (isinstance(prompt, str) and prompt.strip()) and not is_chat(prompt),
        "reasoning": reasoning is not None and not isinstance(reasoning, str),
        "min_reasoning_tokens": need is not None
        and (isinstance(need, bool) or not isinstance(need, (int, float)) or not 0 <= need < float("inf")),
    }
    expected = {
        "prompt": "non-empty text or chat messages",
        "reasoning": "text",
        "min_reasoning_tokens": "a number of tokens >= 0",
    }
    for field, bad in problems.items():
        if bad:
            raise UsageError(
                f"{place}: column {columns.get(field, field)!r}: {field} must be {expected[field]}, "
                f"got {row[field]!r:.60}"
            )


def _file_rows(cfg: DataConfig, split: str) -> tuple[list[dict], list[str]]:
    """Return the rows of a file or hub source and each row's place (as errors name it)."""
    where, records, places = _load_records(cfg, split)
    present = set().union(*records)  # JSONL rows may each hold a different subset of the columns
    if cfg.source in ADAPTERS:
        needed = {c: c for c in ADAPTER_COLUMNS[cfg.source]}
        convert = ADAPTER_ROWS[cfg.source]
        difficulty_column = "answer" if cfg.source == "gsm8k" else "level"
    else:
        mapping = {
            **{c: c for c in CANONICAL_COLUMNS if c in present},
            "prompt": "prompt",
            "answer": "answer",
            **cfg.columns,
        }
        needed = {field: col for field, col in mapping.items()}
        difficulty_column = mapping.get("difficulty")
        if difficulty_column is None:
            warn(
                f"{where}: no difficulty column: every row "
                "is level 1, so per-level metrics and rewards see one level; name it `difficulty` or map one with "
                "`columns: {difficulty: YOUR_COLUMN}`"
            )

        def convert(raw):
            row = {field: raw[col] for field, col in mapping.items() if col in raw}
            if difficulty_column is None:
                row["difficulty"], row["difficulty_missing"] = 1, True
            return row

    required = {
        needed[f] for f in ("prompt", "answer", "difficulty", "question", "problem", "level") if f in needed
    }
    missing = sorted(
        col
        for field, col in needed.items()
        if col not in present
        and field in ("prompt", "answer", "difficulty", "question", "problem", "level", "solution")
    )
    if missing:
        raise UsageError(f"{where}: missing column(s) {missing}; columns present: {sorted(present)}")
    rows = []
    for place, raw in zip(places, records, strict=True):
        for col in needed.values():
            if col in required and raw.get(col) is None:
                raise UsageError(f"{place}: column {col!r} is empty")
        try:
            row = convert(raw)
        except ValueError as err:
            raise UsageError(f"{place}: {err}") from None
        _check_row_types(row, place, needed)
        row["difficulty"] = _as_level(row["difficulty"], place, difficulty_column or "difficulty")
        _check_dial_columns(row, place, needed, cfg.dial)
        row["answer"] = str(row["answer"])
        row["source"] = cfg.source if cfg.source != "hub" else cfg.hub
        rows.append(row)
    return rows, places


def _check_dial_columns(row: dict, place: str, columns: dict, dial: DialConfig | None) -> None:
    """Normalise a file row's `budget` / `effort` in place (an effort alone gets its tier's budget); a bad
    value raises naming the row's place and the column."""
    for name, parse in (("budget", parse_budget), ("effort", parse_effort)):
        if name in row:
            row[name] = parse(row[name], f"{place}: column {columns.get(name, name)!r}")
    fill_effort_budget(row, dial, place)


def format_prompt(text: str, prompt_format: str, system_prompt: str | None = None):
    """Return the TRL prompt for `text`: the text itself ('plain') or system + user messages ('chat', with
    `system_prompt` or DEFAULT_SYSTEM_PROMPT)."""
    if prompt_format == "plain":
        return text
    return [
        {"role": "system", "content": system_prompt or DEFAULT_SYSTEM_PROMPT},
        {"role": "user", "content": text},
    ]


def build_rows(cfg: DataConfig, split: str, limit: int | None = None) -> list[dict]:
    """Return the rows of `split` ('train' or 'test') for `cfg`, at most `limit` of them."""
    if split not in ("train", "test"):
        raise UsageError(f"split must be 'train' or 'test', got {split!r}")
    rows, places = (_synthetic_rows(cfg, split), None) if cfg.source in FAMILIES else _file_rows(cfg, split)
    if cfg.source not in FAMILIES:
        style_rng = random.Random(f"styles:{cfg.seed}")
        for row, place in zip(rows, places, strict=True):
            row["prompt"] = format_prompt(row["prompt"], cfg.prompt_format, cfg.system_prompt)
            if split == "train" and cfg.reasoning_styles:
                _apply_file_style(row, _style_of(cfg, row["difficulty"], style_rng, "given"), place)
    if limit is not None:
        if limit < 1:
            raise UsageError(f"limit must be >= 1, got {limit}")
        rows = (
            rows[:limit] if cfg.source not in FAMILIES or split == "train" else _per_level_limit(rows, limit)
        )
    if not rows:
        raise UsageError(f"{cfg.source}: the {split} split is empty")
    seeds = (
        [f"{cfg.seed}:{prompt_hash(r['prompt'])}" for r in rows] if split == "train" and cfg.dial else None
    )
    if places is None:  # synthetic rows, numbered as `thinkdial data --out` writes them
        places = [f"{cfg.source} {split} row {n}" for n in range(1, len(rows) + 1)]
    apply_dial(rows, cfg.dial, seeds, places[: len(rows)])  # file rows: a limit keeps the first ones
    return rows


def _apply_file_style(row: dict, style: str, place: str) -> None:
    """Set `row`'s SFT reasoning for `style`: 'given' keeps the row's own, 'direct' empties it."""
    if style == "direct":
        row["reasoning"] = ""
    elif row.get("reasoning") is None:
        raise UsageError(
            f"{place}: reasoning style 'given' needs a `reasoning` column "
            "(map one with `columns: {reasoning: YOUR_COLUMN}`)"
        )
    row["reasoning_style"] = style


def _per_level_limit(rows: list[dict], limit: int) -> list[dict]:
    """Keep the first rows of each level, round-robin, so a limited test split still spans every level."""
    by_level: dict = {}
    for row in rows:
        by_level.setdefault(row["difficulty"], []).append(row)
    out, i = [], 0
    while len(out) < limit and any(i < len(v) for v in by_level.values()):
        out.extend(v[i] for v in by_level.values() if i < len(v) and len(out) < limit)
        i += 1
    return out


def build_dataset(cfg: DataConfig, split: str, limit: int | None = None):
    """Return the rows of `split` as a `datasets.Dataset` (TRL's input)."""
    import datasets

    return datasets.Dataset.from_list(build_rows(cfg, split, limit))
