"""The published length-control methods side by side on the embedded task families (issue 22, item 4).

Each method of configs/methods/ (its reward and settings, scaled to the tiny model by `tiny_settings`) trains
from three starts, two seeds each, for STEPS GRPO steps of 64 completions; then every run and its start are
evaluated greedily on generality.py's EVAL_ROWS_PER_LEVEL held-out rows a level at budgets 0 and unlimited (accuracy,
forced-direct accuracy, reasoning tokens and direct rate per level: what the gates read: the demo's shift gates,
the two-sided ones and generality.py's learned-start gates). L1-Max's runs are also evaluated as its paper reads
them, a budget in every prompt (`l1_budget_eval`).

Starts (only the data and the SFT recipe differ; GRPO runs on the start family's prompts):
- `demo`: the demo's start (permchain, wrong both ways: verbose on levels 1-6, gives up on 7-8; the demo's
  fixed 800-step SFT recipe); the demo's own runs/demo/sft when a demo has run, else built the same way;
- `weak`: affinechain, wrong both ways, trained to convergence (configs/tiny/sft.yaml): it learns levels 1-6
  and gives up on 7-8 by design, 0.76 held out; the same start as generality.py's, whose folder it reuses;
- `overthink`: permchain with the demo's trace styles minus direct answers and giving up, at every level
  (OVERTHINK_STYLES; verbose and rechecking traces alone did not learn the task), trained to convergence
  (configs/tiny/sft.yaml).

Scaling (the same rule for every method; thinkdial's own default is the demo's GRPO recipe as it is):
- lengths: every token length of the method's recipe and reward (completion cap, reward limits, E1's budgets,
  L1's budgets) times 48 / the recipe's max_completion_length, rounded down (the tiny recipe's cap is 48);
  per-token slopes (L1's alpha) divided by that factor; penalties stated per cap (ALP, ShorterBetter) kept;
- group size: the method's num_generations, 64 completions a step (4 or 8 prompts);
- learning rate: the method's, times 2e-4 / 1e-6 (the tiny default over thinkdial's R1-Distill-1.5B rate);
- the rest as the method's recipe sets it: KL beta, clip, loss and reward scaling, temperature, schedule,
  weight decay, updates per generation, dynamic sampling, the advantage baseline, direct exploration, E1's
  rollout. Data: plain prompts of the start's family (no control text), except L1-Max (every prompt carries a
  budget) and AdaptThink (each row carries R_ref: the start's accuracy at the row's level, sampled at
  AdaptThink's temperature on REF_ROWS_PER_LEVEL held-out rows x REF_SAMPLES; AdaptThink samples each
  training problem 16 times). ThinkPrune splits STEPS over its three rounds (48, 36 and 24 tokens).

    flock /tmp/thinkdial-cpu.lock .venv/bin/python experiments/methods.py [--methods ...] [--starts ...] \\
        [--seeds 0 1] [--steps 200] [--jobs 2] [--out runs/methods_tiny] [--estimate]

Resumable: a finished SFT start, GRPO run or eval is skipped. Writes OUT/report.md (the tables of
docs/results/methods.md) and OUT/summary.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import yaml
from generality import EVAL_CONFIG, eval_models, train_sft
from generality import sft as generality_sft

from thinkdial.data.config import load_data_config
from thinkdial.data.sources import build_rows
from thinkdial.eval.schema import ModelResult, Results
from thinkdial.io import read_yaml_mapping, write_atomic, write_jsonl
from thinkdial.pipeline.demo import GRPO_RECIPE, sft_launch
from thinkdial.pipeline.demo import SFT_RECIPE as DEMO_SFT_RECIPE
from thinkdial.pipeline.gates import decide, learned_start_checks, shift_checks, two_sided_checks
from thinkdial.pipeline.run import run_command

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("thinkdial", "adaptthink", "dler", "l1_max", "thinkprune", "alp", "shorterbetter", "elastic")
TINY_CAP = 48  # tokens: the tiny recipe's max_completion_length
TINY_LR = 2.0e-4  # configs/tiny/grpo.yaml
REAL_LR = 1.0e-6  # configs/methods/thinkdial/grpo.yaml: thinkdial's rate on R1-Distill-1.5B
STEPS = 200  # per run (the demo's recipe: 600); cut to fit the CPU budget (module docstring of --estimate)
REF_ROWS_PER_LEVEL, REF_SAMPLES = 50, 4  # AdaptThink's R_ref per level
# CPU seconds, one thread (generality.py's docstring and configs/tiny/grpo.yaml): the estimate, not a measurement
# SFT: the demo's 800 steps; a converged start's 1,500-1,700 (generality.md)
GRPO_STEP_S, EVAL_MODEL_S, SFT_START_S = 0.7, 60.0, 1700 * 0.6
# recipe keys copied as the method sets them (absent: the default below, else the tiny recipe's value stays)
SETTING_KEYS = (
    "num_generations",
    "temperature",
    "beta",
    "epsilon",
    "epsilon_high",
    "loss_type",
    "scale_rewards",
    "lr_scheduler_type",
    "weight_decay",
    "mask_truncated_completions",
    "dynamic_sampling",
    "dynamic_sampling_reward",
    "advantage_baseline",
    "importance_sampling_level",
    "direct_exploration",
    "select_checkpoint",
)
SETTING_DEFAULTS = {"direct_exploration": 0.0}  # the tiny recipe's 0.125 is thinkdial's own
COLLAPSE = 0.5  # a run collapses a start when its accuracy falls below this share of the start's
L1_BUDGETS = [1, 2, 4, 8, 16]  # reasoning tokens: L1-Max read as its paper reads it, a budget in every prompt
L1_ROWS_PER_LEVEL = 100  # the dial's axes cost 6x the plain eval


@dataclass(frozen=True)
class Start:
    """An SFT start (built by `sft_start`): the family's GRPO prompts and held-out rows."""

    grpo_data: str
    data: str


