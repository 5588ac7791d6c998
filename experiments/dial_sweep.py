"""The dial at tight budgets: GRPO variants of the demo from the same SFT start, the demo's eval and gates.

Every variant is `thinkdial demo` with one thing changed in GRPO (the SFT start, recipe, seeds and eval are
the demo's): the KL anchor to the start (`beta`; the variants marked EARLIER_KL were measured with the
anchor of 0.04 this sweep replaced by 0.2), the default reward's in-budget share floor (`budget_floor`, the
share of the reward a correct answer keeps when it uses its whole budget), its charge on wrong answers
within a budget (`wasted_budget_penalty`) and past it (`over_budget_penalty`), the budgets GRPO draws, no
budget rows in GRPO at all (the dial from SFT only), level 1's share of GRPO's prompts, budgets drawn
relative to each row's minimal chain (`dial.need_relative_share`; the demo draws half its budget prompts so,
`need_half` from half the need instead of a third, `log_uniform` none), budget-constrained rollouts cutting
half of a group's over-budget completions (`budget_cut_share`), or twice the GRPO steps (`steps1200`). The
demo's SFT start learnt the tight budgets from need-relative rows (experiments/dial_cell.py, level 6 at B = 4:
past the budget on 0% of greedy / 1% of sampled completions; the earlier start, log-uniform budgets only,
12% / 33%, the variants from `kl0.04` on were measured from it). Printed per variant: gates passed (of
the demo's), dial gates failed, Control (share of rows within the requested budget) at B = 1 / 2 / 4, the
dial's accuracy minus the same model's budget forcing at B, and what that forcing keeps when it obeys the
half-budget gate too (pipeline/gates.py `half_budget_forcing`) minus forcing: where it is below -1, the dial's
accuracy gate cannot pass at that budget without failing the half-budget gate.

    .venv/bin/python experiments/dial_sweep.py [--variants ...] [--seeds 0 1] [--start runs/demo/sft] [--out runs/dial_sweep]

Other seeds go to their own folder: `--seeds 2 3 --out runs/dial_sweep_seeds2-3`.

About 8 minutes per variant (two one-thread GRPO runs side by side, then the eval; `steps1200` twice that);
runs are resumable.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import yaml

from thinkdial.eval.schema import load_results
from thinkdial.io import read_yaml_mapping
from thinkdial.pipeline.demo import GRPO_RECIPE, START, run_demo, seed_label
from thinkdial.pipeline.gates import decide, dial_checks, half_budget_forcing

ROOT = Path(__file__).resolve().parents[1]
REWARD = "configs/rewards/adaptive.yaml"
TIGHT = ("1", "2", "4")

# the demo's need-relative GRPO budgets from half a row's need instead of a third: level 3 never at B = 1
NEED_HALF = {"need_factor_min": 0.5}
# GRPO budgets as before need-relative ones (log-uniform 1-32 only): every variant measured from the earlier
# SFT start (below) keeps them, so that start reproduces its table row for row
LOG_UNIFORM = {"need_relative_share": 0.0}
# half the budget rows at and one short of the row's need
NEED = {"need_relative_share": 0.5, "need_factor_min": 0.5, "need_factor_max": 1.0}
NEED_WIDE = {**NEED, "need_factor_min": 0.125}  # ... down to an eighth of it
CUT_HALF = ["--budget_constrained_rollouts", "true", "--budget_cut_share", "0.5"]
BUDGETS_16 = {"dial": {**LOG_UNIFORM, "budget_tokens_max": 16}}  # GRPO budgets 1-16 instead of 1-32
EARLIER = {"dial": LOG_UNIFORM}

# the KL anchor before this sweep chose 0.2; the variants that name it were measured with it
EARLIER_KL = ["--beta", "0.04"]

# variant -> (two_sided params changed, GRPO data config keys changed (its dial block: keys changed, or None
# to drop it), GRPO recipe fields changed). Measured from the demo's start (SFT with need-relative budgets,
# configs/tiny/sft_data.yaml) and from the earlier start (SFT with log-uniform budgets only, `--start` a start
# trained on that config), where `log_uniform` was the default; the variants from `kl0.04` on, from that one.
VARIANTS = {
    "default": ({}, {}, []),
    "need_half": ({}, {"dial": NEED_HALF}, []),
    "log_uniform": ({}, EARLIER, []),
    "kl0.04": ({}, EARLIER, EARLIER_KL),
    "kl0.1": ({}, EARLIER, ["--beta", "0.1"]),
    "kl0.3": ({}, EARLIER, ["--beta", "0.3"]),
    "kl0.4": ({}, EARLIER, ["--beta", "0.4"]),
    "budgets1-16": ({}, BUDGETS_16, []),
    "kl0.2_over1.0": ({"over_budget_penalty": 1.0}, EARLIER, []),
    "steps1200": ({}, EARLIER, ["--max_steps", "1200"]),  # twice the demo's GRPO steps (and its time)
    "kl0.1_budgets1-16": ({}, BUDGETS_16, ["--beta", "0.1"]),
    "kl0.1_floor0.8": ({"budget_floor": 0.8}, EARLIER, ["--beta", "0.1"]),
    "budgets1-16_kl0.04": ({}, BUDGETS_16, EARLIER_KL),
    "floor0.5_wasted0.25": ({"wasted_budget_penalty": 0.25}, EARLIER, EARLIER_KL),
    "floor0.65": ({"budget_floor": 0.65}, EARLIER, EARLIER_KL),
    "floor0.8": ({"budget_floor": 0.8}, EARLIER, EARLIER_KL),
    "floor0.8_wasted0.25": ({"budget_floor": 0.8, "wasted_budget_penalty": 0.25}, EARLIER, EARLIER_KL),
    "floor1.0_wasted0.25": ({"budget_floor": 1.0, "wasted_budget_penalty": 0.25}, EARLIER, EARLIER_KL),
    "floor1.0_wasted0.5_over1.0": (
        {"budget_floor": 1.0, "wasted_budget_penalty": 0.5, "over_budget_penalty": 1.0},
        EARLIER,
        EARLIER_KL,
    ),
    "no_budget_rows": ({}, {"dial": None}, EARLIER_KL),
    "level1_quarter": ({}, {**EARLIER, "level_weights": [8, 4, 4, 4, 4, 4, 4, 4]}, EARLIER_KL),
    "need0.5": ({}, {"dial": NEED}, EARLIER_KL),
    "need0.5_floor0.8": ({"budget_floor": 0.8}, {"dial": NEED}, EARLIER_KL),
    "need0.5_wide": ({}, {"dial": NEED_WIDE}, EARLIER_KL),
    "need0.5_wide_floor0.8": ({"budget_floor": 0.8}, {"dial": NEED_WIDE}, EARLIER_KL),
    "cut0.5": ({}, EARLIER, [*EARLIER_KL, *CUT_HALF]),
    "need0.5_wide_cut0.5": ({}, {"dial": NEED_WIDE}, [*EARLIER_KL, *CUT_HALF]),
}


def write_configs(folder: Path, reward_params: dict, data_changes: dict) -> list[str]:
    """Write the variant's reward and data configs into `folder`; return the GRPO arguments that use them."""
    reward = read_yaml_mapping(ROOT / REWARD, "reward config")
    for component in reward["rewards"]:
        if component["name"] == "two_sided":
            component["params"].update(reward_params)
    data_config = read_yaml_mapping(ROOT / GRPO_RECIPE, "recipe")["data_config"]
    data = read_yaml_mapping(ROOT / data_config, "data config")
    for key, value in data_changes.items():
        if key == "dial" and value is None:
            del data["dial"]
        elif key == "dial":
            data["dial"].update(value)
        else:
            data[key] = value
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "reward.yaml").write_text(yaml.safe_dump(reward, sort_keys=False))
    (folder / "grpo_data.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return ["--reward_config", str(folder / "reward.yaml"), "--data_config", str(folder / "grpo_data.yaml")]


def row(name: str, seeds: list[int], checks: list, results_path: Path) -> str:
    """Return the variant's table row from its gates (all of the demo's) and results.json."""
    models = load_results(results_path).models
    control, gap, half, dial_failed = [], [], [], 0
    for seed in map(seed_label, seeds):
        q = models[seed].dial.requested
        control.append(" / ".join(f"{q[b].control:.3f}" for b in TIGHT))
        gap.append(" / ".join(f"{100 * (q[b].accuracy - q[b].forcing_accuracy):+.1f}" for b in TIGHT))
        half.append(
            " / ".join(
                f"{100 * (half_budget_forcing(models[seed], b) - q[b].forcing_accuracy):+.1f}" for b in TIGHT
            )
        )
        dial_failed += sum(not c.passed for c in decide(dial_checks(models[seed], models[START])))
    passed = sum(c.passed for c in checks)
    columns = [
        name,
        f"{passed}/{len(checks)}",
        str(dial_failed),
        *("; ".join(c) for c in (control, gap, half)),
    ]
    return f"| {' | '.join(columns)} |"


def main() -> int:
    """Run (unless done) every variant, print the table; return 0."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--start", default="runs/demo/sft", help="the SFT start (the demo's)")
    ap.add_argument("--out", default="runs/dial_sweep", help="one folder per variant under it (per seed set)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1], help="GRPO seeds (the demo's: 0 1)")
    args = ap.parse_args()
    os.chdir(ROOT)  # the demo's stages name their recipes relative to the repository
    out, rows = ROOT / args.out, []
    for name in args.variants:
        folder = out / name
        if not (folder / "sft").exists():
            shutil.copytree(ROOT / args.start, folder / "sft")
        reward_params, data_changes, recipe = VARIANTS[name]
        grpo = [*write_configs(folder, reward_params, data_changes), *recipe, "--save_strategy", "no"]
        checks = run_demo(folder, seeds=args.seeds, overrides={"grpo": grpo})
        rows.append(row(name, args.seeds, checks, folder / "eval" / "results.json"))
    seeds = "; ".join(f"seed {s}" for s in args.seeds)
    print(
        f"\n| GRPO variant | gates | dial gates failed | Control B=1 / 2 / 4 ({seeds}) | "
        f"dial - forcing at B=1 / 2 / 4, points ({seeds}) | half-budget forcing - forcing, points ({seeds}) |"
    )
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
