"""The schema of results.json (`thinkdial.eval/2`): one dataclass per object, one help string per field.

`thinkdial eval` builds these from its records and writes `Results.to_dict()`; the gates, plots, report and
model card read `load_results(path)` (or `Results.from_dict`) and use attributes, not string keys. Parsing
refuses a missing or unknown key, so a file and its readers cannot drift apart.

Conventions: every token quantity is reasoning tokens (inside the think block) unless its name says
otherwise (`prompt_tokens_mean`, `total_tokens_mean`); a budget B caps reasoning at B tokens (budget
forcing) and `unlimited` is the eval's `max_reasoning_tokens`; a level's key is
`thinkdial.io.level_label(difficulty)`; a metric with no data is null, never 0 or NaN; proportions are in
[0, 1] and come with the counts (`n`) their standard errors need.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from thinkdial.errors import UsageError

SCHEMA = "thinkdial.eval/2"


def _help(text: str, **kwargs):
    return field(metadata={"help": text}, **kwargs)


@dataclass
class DialSetting:
    """One setting of the dial (a requested budget B, or an effort level against its tier budget), decoded
    freely on the same rows, with the same checkpoint forced at that budget beside it."""

    budget_tokens: int = _help("The budget the setting asks for (an effort level: its tier's budget).")
    n: int = _help("Completions behind the proportions (rows x samples).")
    accuracy: float | None = _help("Share of completions answered right under the control text.")
    reasoning_tokens_mean: float | None = _help("Mean reasoning tokens under the control text.")
    reasoning_tokens_std: float | None = _help("Their population standard deviation.")
    reasoning_tokens_median: float | None = _help("Their median.")
    reasoning_tokens_p90: float | None = _help("Their 90th percentile (linear interpolation).")
    mean_error_pct: float | None = _help("Mean of (tokens - B) / B, in percent (negative: under the budget).")
    rmse_error_pct: float | None = _help("Root mean square of (tokens - B) / B, in percent.")
    violation_rate: float | None = _help("Share of completions whose reasoning exceeds B.")
    control: float | None = _help("Share within B (1 - violation_rate): s1's Control.")
    truncated_rate: float | None = _help("Share whose think block the generation cap closed.")
    forcing_accuracy: float | None = _help("Accuracy of the same checkpoint forced at B (no control text).")
    forcing_reasoning_tokens_mean: float | None = _help("Mean reasoning tokens under that forcing.")
    dial_only_correct: int = _help("Rows right under the dial and wrong under forcing (paired test).")
    forcing_only_correct: int = _help("Rows right under forcing and wrong under the dial.")


@dataclass
class DialMean:
    """Means over the requested budgets, each budget weighing the same."""

    accuracy: float | None = _help("Mean accuracy.")
    mean_error_pct: float | None = _help("Mean of mean_error_pct.")
    rmse_error_pct: float | None = _help("Mean of rmse_error_pct.")
    violation_rate: float | None = _help("Mean violation rate.")
    control: float | None = _help("Mean Control.")


@dataclass
class Dial:
    """The dial axes a checkpoint was evaluated on."""

    requested: dict[str, DialSetting] = _help("Requested budget B (its decimal string) -> setting.")
    efforts: dict[str, DialSetting] = _help("Effort level (low, medium, high) -> setting.")
    requested_mean: DialMean = _help("Means over the requested budgets.")


@dataclass
class CostEntry:
    """What one decoding setting costs per request, and what it buys."""

    accuracy: float | None = _help("Share of completions answered right.")
    prompt_tokens_mean: float | None = _help("Mean prompt tokens (the control text included).")
    completion_tokens_mean: float | None = _help("Mean completion tokens (reasoning, think tags and answer).")
    total_tokens_mean: float | None = _help("prompt_tokens_mean + completion_tokens_mean.")
    usd_per_1k_requests: float | None = _help("USD per 1,000 requests at the eval's prices; null without.")
    latency_s: float | None = _help("completion tokens / decode_tokens_per_s; null without a speed.")


@dataclass
class CostView:
    """The cost view: per decoding setting, what a request costs and how often it is right."""

    free: CostEntry = _help("Free reasoning (budget 'unlimited').")
    forcing: dict[str, CostEntry] = _help("Budget forcing, per budget label other than 'unlimited'.")
    requested: dict[str, CostEntry] = _help("The dial's requested budgets (empty when not evaluated).")
    efforts: dict[str, CostEntry] = _help("The dial's effort levels (empty when not evaluated).")


@dataclass
class GroupMetrics:
    """The metrics of a group of rows (one level, or all of them); 'free' is budget 'unlimited'."""

    n: int = _help("Rows (a row's samples count once).")
    accuracy: float | None = _help("Free reasoning: share of completions answered right.")
    accuracy_direct: float | None = _help("Accuracy forced to answer directly (budget 0).")
    direct_rate: float | None = _help("Share of free completions with a closed, empty think block.")
    reasoning_tokens_mean: float | None = _help("Mean reasoning tokens, free.")
    reasoning_tokens_std: float | None = _help("Their population standard deviation.")
    reasoning_tokens_median: float | None = _help("Their median.")
    reasoning_tokens_p90: float | None = _help("Their 90th percentile (linear interpolation).")
    min_reasoning_tokens_mean: float | None = _help("Oracle minimum (synthetic rows); null when unknown.")
    chance_accuracy: float | None = _help("Accuracy of a uniform guess (synthetic: 0.1); null when unknown.")
    truncated_rate: float | None = _help("Share of free completions whose think block the cap closed.")
    budget_curve: dict[str, float | None] = _help("Budget label -> accuracy under budget forcing.")
    budget_tokens_mean: dict[str, float | None] = _help("Budget label -> mean reasoning tokens spent.")
    budget_curve_area_log2: float | None = _help(
        "Mean accuracy over x = log2(1 + B), trapezoids, normalised by the x range."
    )
    overthinking_tokens_mean: float | None = _help(
        "Mean over rows right at some budget of max(0, free tokens - B*), B* the smallest such budget."
    )
    tokens_over_oracle: float | None = _help(
        "sum(free reasoning tokens) / sum(oracle minimum); null unknown."
    )
    pass_at_k: dict[str, float | None] = _help("k -> unbiased pass@k of free reasoning (num_samples > 1).")
    dial: Dial | None = _help("The dial axes; null when evaluated without them.")


@dataclass
class ModelResult(GroupMetrics):
    """One checkpoint: its metrics over all rows, per level, and its cost view."""

    path: str = _help("The checkpoint evaluated.", default="")
    spearman_difficulty_tokens: float | None = _help(
        "Spearman correlation of difficulty and free reasoning tokens, per completion.", default=None
    )
    tokens_easiest_level: float | None = _help("Mean reasoning tokens at the easiest level.", default=None)
    tokens_hardest_level: float | None = _help("Mean reasoning tokens at the hardest level.", default=None)
    levels: dict[str, GroupMetrics] = _help("Level label -> that level's metrics.", default_factory=dict)
    cost: CostView | None = _help("The cost view.", default=None)
    backend: str | None = _help("Generation backend that ran ('transformers', 'vllm').", default=None)
    wall_seconds: float | None = _help("Seconds this checkpoint's eval took.", default=None)


@dataclass
class PairedCounts:
    """A checkpoint against the reference on the same rows (free reasoning): the discordant pairs."""

    n: int = _help("Rows compared.")
    gained: int = _help("Rows the checkpoint answers right and the reference wrong.")
    lost: int = _help("Rows the reference answers right and the checkpoint wrong.")


@dataclass
class TokenMatched:
    """Accuracy of the reference and the checkpoint read off their budget curves at equal mean tokens."""

    tokens: float = _help("Mean reasoning tokens.")
    reference: float | None = _help("The reference's accuracy there.")
    other: float | None = _help("The checkpoint's accuracy there.")
    delta: float | None = _help("other - reference.")


@dataclass
class Comparison:
    """A checkpoint against the first one evaluated (the reference)."""

    reference: str = _help("The reference's label.")
    accuracy_delta: float | None = _help("Accuracy minus the reference's.")
    accuracy_direct_delta: float | None = _help("accuracy_direct minus the reference's.")
    direct_rate_delta: float | None = _help("direct_rate minus the reference's.")
    reasoning_tokens_mean_delta: float | None = _help("Mean reasoning tokens minus the reference's.")
    budget_curve_area_log2_delta: float | None = _help("budget_curve_area_log2 minus the reference's.")
    token_matched: list[TokenMatched] = _help("The budget curves compared at equal mean tokens.")
    paired: dict[str, PairedCounts] = _help("Level label (and 'all') -> discordant pairs, free reasoning.")


@dataclass
class DataInfo:
    """Which rows were evaluated."""

    config: str = _help("The data config.")
    split: str = _help("Its split.")
    rows: int = _help("Rows evaluated.")


@dataclass
class Results:
    """results.json: the eval's settings, one entry per checkpoint, and each later checkpoint against the
    first."""

    schema: str = _help(f"'{SCHEMA}'.")
    data: DataInfo = _help("Which rows were evaluated.")
    eval: dict = _help("The EvalConfig used, plus budget_tokens (every budget evaluated).")
    models: dict[str, ModelResult] = _help("Label -> checkpoint, in the order given.")
    comparisons: dict[str, Comparison] = _help("Label of each later checkpoint -> it against the first.")

    @classmethod
    def from_dict(cls, raw: dict) -> Results:
        """Return the Results of a results.json mapping; a missing or unknown key, or another schema, raises
        a UsageError naming it."""
        if raw.get("schema") != SCHEMA:
            raise UsageError(
                f"results.json: schema {raw.get('schema')!r}, this thinkdial reads {SCHEMA!r}; re-run the eval"
            )
        return _parse(cls, raw, "results.json")

    def to_dict(self) -> dict:
        """Return the JSON mapping of these results."""
        return dataclasses.asdict(self)


def load_results(path: str | Path) -> Results:
    """Return the Results in the results.json file at `path`."""
    return Results.from_dict(json.loads(Path(path).read_text()))


def _parse(hint, value, where: str):
    """Return `value` as type `hint` (dataclasses, dict[str, X], list[X], X | None, scalars)."""
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise UsageError(f"{where}: expected an object, got {value!r}")
        hints = typing.get_type_hints(hint)
        names = {f.name for f in dataclasses.fields(hint)}
        unknown = sorted(set(value) - names)
        if unknown:
            raise UsageError(f"{where}: unknown key(s) {unknown}")
        args = {}
        for f in dataclasses.fields(hint):
            if f.name in value:
                args[f.name] = _parse(hints[f.name], value[f.name], f"{where}.{f.name}")
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise UsageError(f"{where}: missing key {f.name!r}")
        return hint(**args)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        (inner,) = [o for o in options if o is not type(None)]
        return _parse(inner, value, where)
    if origin is dict:
        _, inner = typing.get_args(hint)
        if not isinstance(value, dict):
            raise UsageError(f"{where}: expected an object, got {value!r}")
        return {str(k): _parse(inner, v, f"{where}.{k}") for k, v in value.items()}
    if origin is list:
        (inner,) = typing.get_args(hint)
        return [_parse(inner, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if hint is dict:
        return dict(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, hint) or (hint is not bool and isinstance(value, bool)):
        raise UsageError(f"{where}: expected {hint.__name__}, got {value!r}")
    return value
