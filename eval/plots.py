"""The PNG plots of a scaling eval, one line per checkpoint (matplotlib, Agg backend): the three of
budget forcing and difficulty, then the dial's and the cost view's when the results have them."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from thinkdial.data.dial import EFFORTS  # noqa: E402
from thinkdial.eval.dial_report import cost_settings, dominated_by  # noqa: E402
from thinkdial.eval.metrics import budget_x  # noqa: E402
from thinkdial.eval.schema import ModelResult  # noqa: E402

PLOTS = ("accuracy_vs_budget", "tokens_vs_difficulty", "accuracy_vs_difficulty")
DIAL_PLOTS = (
    "dial_accuracy_vs_budget",
    "dial_requested_vs_used",
    "dial_efforts",
    "cost_accuracy_vs_tokens",
    "cost_accuracy_vs_usd",
)


def plot_names(models: dict[str, ModelResult]) -> list[str]:
    """Return the names of the plots `models` have data for: PLOTS, then those of DIAL_PLOTS whose axes were
    evaluated (the USD plot needs prices)."""
    dials = [m.dial for m in models.values() if m.dial]
    has = {
        "dial_accuracy_vs_budget": any(d.requested for d in dials),
        "dial_requested_vs_used": any(d.requested for d in dials),
        "dial_efforts": any(d.efforts for d in dials),
        "cost_accuracy_vs_tokens": any(m.cost for m in models.values()),
        "cost_accuracy_vs_usd": any(
            m.cost and m.cost.free.usd_per_1k_requests is not None for m in models.values()
        ),
    }
    return [*PLOTS, *(name for name in DIAL_PLOTS if has[name])]


def _levels(model: ModelResult) -> list[float]:
    return [float(k) for k in model.levels]


def _chance(ax, models: dict[str, ModelResult]) -> None:
    chance = next(iter(models.values())).chance_accuracy
    if chance is not None:
        ax.axhline(chance, color="grey", linestyle=":", linewidth=1, label="chance")


def _accuracy_vs_budget(ax, models: dict[str, ModelResult], budget_tokens: list[int]) -> None:
    for label, m in models.items():
        ax.plot([budget_x(b) for b in budget_tokens], list(m.budget_curve.values()), marker="o", label=label)
    labels = list(next(iter(models.values())).budget_curve)
    ax.set_xticks([budget_x(b) for b in budget_tokens], labels, rotation=35, ha="right")
    ax.set_xlabel("thinking budget B (reasoning tokens; axis log2(1+B))")
    ax.set_ylabel("accuracy (fraction correct)")
    ax.set_title("Accuracy vs thinking budget (budget forcing)")
    _chance(ax, models)


def _tokens_vs_difficulty(ax, models: dict[str, ModelResult]) -> None:
    for label, m in models.items():
        ax.plot(_levels(m), [lv.reasoning_tokens_mean for lv in m.levels.values()], marker="o", label=label)
    first = next(iter(models.values()))
    oracle = [lv.min_reasoning_tokens_mean for lv in first.levels.values()]
    if all(o is not None for o in oracle):
        ax.plot(_levels(first), oracle, color="black", linestyle="--", label="oracle minimum")
    ax.set_xlabel("difficulty level")
    ax.set_ylabel("mean reasoning tokens (free reasoning)")
    ax.set_title("Reasoning tokens vs difficulty")


def _accuracy_vs_difficulty(ax, models: dict[str, ModelResult]) -> None:
    for label, m in models.items():
        (line,) = ax.plot(
            _levels(m), [lv.accuracy for lv in m.levels.values()], marker="o", label=f"{label} (free)"
        )
        ax.plot(
            _levels(m),
            [lv.accuracy_direct for lv in m.levels.values()],
            marker="x",
            linestyle="--",
            color=line.get_color(),
            label=f"{label} (forced direct, B=0)",
        )
    ax.set_xlabel("difficulty level")
    ax.set_ylabel("accuracy (fraction correct)")
    ax.set_title("Accuracy vs difficulty")
    _chance(ax, models)


def _requested(models: dict[str, ModelResult]) -> list[int]:
    return sorted({int(b) for m in models.values() if m.dial for b in m.dial.requested})


def _dial_accuracy_vs_budget(ax, models: dict[str, ModelResult], budget_tokens: list[int]) -> None:
    requested = _requested(models)
    xs = [budget_x(b) for b in requested]
    for label, m in models.items():
        forcing = dict(zip(budget_tokens, m.budget_curve.values(), strict=True))
        color = None
        if m.dial and m.dial.requested:
            (line,) = ax.plot(
                xs,
                [m.dial.requested[str(b)].accuracy for b in requested],
                marker="o",
                label=f"{label} (dial: budget in the prompt)",
            )
            color = line.get_color()
        ax.plot(
            xs,
            [forcing[b] for b in requested],
            marker="x",
            linestyle="--",
            color=color,
            label=f"{label} (budget forcing)",
        )
    ax.set_xticks(xs, [str(b) for b in requested])
    ax.set_xlabel("requested budget B (reasoning tokens; axis log2(1+B))")
    ax.set_ylabel("accuracy (fraction correct)")
    ax.set_title("Accuracy vs requested budget: dial vs forcing")
    _chance(ax, models)


def _dial_requested_vs_used(ax, models: dict[str, ModelResult]) -> None:
    requested = _requested(models)
    for label, m in models.items():
        if m.dial and m.dial.requested:
            points = [m.dial.requested[str(b)] for b in requested]
            (line,) = ax.plot(
                requested, [p.reasoning_tokens_mean for p in points], marker="o", label=f"{label} mean"
            )
            ax.plot(
                requested,
                [p.reasoning_tokens_p90 for p in points],
                marker=".",
                linestyle=":",
                color=line.get_color(),
                label=f"{label} p90",
            )
    ax.plot(
        [0, requested[-1]],
        [0, requested[-1]],
        color="black",
        linestyle="--",
        linewidth=1,
        label="y = x (budget)",
    )
    ax.set_xlabel("requested budget B (reasoning tokens)")
    ax.set_ylabel("reasoning tokens used")
    ax.set_title("Requested vs used reasoning tokens")


def _dial_efforts(ax, models: dict[str, ModelResult]) -> None:
    levels = [e for e in EFFORTS if any(m.dial and e in m.dial.efforts for m in models.values())]
    tokens_ax = ax.twinx()
    for label, m in models.items():
        if m.dial and m.dial.efforts:
            shown = [e for e in levels if e in m.dial.efforts]
            xs = [levels.index(e) for e in shown]
            (line,) = ax.plot(
                xs,
                [m.dial.efforts[e].accuracy for e in shown],
                marker="o",
                label=f"{label} accuracy",
            )
            tokens_ax.plot(
                xs,
                [m.dial.efforts[e].reasoning_tokens_mean for e in shown],
                marker="s",
                linestyle="--",
                color=line.get_color(),
                label=f"{label} mean tokens (right)",
            )
    tiers = {e: s.budget_tokens for m in models.values() if m.dial for e, s in m.dial.efforts.items()}
    tokens_ax.plot(
        range(len(levels)),
        [tiers[e] for e in levels],
        marker="_",
        markersize=14,
        linestyle="none",
        color="black",
        label="tier budget (right)",
    )
    ax.set_xticks(range(len(levels)), levels)
    ax.set_xlabel("effort level")
    ax.set_ylabel("accuracy (fraction correct)")
    tokens_ax.set_ylabel("reasoning tokens")
    ax.set_title("Accuracy and reasoning tokens per effort level")


def _cost_accuracy_vs_usd(ax, models: dict[str, ModelResult]) -> None:
    for label, m in models.items():
        cost = m.cost
        if not cost:
            continue
        forcing = list(cost.forcing.values())
        (line,) = ax.plot(
            [c.usd_per_1k_requests for c in forcing],
            [c.accuracy for c in forcing],
            marker="x",
            linestyle="--",
            label=f"{label} budget forcing",
        )
        color = line.get_color()
        ax.plot(
            [cost.free.usd_per_1k_requests],
            [cost.free.accuracy],
            marker="*",
            markersize=12,
            linestyle="none",
            color=color,
            label=f"{label} free (adaptive)",
        )
        if cost.requested:
            dial = list(cost.requested.values())
            ax.plot(
                [c.usd_per_1k_requests for c in dial],
                [c.accuracy for c in dial],
                marker="o",
                color=color,
                label=f"{label} dial budgets",
            )
        for effort, c in cost.efforts.items():
            ax.plot([c.usd_per_1k_requests], [c.accuracy], marker="s", linestyle="none", color=color)
            ax.annotate(
                effort,
                (c.usd_per_1k_requests, c.accuracy),
                fontsize=7,
                xytext=(3, 3),
                textcoords="offset points",
            )
    ax.set_xlabel("USD per 1,000 requests (measured prompt + completion tokens)")
    ax.set_ylabel("accuracy (fraction correct)")
    ax.set_title("Accuracy vs cost")


def _cost_accuracy_vs_tokens(ax, models: dict[str, ModelResult]) -> None:
    for label, m in models.items():
        if not m.cost:
            continue
        settings = cost_settings(m.cost)
        families = {
            "free (adaptive)": ("*", [c for n, c in settings if n.startswith("free")]),
            "budget forcing": ("x", [c for n, c in settings if n.startswith("forcing")]),
            "dial budgets": ("o", [c for n, c in settings if n.startswith("dial")]),
            "effort levels": ("s", [c for n, c in settings if n.startswith("effort")]),
        }
        color = None
        for family, (marker, points) in families.items():
            if points:
                (line,) = ax.plot(
                    [c.total_tokens_mean for c in points],
                    [c.accuracy for c in points],
                    marker=marker,
                    linestyle="none",
                    color=color,
                    label=f"{label} {family}",
                )
                color = line.get_color()
        beaten = dominated_by(settings)
        front = sorted((c.total_tokens_mean, c.accuracy) for n, c in settings if n not in beaten)
        ax.plot(*zip(*front, strict=True), color=color, linewidth=1, label=f"{label} Pareto front")
    ax.set_xlabel("tokens per request (prompt with control text + reasoning + answer)")
    ax.set_ylabel("accuracy (fraction correct)")
    ax.set_title("Accuracy vs total tokens: where the dial pays")


def write_plots(
    models: dict[str, ModelResult], budget_tokens: list[int], out_dir: str | Path
) -> dict[str, Path]:
    """Write the plots of `models` (`plot_names`) under out_dir; return name -> PNG path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    draw = {
        "accuracy_vs_budget": lambda ax: _accuracy_vs_budget(ax, models, budget_tokens),
        "tokens_vs_difficulty": lambda ax: _tokens_vs_difficulty(ax, models),
        "accuracy_vs_difficulty": lambda ax: _accuracy_vs_difficulty(ax, models),
        "dial_accuracy_vs_budget": lambda ax: _dial_accuracy_vs_budget(ax, models, budget_tokens),
        "dial_requested_vs_used": lambda ax: _dial_requested_vs_used(ax, models),
        "dial_efforts": lambda ax: _dial_efforts(ax, models),
        "cost_accuracy_vs_tokens": lambda ax: _cost_accuracy_vs_tokens(ax, models),
        "cost_accuracy_vs_usd": lambda ax: _cost_accuracy_vs_usd(ax, models),
    }
    paths = {}
    for name in plot_names(models):
        fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=100)
        draw[name](ax)
        ax.grid(alpha=0.3)
        ax.legend(handles=[h for a in fig.axes for h in a.get_legend_handles_labels()[0]], fontsize=8)
        fig.tight_layout()
        paths[name] = out / f"{name}.png"
        fig.savefig(paths[name])
        plt.close(fig)
    return paths