STARTS = {
    "demo": Start("configs/tiny/grpo_data.yaml", "configs/tiny/data.yaml"),
    "weak": Start(
        "configs/families/affinechain/grpo_data.yaml",
        "configs/families/affinechain/data.yaml",
    ),
    "overthink": Start("configs/tiny/grpo_data.yaml", "configs/tiny/data.yaml"),
}
OVERTHINK_STYLES = {"verbose": 0.5, "recheck": 0.25, "minimal": 0.25}  # the demo mix, no direct, no giving up


def estimate_cpu_minutes(methods: list[str], starts: list[str], seeds: list[int], steps: int) -> float:
    """Return the estimated CPU minutes of the grid (SFT starts, GRPO runs, evals) from the per-unit figures."""
    runs = len(methods) * len(starts) * len(seeds)
    models = runs + (len(methods) + 1) * len(starts)  # every run; the start in each method's eval, and R_ref
    return (len(starts) * SFT_START_S + runs * steps * GRPO_STEP_S + models * EVAL_MODEL_S) / 60


def write_yaml(path: Path, mapping: dict) -> str:
    """Write `mapping` as YAML to `path`; return the path as a string."""
    write_atomic(path, yaml.safe_dump(mapping, sort_keys=False))
    return str(path)


def sft_start(name: str, out: Path) -> Path:
    """Train (unless done) the SFT start `name` (module docstring); return its folder: the demo's own
    runs/demo/sft for `demo` when a demo has run and this grid has no start of its own, generality.py's
    affinechain start for `weak`."""
    if name == "weak":
        return generality_sft("affinechain", "wrong_both_ways", ROOT / "runs/generality")
    folder = out / name / "sft"
    demo = ROOT / "runs/demo/sft"
    if name == "demo" and not folder.exists() and (demo / "tokenizer_config.json").exists():
        return demo
    if (folder / "tokenizer_config.json").exists():
        return folder
    if name == "demo":
        argv = ["sft", "--config", DEMO_SFT_RECIPE, "--output_dir", str(folder), "--disable_tqdm", "true"]
        run_command(**sft_launch(argv), log=out / name / "sft.log", cwd=ROOT)
        return folder
    mapping = read_yaml_mapping(ROOT / "configs/tiny/sft_data.yaml", "data config")
    mapping.pop("reasoning_styles_by_level")
    data = write_yaml(
        out / "configs" / "overthink_sft_data.yaml", {**mapping, "reasoning_styles": OVERTHINK_STYLES}
    )
    return train_sft(data, folder)


