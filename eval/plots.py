"""The three PNG plots of a scaling eval, one line per checkpoint (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from thinkdial.eval.metrics import budget_x  # noqa: E402

PLOTS = ("accuracy_vs_budget", "tokens_vs_difficulty", "accuracy_vs_difficulty")


def _levels(model: dict) -> list[float]:
    return [float(k) for k in model["levels"]]


def _chance(ax, models: dict) -> None:
    chance = next(iter(models.values()))["chance_accuracy"]
    if chance is not None:
        ax.axhline(chance, color="grey", linestyle=":", linewidth=1, label="chance")


def _accuracy_vs_budget(ax, models: dict, budget_tokens: list[int]) -> None:
    for label, m in models.items():
        ax.plot([budget_x(b) for b in budget_tokens], list(m["budget_curve"].values()), marker="o", label=label)
    labels = list(next(iter(models.values()))["budget_curve"])
    ax.set_xticks([budget_x(b) for b in budget_tokens], labels, rotation=35, ha="right")
    ax.set_xlabel("thinking budget B (reasoning tokens; axis log2(1+B))")
    ax.set_ylabel("accuracy (fraction correct)")
    ax.set_title("Accuracy vs thinking budget (budget forcing)")
    _chance(ax, models)


def _tokens_vs_difficulty(ax, models: dict) -> None:
    for label, m in models.items():
        ax.plot(_levels(m), [lv["reasoning_tokens_mean"] for lv in m["levels"].values()], marker="o", label=label)
    first = next(iter(models.values()))
    oracle = [lv["min_reasoning_tokens_mean"] for lv in first["levels"].values()]
    if all(o is not None for o in oracle):
        ax.plot(_levels(first), oracle, color="black", linestyle="--", label="oracle minimum")
    ax.set_xlabel("difficulty level")
    ax.set_ylabel("mean reasoning tokens (free reasoning)")
    ax.set_title("Reasoning tokens vs difficulty")


def _accuracy_vs_difficulty(ax, models: dict) -> None:
    for label, m in models.items():
        line, = ax.plot(_levels(m), [lv["accuracy"] for lv in m["levels"].values()], marker="o", label=f"{label} (free)")
        ax.plot(_levels(m), [lv["accuracy_direct"] for lv in m["levels"].values()], marker="x", linestyle="--",
                color=line.get_color(), label=f"{label} (forced direct, B=0)")
    ax.set_xlabel("difficulty level")
    ax.set_ylabel("accuracy (fraction correct)")
    ax.set_title("Accuracy vs difficulty")
    _chance(ax, models)


def write_plots(models: dict[str, dict], budget_tokens: list[int], out_dir: str | Path) -> dict[str, Path]:
    """Write the plots of `models` (results.json entries) under out_dir; return name -> PNG path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    draw = {"accuracy_vs_budget": lambda ax: _accuracy_vs_budget(ax, models, budget_tokens),
            "tokens_vs_difficulty": lambda ax: _tokens_vs_difficulty(ax, models),
            "accuracy_vs_difficulty": lambda ax: _accuracy_vs_difficulty(ax, models)}
    paths = {}
    for name in PLOTS:
        fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=100)
        draw[name](ax)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        paths[name] = out / f"{name}.png"
        fig.savefig(paths[name])
        plt.close(fig)
    return paths
