"""report.md sections and stdout lines of the dial (requested budgets, effort levels) and the cost view."""

from __future__ import annotations

from thinkdial.data.dial import EFFORTS
from thinkdial.eval.config import EvalConfig
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


def adherence_cells(m: dict) -> list[str]:
    """Return the table cells of one dial setting's metrics: accuracy (dial, forcing), tokens mean /
    median / p90, then the ADHERENCE_HEADER columns."""
    return [
        _fmt(m["accuracy"]),
        _fmt(m["forcing_accuracy"]),
        f"{_fmt(m['reasoning_tokens_mean'], 1)} / {_fmt(m['reasoning_tokens_median'], 1)} / "
        f"{_fmt(m['reasoning_tokens_p90'], 1)}",
        _fmt(m["mean_error_pct"], 1),
        _fmt(m["rmse_error_pct"], 1),
        _fmt(m["violation_rate"]),
        _fmt(m["control"]),
    ]


SETTING_HEADER = ["accuracy", "accuracy (forcing)", "tokens mean / median / p90", *ADHERENCE_HEADER]


def requested_table(models: dict) -> str:
    """Return the markdown table of every model's requested-budget settings, with a mean row per model."""
    rows = []
    for label, m in models.items():
        if not (m.get("dial") and m["dial"]["requested"]):
            continue
        rows += [[label, b, *adherence_cells(s)] for b, s in m["dial"]["requested"].items()]
        mean = m["dial"]["requested_mean"]
        rows.append(
            [
                label,
                "mean",
                _fmt(mean["accuracy"]),
                "",
                "",
                _fmt(mean["mean_error_pct"], 1),
                _fmt(mean["rmse_error_pct"], 1),
                _fmt(mean["violation_rate"]),
                _fmt(mean["control"]),
            ]
        )
    return _md_table(["model", "B", *SETTING_HEADER], rows)


def _effort_table(models: dict) -> str:
    rows = [
        [label, e, str(s["budget_tokens"]), *adherence_cells(s)]
        for label, m in models.items()
        if m.get("dial")
        for e, s in m["dial"]["efforts"].items()
    ]
    return _md_table(["model", "effort", "tier budget", *SETTING_HEADER], rows)


def _per_level(models: dict, axis: str) -> str:
    keys = sorted(
        {k for m in models.values() if m.get("dial") for k in m["dial"][axis]},
        key=lambda k: int(k) if axis == "requested" else EFFORTS.index(k),
    )
    rows = [
        [label, lv]
        + [
            f"{_fmt(x['dial'][axis][k]['accuracy'])} / {_fmt(x['dial'][axis][k]['reasoning_tokens_mean'], 1)}"
            f" / {_fmt(x['dial'][axis][k]['control'])}"
            if k in x["dial"][axis]
            else "-"
            for k in keys
        ]
        for label, m in models.items()
        if m.get("dial")
        for lv, x in m["levels"].items()
    ]
    name = "B" if axis == "requested" else "effort"
    return _md_table(["model", "level", *[f"{name}={k}: acc / tokens / Control" for k in keys]], rows)


def _cost_rows(label: str, cost: dict) -> list[list[str]]:
    settings = [("free (adaptive)", cost["free"])] + [
        (f"forcing B={b}", c) for b, c in cost["forcing"].items()
    ]
    settings += [(f"dial B={b}", c) for b, c in cost.get("requested", {}).items()]
    settings += [(f"effort={e}", c) for e, c in cost.get("efforts", {}).items()]
    return [
        [
            label,
            name,
            _fmt(c["accuracy"]),
            _fmt(c["prompt_tokens_mean"], 1),
            _fmt(c["completion_tokens_mean"], 1),
            _fmt(c["usd_per_1k_requests"], 4),
            _fmt(c["latency_s"], 2),
        ]
        for name, c in settings
    ]


def cost_section(models: dict, config: EvalConfig) -> str:
    """Return the report's cost view: the prices used and, per model and setting, accuracy, mean tokens,
    USD per 1,000 requests and the latency estimate."""
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
    rows = [r for label, m in models.items() for r in _cost_rows(label, m["cost"])]
    return (
        f"## Cost\n\n{prices}{speed} Tokens are measured means per request (prompt with its control text; "
        "completion = think block + answer).\n\n"
        + _md_table(
            [
                "model",
                "setting",
                "accuracy",
                "prompt tokens",
                "completion tokens",
                "$ / 1k requests",
                "latency (s)",
            ],
            rows,
        )
    )


def dial_sections(models: dict, config: EvalConfig) -> list[str]:
    """Return the report.md sections of the dial axes that `models` were evaluated on, then the cost view."""
    dials = [m["dial"] for m in models.values() if m.get("dial")]
    sections = []
    if any(d["requested"] for d in dials):
        sections.append(
            "## The dial: requested thinking budget\n\n"
            + ADHERENCE_NOTE
            + "\n\n"
            + requested_table(models)
            + "\n\nPer difficulty level:\n\n"
            + _per_level(models, "requested")
        )
    if any(d["efforts"] for d in dials):
        sections.append(
            "## The dial: effort levels\n\nEach level's adherence is measured against its tier budget "
            "(eval config `effort_budgets`).\n\n"
            + _effort_table(models)
            + "\n\nPer difficulty level:\n\n"
            + _per_level(models, "efforts")
        )
    return [*sections, cost_section(models, config)]


def dial_lines(models: dict) -> str:
    """Return the stdout block of the dial: per model and requested budget, accuracy (dial / forcing),
    mean tokens and adherence; empty when no model has the requested-budget axis."""
    blocks = []
    for label, m in models.items():
        if m.get("dial") and m["dial"]["requested"]:
            rows = [
                f"  B={b:>5}  acc {_fmt(s['accuracy'])} (forcing {_fmt(s['forcing_accuracy'])})  tokens "
                f"{_fmt(s['reasoning_tokens_mean'], 1):>6}  mean err {_fmt(s['mean_error_pct'], 1):>6}%  "
                f"Control {_fmt(s['control'])}"
                for b, s in m["dial"]["requested"].items()
            ]
            blocks.append(f"== dial ({label}): requested budget\n" + "\n".join(rows))
    return "\n\n".join(blocks)
