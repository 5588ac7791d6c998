"""report.md sections and stdout lines of the dial (requested budgets, effort levels) and the cost view."""

from __future__ import annotations

from thinkdial.data.dial import EFFORTS
from thinkdial.eval.config import EvalConfig
from thinkdial.eval.metrics import interpolate
from thinkdial.eval.schema import CostEntry, CostView, DialSetting, ModelResult
from thinkdial.eval.tables import fmt as _fmt
from thinkdial.eval.tables import md_table as _md_table

ADHERENCE_HEADER = ["Mean Error (%)", "RMSE Error (%)", "hard violation rate", "Control"]
ADHERENCE_NOTE = (
    "Free decoding with the control text in the prompt (cap `max_reasoning_tokens`). *Mean Error (%)* = "
    "100 (E[n] - B) / B and *RMSE Error (%)* = 100 sqrt(E[(n - B)^2]) / B as in L1 (Aggarwal & Welleck 2025; "
    "n = reasoning tokens, B = the budget; > 0: over budget); *hard violation rate* = share with n > B; "
    "*Control* = share with n <= B (s1, Muennighoff et al. 2025). *forcing* = the same model under budget "
    "forcing at B (s1), for the comparison at equal budgets."
)


def adherence_cells(m: DialSetting) -> list[str]:
    """Return the table cells of one dial setting's metrics: accuracy (dial, forcing), tokens mean /
    median / p90, then the ADHERENCE_HEADER columns."""
    return [
        _fmt(m.accuracy),
        _fmt(m.forcing_accuracy),
        f"{_fmt(m.reasoning_tokens_mean, 1)} / {_fmt(m.reasoning_tokens_median, 1)} / "
        f"{_fmt(m.reasoning_tokens_p90, 1)}",
        _fmt(m.mean_error_pct, 1),
        _fmt(m.rmse_error_pct, 1),
        _fmt(m.violation_rate),
        _fmt(m.control),
    ]


SETTING_HEADER = ["accuracy", "accuracy (forcing)", "tokens mean / median / p90", *ADHERENCE_HEADER]


def requested_table(models: dict[str, ModelResult]) -> str:
    """Return the markdown table of every model's requested-budget settings, with a mean row per model."""
    rows = []
    for label, m in models.items():
        if not (m.dial and m.dial.requested):
            continue
        rows += [[label, b, *adherence_cells(s)] for b, s in m.dial.requested.items()]
        mean = m.dial.requested_mean
        rows.append(
            [
                label,
                "mean",
                _fmt(mean.accuracy),
                "",
                "",
                _fmt(mean.mean_error_pct, 1),
                _fmt(mean.rmse_error_pct, 1),
                _fmt(mean.violation_rate),
                _fmt(mean.control),
            ]
        )
    return _md_table(["model", "B", *SETTING_HEADER], rows)


def _effort_table(models: dict[str, ModelResult]) -> str:
    rows = [
        [label, e, str(s.budget_tokens), *adherence_cells(s)]
        for label, m in models.items()
        if m.dial
        for e, s in m.dial.efforts.items()
    ]
    return _md_table(["model", "effort", "tier budget", *SETTING_HEADER], rows)


def _per_level(models: dict[str, ModelResult], axis: str) -> str:
    keys = sorted(
        {k for m in models.values() if m.dial for k in getattr(m.dial, axis)},
        key=lambda k: int(k) if axis == "requested" else EFFORTS.index(k),
    )
    rows = [
        [label, lv]
        + [
            f"{_fmt(x.accuracy)} / {_fmt(x.reasoning_tokens_mean, 1)} / {_fmt(x.control)}" if x else "-"
            for x in (getattr(level.dial, axis).get(k) for k in keys)
        ]
        for label, m in models.items()
        if m.dial
        for lv, level in m.levels.items()
    ]
    name = "B" if axis == "requested" else "effort"
    return _md_table(["model", "level", *[f"{name}={k}: acc / tokens / Control" for k in keys]], rows)


