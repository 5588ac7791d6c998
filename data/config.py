"""Data config: where rows come from, how many, and which difficulty levels (YAML-loadable)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path

from thinkdial.data.dial import DialConfig, dial_config
from thinkdial.data.synthetic import FAMILIES, MAX_LEVEL, STYLES
from thinkdial.errors import UsageError
from thinkdial.io import read_yaml_mapping

FILE_FORMATS = (
    "jsonl",
    "json",
    "parquet",
    "csv",
)  # local files read as they are, columns renamed by `columns`
FILE_STYLES = (
    "given",
    "direct",
)  # reasoning styles of file / adapter sources: the row's own reasoning, or none
ADAPTERS = ("gsm8k", "math", "aime", "deepscaler")
SOURCES = tuple(FAMILIES) + ADAPTERS + FILE_FORMATS + ("hub",)


@dataclass
class DataConfig:
    """One data source with its split and size settings. Unknown keys are refused."""

    source: str = field(
        metadata={"help": f"One of {SOURCES}: a synthetic family, a ready adapter, or a file/hub source."}
    )
    path: str | None = field(
        default=None,
        metadata={
            "help": "Local file or folder (file sources, adapters). Relative paths resolve against the config file; "
            "${NAME} is the environment variable NAME, and a path naming an unset one is dropped, so the "
            "source falls back to `hub` (e.g. path: ${THINKDIAL_DATA_DIR}/gsm8k). A path wins over `hub`."
        },
    )
    hub: str | None = field(
        default=None,
        metadata={
            "help": "Hugging Face dataset id (adapters and source 'hub'), read when there is no `path`, e.g. "
            "openai/gsm8k."
        },
    )
    hub_config: str | None = field(
        default=None,
        metadata={"help": "Configuration name of the `hub` dataset, e.g. main for openai/gsm8k."},
    )
    splits: dict[str, str] = field(
        default_factory=dict,
        metadata={
            "help": "Split name -> file (relative to `path`) or hub split name, e.g. {train: train.jsonl}."
        },
    )
    columns: dict[str, str] = field(
        default_factory=dict,
        metadata={
            "help": "Row field -> source column, for file/hub sources, e.g. {prompt: question, difficulty: level}."
        },
    )
    prompt_format: str = field(
        default="plain",
        metadata={
            "help": "'plain' (prompt is the raw text) or 'chat' (system + user messages; the chat template renders it)."
        },
    )
    system_prompt: str | None = field(
        default=None, metadata={"help": "System message for prompt_format=chat."}
    )
    seed: int = field(default=0, metadata={"help": "Seed of synthetic generation and of row sampling."})
    levels: list[int] = field(
        default_factory=lambda: list(range(1, MAX_LEVEL + 1)),
        metadata={"help": "Difficulty levels to generate (synthetic families)."},
    )
    train_rows: int = field(default=20000, metadata={"help": "Rows in the synthetic train split."})
    test_rows_per_level: int = field(
        default=200, metadata={"help": "Held-out rows per level (synthetic test split)."}
    )
    level_weights: list[float] | None = field(
        default=None,
        metadata={
            "help": "Sampling weight of each entry of `levels` in the synthetic train split (default: uniform)."
        },
    )
    reasoning_styles: dict[str, float] | None = field(
        default=None,
        metadata={
            "help": f"Train split: mixture over reasoning styles used to render the `reasoning` column (the SFT "
            f"target), drawn per row. Synthetic families: {STYLES} (default: minimal only). File and adapter "
            f"sources: {FILE_STYLES} ('given' = the row's own reasoning, 'direct' = empty; default: given only), "
            "so a start learns the don't-think mode from a user's own data."
        },
    )
    reasoning_styles_by_level: dict[int, dict[str, float]] | None = field(
        default=None,
        metadata={
            "help": "Per-level mixtures that replace `reasoning_styles` at the levels they name, e.g. "
            "{8: {giveup: 0.4, minimal: 0.2, verbose: 0.4}} (synthetic families)."
        },
    )
    test_fraction: float = field(
        default=0.1,
        metadata={
            "help": "Share of the problem-hash space reserved for the test split (synthetic families)."
        },
    )
    dial: DialConfig | None = field(
        default=None,
        metadata={
            "help": "Thinking budgets / effort levels of the train rows (data/dial.py `DialConfig`), e.g. "
            "{budget_tokens_min: 2, budget_tokens_max: 32, no_budget_share: 0.2, effort_share: 0.3, "
            "effort_budgets: {low: 4, medium: 8, high: 16}}. None: rows keep only their own columns."
        },
    )

    def __post_init__(self):
        self.dial = dial_config(self.dial)
        if self.source not in SOURCES:
            raise UsageError(f"data config: unknown source {self.source!r}; choices: {', '.join(SOURCES)}")
        self._check_location()
        if self.prompt_format not in ("plain", "chat"):
            raise UsageError(
                f"data config: prompt_format must be 'plain' or 'chat', got {self.prompt_format!r}"
            )
        bad = [lv for lv in self.levels if not isinstance(lv, int) or not 1 <= lv <= MAX_LEVEL]
        if self.source in FAMILIES and bad:
            raise UsageError(f"data config: levels {bad} out of range; synthetic levels are 1..{MAX_LEVEL}")
        if self.level_weights is not None and (
            len(self.level_weights) != len(self.levels)
            or any(w < 0 for w in self.level_weights)
            or sum(self.level_weights) <= 0
        ):
            raise UsageError(
                f"data config: level_weights needs one non-negative weight per level ({len(self.levels)} levels), "
                f"not all zero; got {self.level_weights}"
            )
        styles = STYLES if self.source in FAMILIES else FILE_STYLES
        mixtures = {"reasoning_styles": self.reasoning_styles} if self.reasoning_styles is not None else {}
        if self.reasoning_styles_by_level is not None:
            if self.source not in FAMILIES:
                raise UsageError("data config: reasoning_styles_by_level applies to synthetic families only")
            for level, mixture in self.reasoning_styles_by_level.items():
                if level not in self.levels:
                    raise UsageError(
                        f"data config: reasoning_styles_by_level names level {level!r}, "
                        f"which is not in levels {self.levels}"
                    )
                mixtures[f"reasoning_styles_by_level[{level}]"] = mixture
        for name, mixture in mixtures.items():
            if (
                not isinstance(mixture, dict)
                or set(mixture) - set(styles)
                or any(
                    isinstance(w, bool) or not isinstance(w, (int, float)) or w < 0 for w in mixture.values()
                )
                or sum(mixture.values()) <= 0
            ):
                raise UsageError(
                    f"data config: {name} must map styles among {styles} to weights >= 0 with a "
                    f"positive total (source {self.source!r}); got {mixture!r}"
                )
        if not 0 < self.test_fraction < 1:
            raise UsageError(f"data config: test_fraction must be in (0, 1), got {self.test_fraction}")
        if self.train_rows < 1 or self.test_rows_per_level < 1:
            raise UsageError("data config: train_rows and test_rows_per_level must be >= 1")

    def _check_location(self) -> None:
        """Raise a UsageError unless the source has the location it reads: `hub` for source 'hub', `path`
        for file sources, either for adapters."""
        if self.source == "hub" and (self.path or not self.hub):
            raise UsageError(
                "data config: source 'hub' reads the dataset named by `hub` (e.g. hub: owner/name); "
                f"`path` is for local files (sources {', '.join(FILE_FORMATS)})"
            )
        if self.source in ADAPTERS and not (self.path or self.hub):
            raise UsageError(
                f"data config: source {self.source!r} needs `path` (a local file or folder) or `hub` "
                "(a Hugging Face dataset id)"
            )
        if self.source in FILE_FORMATS and (self.hub or not self.path):
            raise UsageError(
                f"data config: source {self.source!r} reads the local file or folder named by `path` "
                "(`hub` is for adapters and source 'hub')"
            )


def config_mapping(path: str | Path | dict, what: str, config_cls, overrides: dict) -> tuple[dict, Path]:
    """Return (raw keys with non-None `overrides` applied, folder that relative paths resolve against)
    for a YAML file or dict of `config_cls`; unknown keys raise a UsageError naming them."""
    if isinstance(path, dict):
        raw, base = dict(path), Path.cwd()
    else:
        raw, base = read_yaml_mapping(path, what), Path(path).parent
    raw.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in fields(config_cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise UsageError(f"{what}: unknown key(s) {unknown}; valid keys: {sorted(known)}")
    return raw, base


def load_data_config(config: str | Path | dict, /, **overrides) -> DataConfig:
    """Return the DataConfig in YAML file `config` (or a dict), with `overrides` (any key, `path` too) applied.

    Relative `path` entries inside the file resolve against the file's folder, so recipes work from
    any working directory; ${NAME} in `path` expands as the field's help says. Unknown keys raise a
    UsageError naming them and the valid keys.
    """
    raw, base = config_mapping(config, "data config", DataConfig, overrides)
    if "source" not in raw:
        raise UsageError("data config: missing required key 'source'")
    p = raw.get("path") and expand_env(raw["path"], fallback=raw.get("hub"))
    if p and not Path(p).is_absolute() and (base / p).exists():
        p = str((base / p).resolve())
    raw["path"] = p or None
    return DataConfig(**raw)


_ENV_VAR = re.compile(r"\$\{(\w+)\}")


def expand_env(path: str, fallback: str | None) -> str | None:
    """Return `path` with each ${NAME} replaced by environment variable NAME; None when one is unset (or
    empty) and there is a `fallback` location, a UsageError naming the variable when there is none."""
    unset = [name for name in _ENV_VAR.findall(path) if not os.environ.get(name)]
    if unset and fallback:
        return None
    if unset:
        raise UsageError(
            f"data config: path {path!r} names unset environment variable(s) {', '.join(unset)}; "
            "set them, or give `hub` to read when they are unset"
        )
    return _ENV_VAR.sub(lambda m: os.environ[m.group(1)], path)