def reference_accuracy(name: str, sft: Path, out: Path) -> dict[int, float]:
    """Return AdaptThink's R_ref of start `name`: {level: its accuracy sampled at AdaptThink's temperature}."""
    recipe = read_yaml_mapping(ROOT / "configs/methods/adaptthink/grpo.yaml", "recipe")
    config = {
        **read_yaml_mapping(ROOT / EVAL_CONFIG, "eval config"),
        "do_sample": True,
        "num_samples": REF_SAMPLES,
        "temperature": recipe["temperature"],
    }
    path = write_yaml(
        out / "configs" / f"reference_eval_{name}.yaml", config
    )  # one a start: they run at once
    results = eval_models(
        out / name / "reference", {"start": sft}, STARTS[name].data, path, REF_ROWS_PER_LEVEL
    )
    return {int(float(lv)): m.accuracy for lv, m in results.models["start"].levels.items()}


def scale(length: int, cap: int) -> int:
    """Return `length` tokens of a recipe whose cap is `cap` scaled to the tiny cap, rounded down, at least 1."""
    return max(1, length * TINY_CAP // cap)


def tiny_rewards(path: Path, cap: int) -> dict:
    """Return the method's reward config with its lengths scaled from `cap` (module docstring)."""
    config = read_yaml_mapping(path, "reward config")
    for component in config["rewards"]:
        params = component.get("params", {})
        if "max_tokens" in params:
            params["max_tokens"] = scale(params["max_tokens"], cap)
        if component["name"] == "target_length":
            params["alpha"] = params["alpha"] * cap / TINY_CAP
    return config


def tiny_data(method: str, start: str, cap: int, out: Path, sft: Path) -> str:
    """Return the GRPO data config of `method` from `start`: the family's prompts without control text, with
    L1-Max's budgets scaled, or AdaptThink's R_ref column."""
    mapping = {
        k: v
        for k, v in read_yaml_mapping(ROOT / STARTS[start].grpo_data, "data config").items()
        if k != "dial"
    }
    folder = out / "configs" / start
    if method == "l1_max":
        choices = read_yaml_mapping(ROOT / "configs/methods/l1_max/data.yaml", "data config")["dial"]
        budgets = sorted({scale(b, cap) for b in choices["budget_tokens_choices"]})
        mapping["dial"] = {"budget_tokens_choices": budgets, "no_budget_share": 0.0}
    if method == "adaptthink":
        ref = reference_accuracy(start, sft, out)
        rows = build_rows(load_data_config(write_yaml(folder / "plain.yaml", mapping)), "train")
        write_jsonl(
            folder / "adaptthink" / "train.jsonl", [{**r, "ref_accuracy": ref[r["difficulty"]]} for r in rows]
        )
        mapping = {
            "source": "jsonl",
            "path": str(folder / "adaptthink"),
            "splits": {"train": "train.jsonl"},
            "columns": {"ref_accuracy": "ref_accuracy"},
        }
    return write_yaml(folder / f"{method}_data.yaml", mapping)


def method_rounds(method: str) -> list[tuple[dict, Path]]:
    """Return the method's recipes in training order with their reward configs (ThinkPrune: three rounds)."""
    folder = ROOT / "configs/methods" / method
    recipes = [folder / n for n in ("grpo.yaml", "round2.yaml", "round3.yaml") if (folder / n).exists()]
    return [(r := read_yaml_mapping(p, "recipe"), ROOT / r["reward_config"]) for p in recipes]


def tiny_settings(method: str, start: str, out: Path, sft: Path) -> list[list[str]]:
    """Return the `thinkdial grpo` overrides of each round of `method` from `start`, scaled to the tiny model
    (module docstring); thinkdial: the demo's recipe on the family's prompts."""
    if method == "thinkdial":
        return [["--data_config", STARTS[start].grpo_data]]
    rounds = method_rounds(method)
    cap = rounds[0][0]["max_completion_length"]
    data = tiny_data(method, start, cap, out, sft)
    every = []
    for k, (recipe, rewards) in enumerate(rounds):
        settings = {key: recipe.get(key, SETTING_DEFAULTS.get(key)) for key in SETTING_KEYS}
        accumulation = recipe.get("gradient_accumulation_steps", 1)
        settings |= {
            "learning_rate": recipe["learning_rate"] * TINY_LR / REAL_LR,
            "max_completion_length": scale(recipe["max_completion_length"], cap),
            "steps_per_generation": recipe.get("steps_per_generation", accumulation) // accumulation,
            "data_config": data,
            "reward_config": write_yaml(
                out / "configs" / f"{method}_rewards{k + 1}.yaml", tiny_rewards(rewards, cap)
            ),
        }
        for key in ("elastic_thinking_tokens", "elastic_solution_tokens"):
            if key in recipe:
                settings[key] = scale(recipe[key], cap)
        every.append([a for key, v in settings.items() if v is not None for a in (f"--{key}", str(v))])
    return every


def grpo(
    method: str, start: str, seed: int, rounds: list[list[str]], out: Path, steps: int, sft: Path
) -> Path:
    """Train (unless done) `method` from `start` with `seed` and the overrides of each of its `rounds`
    (`tiny_settings`; ThinkPrune: its rounds in turn, the steps split between them); return the final model's
    folder."""
    run = out / start / f"{method}-seed{seed}"
    model = sft
    for k, overrides in enumerate(rounds):
        folder = run if k == len(rounds) - 1 else run.with_name(f"{run.name}-round{k + 1}")
        round_steps = steps // len(rounds) + (k < steps % len(rounds))
        if not (folder / "tokenizer_config.json").exists():
            argv = [
                "grpo",
                "--config",
                GRPO_RECIPE,
                "--model_name_or_path",
                str(model),
                "--output_dir",
                str(folder),
            ]
            argv += ["--seed", str(seed), "--max_steps", str(round_steps), "--cpu_threads", "1"]
            argv += ["--save_strategy", "no", "--disable_tqdm", "true", *overrides]
            run_command(argv, folder.with_suffix(".log"), cwd=ROOT)
        model = folder
    return run


def l1_eval_config(out: Path) -> str:
    """Write the eval config of L1-Max at its budgets (the tiny eval with L1_BUDGETS as the dial's requested
    budgets, no effort levels); return its path."""
    config = {
        **read_yaml_mapping(ROOT / EVAL_CONFIG, "eval config"),
        "requested_budgets": L1_BUDGETS,
        "efforts": [],
        "effort_budgets": {},
    }
    return write_yaml(out / "configs" / "l1_budgets_eval.yaml", config)


def l1_budget_eval(start: str, sft: Path, runs: dict[int, Path], out: Path, config: str) -> Results:
    """Evaluate (unless done) L1-Max's `runs` (seed -> folder) from `start` with `config` (`l1_eval_config`): a
    budget of each of L1_BUDGETS in the prompt (the dial's control text, which its training data carries) and
    forced at it, beside the start forced at it; return the results."""
    labels = {f"seed{seed}": folder for seed, folder in runs.items()}
    return eval_models(
        out / start / "eval-l1_max-budgets",
        {"start": sft, **labels},
        STARTS[start].data,
        config,
        L1_ROWS_PER_LEVEL,
        dial=tuple(labels),
    )


def l1_budget_table(results: Results) -> str:
    """Return the markdown table of L1-Max at its budgets: per budget B, the start forced at B, and L1-Max (mean
    of the seeds) with B in the prompt (accuracy / tokens / share within B) and forced at B."""
    start = results.models["start"]
    runs = [m for label, m in results.models.items() if label != "start"]
    lines = [
        "| budget B (tokens) | start forced at B: accuracy | L1-Max, B in the prompt: accuracy / tokens / within B "
        "| L1-Max forced at B: accuracy |",
        "|---|---|---|---|",
    ]
    for b in L1_BUDGETS:
        cells = [r.dial.requested[str(b)] for r in runs]
        acc, tokens, within, forced = (
            sum(getattr(c, key) for c in cells) / len(cells)
            for key in ("accuracy", "reasoning_tokens_mean", "control", "forcing_accuracy")
        )
        lines.append(
            f"| {b} | {start.budget_curve[str(b)]:.3f} | {acc:.3f} / {tokens:.1f} / {within:.2f} | {forced:.3f} |"
        )
    free = sum(r.accuracy for r in runs) / len(runs)
    lines.append(f"| none | {start.accuracy:.3f} | {free:.3f} (free, no budget in the prompt) | |")
    return "\n".join(lines)


def level_cells(model: ModelResult) -> dict[str, tuple[float, float]]:
    """Return {level: (accuracy, mean reasoning tokens)} of an evaluated model."""
    return {lv: (m.accuracy, m.reasoning_tokens_mean) for lv, m in model.levels.items()}


def summarize(results: Results, seeds: list[int], folders: dict[int, Path]) -> dict:
    """Return one method's row from one start (`results`: the start, then each seed's run, on the same rows):
    per-level accuracy and tokens (mean of the seeds), and per seed the gates passed (`shift_checks`,
    `two_sided_checks` and `learned_start_checks`, each decided over the run's gates, paired with the start)
    with the close calls, whether
    the run collapsed the start (accuracy below COLLAPSE x the start's) and when its health guard tripped."""
    start = results.models["start"]
    runs = {seed: results.models[f"seed{seed}"] for seed in seeds}
    mean = {
        lv: tuple(sum(level_cells(r)[lv][i] for r in runs.values()) / len(runs) for i in (0, 1))
        for lv in sorted(start.levels, key=float)
    }
    out = {}
    for seed, after in runs.items():
        comparison = results.comparisons[f"seed{seed}"]
        shift = decide(shift_checks(start, after, comparison.paired))
        two = decide(two_sided_checks(start, after))
        learned = decide(learned_start_checks(start, after, comparison.paired))
        health = folders[seed] / "health.json"
        out[seed] = {
            "accuracy": after.accuracy,
            "tokens": after.reasoning_tokens_mean,
            "shift_passed": sum(c.passed for c in shift),
            "shift_total": len(shift),
            "shift_close": sum(c.close for c in shift),
            "shift_failed": [c.name for c in shift if not c.passed],
            "two_sided_passed": sum(c.passed for c in two),
            "two_sided_total": len(two),
            "two_sided_failed": [c.name for c in two if not c.passed],
            "learned_passed": sum(c.passed for c in learned),
            "learned_total": len(learned),
            "learned_failed": [c.name for c in learned if not c.passed],
            "collapsed": after.accuracy < COLLAPSE * start.accuracy,
            "guard_tripped_at": json.loads(health.read_text()).get("tripped_at_step")
            if health.exists()
            else None,
        }
    return {"levels": mean, "seeds": out}


def start_table(name: str, start: ModelResult, rows: dict[str, dict]) -> str:
    """Return the markdown table of one start: per level accuracy / tokens (the start's, then each method's
    mean over the seeds), the gates passed per seed and collapse."""
    levels = sorted(start.levels, key=float)
    head = " | ".join(f"L{lv}" for lv in levels)
    lines = [
        f"| {name} | {head} | all | shift gates (seeds) | two-sided gates | learned-start gates | collapsed "
        "| guard tripped |",
        "|---|" + "---|" * (len(levels) + 6),
    ]
    cells = " | ".join(f"{a:.2f} / {t:.1f}" for a, t in level_cells(start).values())
    lines.append(f"| start | {cells} | {start.accuracy:.3f} / {start.reasoning_tokens_mean:.1f} | | | | | |")
    for method, row in rows.items():
        seeds = row["seeds"].values()
        cells = " | ".join(f"{row['levels'][lv][0]:.2f} / {row['levels'][lv][1]:.1f}" for lv in levels)
        acc = sum(s["accuracy"] for s in seeds) / len(seeds)
        tokens = sum(s["tokens"] for s in seeds) / len(seeds)
        shift = ", ".join(f"{s['shift_passed']}/{s['shift_total']}" for s in seeds)
        two = ", ".join(f"{s['two_sided_passed']}/{s['two_sided_total']}" for s in seeds)
        learned = ", ".join(f"{s['learned_passed']}/{s['learned_total']}" for s in seeds)
        collapsed = ", ".join("yes" if s["collapsed"] else "no" for s in seeds)
        guard = ", ".join(str(s["guard_tripped_at"] or "-") for s in seeds)
        lines.append(
            f"| {method} | {cells} | {acc:.3f} / {tokens:.1f} | {shift} | {two} | {learned} | {collapsed} | {guard} |"
        )
    return "\n".join(lines)


def main() -> int:
    """Train and evaluate the grid, write OUT/report.md and OUT/summary.json; return 0."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--starts", nargs="+", default=list(STARTS), choices=list(STARTS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--steps", type=int, default=STEPS)
    ap.add_argument("--jobs", type=int, default=2, help="runs at a time (one CPU thread each)")
    ap.add_argument("--out", default="runs/methods_tiny")
    ap.add_argument("--estimate", action="store_true", help="print the CPU-time estimate and stop")
    args = ap.parse_args()
    minutes = estimate_cpu_minutes(args.methods, args.starts, args.seeds, args.steps)
    print(
        f"[methods] estimated CPU time: {minutes:.0f} min ({minutes / 60:.1f} h), {args.jobs} at a time",
        flush=True,
    )
    if args.estimate:
        return 0
    out = Path(args.out) if Path(args.out).is_absolute() else ROOT / args.out
    sfts = {name: sft_start(name, out) for name in args.starts}
    jobs = [(m, s, seed) for s in args.starts for m in args.methods for seed in args.seeds]
    with ThreadPoolExecutor(args.jobs) as pool:
        list(
            pool.map(
                lambda s: reference_accuracy(s, sfts[s], out),
                [s for s in args.starts if "adaptthink" in args.methods],
            )
        )
        # the configs are written here, one at a time (a write's temporary file is named by the process)
        settings = {(m, s): tiny_settings(m, s, out, sfts[s]) for s in args.starts for m in args.methods}
        runs = pool.map(lambda j: grpo(*j, settings[j[:2]], out, args.steps, sfts[j[1]]), jobs)
        folders = dict(zip(jobs, runs, strict=True))
        pairs = [(m, s) for s in args.starts for m in args.methods]
        evals = pool.map(
            lambda ms: eval_models(
                out / ms[1] / f"eval-{ms[0]}",
                {"start": sfts[ms[1]], **{f"seed{seed}": folders[(*ms, seed)] for seed in args.seeds}},
                STARTS[ms[1]].data,
            ),
            pairs,
        )
        evals = dict(zip(pairs, evals, strict=True))
        l1 = {}
        if "l1_max" in args.methods:
            config = l1_eval_config(out)
            runs = {s: {seed: folders[("l1_max", s, seed)] for seed in args.seeds} for s in args.starts}
            done = pool.map(lambda s: l1_budget_eval(s, sfts[s], runs[s], out, config), args.starts)
            l1 = dict(zip(args.starts, done, strict=True))
    summary, report = (
        {},
        [f"# Methods side by side, tiny model, {args.steps} GRPO steps, seeds {args.seeds}\n"],
    )
    for s in args.starts:
        start = evals[(args.methods[0], s)].models["start"]  # the same rows and greedy decoding in every eval
        rows = {
            m: summarize(evals[(m, s)], args.seeds, {seed: folders[(m, s, seed)] for seed in args.seeds})
            for m in args.methods
        }
        summary[s] = {"start": level_cells(start), "methods": rows}
        report.append(
            f"## {s} start (accuracy / mean reasoning tokens per level)\n\n{start_table(s, start, rows)}\n"
        )
        if s in l1:
            report.append(f"L1-Max at its budgets, {s} start:\n\n{l1_budget_table(l1[s])}\n")
    write_atomic(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    write_atomic(out / "report.md", "\n".join(report))
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