def cost_settings(cost: CostView) -> list[tuple[str, CostEntry]]:
    """Return (name, entry) of every decoding setting of a cost view: free, forcing, the dial's budgets and
    effort levels."""
    return (
        [("free (adaptive)", cost.free)]
        + [(f"forcing B={b}", c) for b, c in cost.forcing.items()]
        + [(f"dial B={b}", c) for b, c in cost.requested.items()]
        + [(f"effort={e}", c) for e, c in cost.efforts.items()]
    )


def dominated_by(settings: list[tuple[str, CostEntry]]) -> dict[str, str]:
    """Return name -> the name of a setting that dominates it: as accurate or more for as few total tokens
    or fewer, one of the two strictly; settings on the Pareto front are absent."""
    out = {}
    for name, c in settings:
        for other, d in settings:
            if other == name or c.accuracy is None or d.accuracy is None:
                continue
            if (
                d.total_tokens_mean <= c.total_tokens_mean
                and d.accuracy >= c.accuracy
                and (d.total_tokens_mean < c.total_tokens_mean or d.accuracy > c.accuracy)
            ):
                out[name] = other
                break
    return out


def forcing_at_cost(cost: CostView, total_tokens: float) -> float | None:
    """Return the accuracy budget forcing (free decoding as its top) reaches for `total_tokens` a request:
    its (total tokens, accuracy) curve read by linear interpolation inside its range, its best accuracy
    beyond its dearest point; None below its cheapest."""
    points = [
        (c.total_tokens_mean, c.accuracy)
        for c in [*cost.forcing.values(), cost.free]
        if c.accuracy is not None
    ]
    if points and total_tokens > max(t for t, _ in points):
        return max(a for _, a in points)
    return interpolate(points, total_tokens)


def _cost_rows(label: str, cost: CostView) -> list[list[str]]:
    settings = cost_settings(cost)
    beaten = dominated_by(settings)
    rows = []
    for name, c in settings:
        equal = forcing_at_cost(cost, c.total_tokens_mean) if name.startswith(("dial", "effort")) else None
        rows.append(
            [
                label,
                name,
                _fmt(c.accuracy),
                _fmt(c.prompt_tokens_mean, 1),
                _fmt(c.completion_tokens_mean, 1),
                _fmt(c.total_tokens_mean, 1),
                "" if equal is None or c.accuracy is None else f"{c.accuracy - equal:+.3f}",
                "front" if name not in beaten else f"below {beaten[name]}",
                _fmt(c.usd_per_1k_requests, 4),
                _fmt(c.latency_s, 2),
            ]
        )
    return rows


def dial_cost_verdict(label: str, cost: CostView) -> str:
    """Return one plain sentence on where the dial pays for `label`: which of its settings the Pareto front
    dominates, and the control text's prompt tokens against the completion tokens the dial saves."""
    dial = [(n, c) for n, c in cost_settings(cost) if n.startswith(("dial", "effort"))]
    if not dial:
        return ""
    beaten = dominated_by(cost_settings(cost))
    by_winner: dict[str, list[str]] = {}
    for name, _ in dial:
        if name in beaten:
            by_winner.setdefault(beaten[name], []).append(name)
    if not by_winner:
        return f"**{label}**: every dial setting is on the Pareto front of accuracy against total tokens."
    control_tokens = sum(c.prompt_tokens_mean for _, c in dial) / len(dial) - cost.free.prompt_tokens_mean
    saved = cost.free.completion_tokens_mean - min(c.completion_tokens_mean for _, c in dial)
    lost = sum(len(names) for names in by_winner.values())
    return (
        f"**{label}**: {lost} of {len(dial)} dial settings are dominated at equal total tokens ("
        + "; ".join(f"by {winner}: {', '.join(names)}" for winner, names in by_winner.items())
        + f"). The control text adds {control_tokens:.1f} prompt tokens a request; the dial saves at most "
        f"{saved:.1f} completion tokens against free decoding"
        + (
            ", so here obeying a budget costs more than it saves."
            if control_tokens >= saved
            else ", so the loss is in accuracy, not in the control text's price."
        )
    )


def cost_section(models: dict[str, ModelResult], config: EvalConfig) -> str:
    """Return the report's cost view: the prices used and, per model and setting, accuracy, mean tokens
    (prompt, completion, total), accuracy against forcing at equal total tokens, the Pareto front, USD per
    1,000 requests and the latency estimate; then where the dial is dominated, and why."""
    if config.input_usd_per_1m_tokens is None:
        prices = (
            "No token prices in the eval config: token counts only (set input_usd_per_1m_tokens / "
            "output_usd_per_1m_tokens)."
        )
    else:
        prices = (
            f"Prices from the eval config: input ${config.input_usd_per_1m_tokens} / output "
            f"${config.output_usd_per_1m_tokens} per 1M tokens (reasoning tokens bill as output)."
        )
    speed = (
        f" Latency = completion tokens / {config.decode_tokens_per_s} tokens/s (decode only, one request)."
        if config.decode_tokens_per_s
        else ""
    )
    rows = [r for label, m in models.items() if m.cost for r in _cost_rows(label, m.cost)]
    verdicts = [dial_cost_verdict(label, m.cost) for label, m in models.items() if m.cost]
    return (
        f"## Cost\n\n{prices}{speed} Tokens are measured means per request (prompt with its control text; "
        "completion = think block + answer; total = both). *vs forcing at equal cost*: the setting's "
        "accuracy minus budget forcing's, read off forcing's curve at the same total tokens. *Pareto*: "
        "`front` when no other setting of the model is as accurate for fewer total tokens.\n\n"
        + _md_table(
            [
                "model",
                "setting",
                "accuracy",
                "prompt tokens",
                "completion tokens",
                "total tokens",
                "vs forcing at equal cost",
                "Pareto",
                "$ / 1k requests",
                "latency (s)",
            ],
            rows,
        )
        + "".join(f"\n\n{v}" for v in verdicts if v)
    )


def dial_sections(models: dict[str, ModelResult], config: EvalConfig) -> list[str]:
    """Return the report.md sections of the dial axes that `models` were evaluated on, then the cost view."""
    dials = [m.dial for m in models.values() if m.dial]
    sections = []
    if any(d.requested for d in dials):
        sections.append(
            "## The dial: requested thinking budget\n\n"
            + ADHERENCE_NOTE
            + "\n\n"
            + requested_table(models)
            + "\n\nPer difficulty level:\n\n"
            + _per_level(models, "requested")
        )
    if any(d.efforts for d in dials):
        sections.append(
            "## The dial: effort levels\n\nEach level's adherence is measured against its tier budget "
            "(eval config `effort_budgets`).\n\n"
            + _effort_table(models)
            + "\n\nPer difficulty level:\n\n"
            + _per_level(models, "efforts")
        )
    return [*sections, cost_section(models, config)]


def dial_lines(models: dict[str, ModelResult]) -> str:
    """Return the stdout block of the dial: per model and requested budget, accuracy (dial / forcing),
    mean tokens and adherence; empty when no model has the requested-budget axis."""
    blocks = []
    for label, m in models.items():
        if m.dial and m.dial.requested:
            rows = [
                f"  B={b:>5}  acc {_fmt(s.accuracy)} (forcing {_fmt(s.forcing_accuracy)})  tokens "
                f"{_fmt(s.reasoning_tokens_mean, 1):>6}  mean err {_fmt(s.mean_error_pct, 1):>6}%  "
                f"Control {_fmt(s.control)}"
                for b, s in m.dial.requested.items()
            ]
            blocks.append(f"== dial ({label}): requested budget\n" + "\n".join(rows))
    return "\n\n".join(blocks)
