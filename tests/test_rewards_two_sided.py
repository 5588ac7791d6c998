"""The default two-sided reward on hand-computed groups (all wrong, all right, mixed), and the advantages GRPO
would give them under each `scale_rewards` (tiny char tokenizer: reasoning tokens = characters)."""

from __future__ import annotations

import json

import pytest
import torch
from trl.trainer.utils import nanstd

from thinkdial.cli import main
from thinkdial.io import write_jsonl
from thinkdial.rewards.config import load_reward_config
from thinkdial.rewards.registry import build_reward_funcs, get_reward
from thinkdial.rewards.score import advantages, score_rows

PARAMS = {"max_tokens": 48}  # beta 0.25, direct_bonus 0.5, min_direct_samples 4, reliable_solve_rate 0.5


def c(n: int, ans: str = "4") -> str:
    """A closed completion with `n` reasoning tokens and answer `ans` (gold is 4)."""
    return f"<think>{'x' * n}</think>{ans}"


def two_sided(tokenizer, completions, prompts=None, difficulty=None, **params):
    reward = get_reward("two_sided", tokenizer, {**PARAMS, **params})
    n = len(completions)
    columns = {} if difficulty is None else {"difficulty": difficulty}
    return reward(prompts=prompts or ["p"] * n, completions=completions, answer=["4"] * n, **columns)


def test_an_all_wrong_group_gets_the_same_reward_on_every_row(tiny_tokenizer):
    assert two_sided(tiny_tokenizer, [c(2, "5"), c(6, "5"), c(12, "5"), c(20, "5")]) == [0.0, 0.0, 0.0, 0.0]


def test_an_all_right_group_pays_shorter_correct_answers_more(tiny_tokenizer):
    got = two_sided(tiny_tokenizer, [c(0), c(2), c(4), c(8)])  # one direct answer: too few to trust, no bonus
    assert got == pytest.approx([1.0, 1 - 0.25 * 2 / 48, 1 - 0.25 * 4 / 48, 1 - 0.25 * 8 / 48])


def test_the_length_charge_stops_at_max_tokens_so_a_right_answer_keeps_one_less_beta(tiny_tokenizer):
    # 1,000 reasoning tokens on the 48-token scale are charged as 48: 1 - 0.25, not 1 - 0.25 * 1000 / 48
    assert two_sided(tiny_tokenizer, [c(48), c(1000)]) == pytest.approx([0.75, 0.75])


def test_direct_answers_win_most_at_a_level_where_the_batch_shows_they_cost_no_accuracy(tiny_tokenizer):
    comps = [c(0)] * 4 + [c(2)] * 4
    got = two_sided(tiny_tokenizer, comps, difficulty=[1] * 8)
    assert got == pytest.approx([1.5] * 4 + [1 - 0.25 * 2 / 48] * 4)
    # one wrong direct answer at the level (in another group) and no direct answer is paid the bonus
    prompts, more = ["p"] * 8 + ["q"] * 2, comps + [c(0, "5"), c(1)]
    got = two_sided(tiny_tokenizer, more, prompts=prompts, difficulty=[1] * 10)
    assert got[:4] == pytest.approx([1.0] * 4)
    # evidence is per level: direct answers at level 2 do not lend level 1 their record
    got = two_sided(tiny_tokenizer, comps, difficulty=[2, 2, 2, 2, 1, 1, 1, 1])
    assert got[:4] == pytest.approx([1.5] * 4)


def test_direct_answers_under_a_budget_are_no_evidence_for_rows_without_one(tiny_tokenizer):
    # four direct answers forced by budget 0 and one free direct answer at level 1: only the free one counts
    # (1 < min_direct_samples 4), so neither the free direct answer nor the forced ones get the bonus
    reward = get_reward("two_sided", tiny_tokenizer, PARAMS)
    comps = [c(0)] * 4 + [c(0), c(2), c(2), c(2)]
    got = reward(
        prompts=["b"] * 4 + ["p"] * 4,
        completions=comps,
        answer=["4"] * 8,
        difficulty=[1] * 8,
        budget=[0] * 4 + [None] * 4,
    )
    assert got == pytest.approx([1.0] * 4 + [1.0] + [1 - 0.25 * 2 / 48] * 3)


def test_a_reliably_solved_mixed_group_charges_correct_answers_only(tiny_tokenizer):
    got = two_sided(tiny_tokenizer, [c(2), c(6), c(0, "5"), c(10, "5")])  # p = 0.5
    assert got == pytest.approx([1 - 0.25 * 0.5 * 2 / 48, 1 - 0.25 * 0.5 * 6 / 48, 0.0, 0.0])


def test_below_the_reliable_solve_rate_only_correctness_pays(tiny_tokenizer):
    assert two_sided(tiny_tokenizer, [c(1), c(6, "5"), c(0, "5"), c(30, "5")]) == [
        1.0,
        0.0,
        0.0,
        0.0,
    ]  # p = 0.25
    assert two_sided(tiny_tokenizer, [c(1), c(6, "5"), c(0, "5"), c(30, "5")], reliable_solve_rate=0.25)[
        0
    ] == pytest.approx(1 - 0.25 * 0.25 * 1 / 48)


@pytest.mark.parametrize(
    "bad", [{"beta": 1.5}, {"reliable_solve_rate": 0.0}, {"direct_bonus": -1.0}, {"min_direct_samples": 0}]
)
def test_out_of_range_params_are_refused(tiny_tokenizer, bad):
    with pytest.raises(ValueError):
        get_reward("two_sided", tiny_tokenizer, {**PARAMS, **bad})


def trl_advantages(totals: list[float], group_size: int, scale_rewards: str) -> list[float]:
    """The advantages of TRL's GRPOTrainer (sum_then_normalize) for consecutive groups of `group_size` rows."""
    rewards = torch.tensor(totals, dtype=torch.float64)
    mean = torch.nanmean(rewards.view(-1, group_size), dim=1).repeat_interleave(group_size)
    if scale_rewards == "batch":
        std = nanstd(rewards).expand_as(rewards)
    else:
        std = nanstd(rewards.view(-1, group_size), dim=1).repeat_interleave(group_size)
    adv = rewards - mean
    return (adv if scale_rewards == "none" else adv / (std + 1e-4)).tolist()


GROUPS = [
    ("wrong", [c(2, "5"), c(6, "5"), c(12, "5"), c(20, "5")]),
    ("right", [c(0), c(2), c(4), c(8)]),
    ("mixed", [c(1), c(6, "5"), c(0, "5"), c(30, "5")]),
]


@pytest.mark.parametrize("scale_rewards", ["group", "batch", "none"])
def test_advantages_match_trls_computation(tiny_tokenizer, scale_rewards):
    rows = [{"prompt": name, "completion": comp, "answer": "4"} for name, comps in GROUPS for comp in comps]
    for config in ("configs/rewards/adaptive.yaml", "configs/rewards/solve_rate.yaml"):
        funcs, weights = build_reward_funcs(load_reward_config(config), tiny_tokenizer)
        totals = [r["total"] for r in score_rows(rows, funcs, weights)]
        got = advantages(totals, [r["prompt"] for r in rows], scale_rewards)
        assert got == pytest.approx(trl_advantages(totals, 4, scale_rewards), rel=1e-6, abs=1e-9)


def test_the_default_gives_an_all_wrong_group_no_push_where_a_length_charge_would_say_shorter(tiny_tokenizer):
    wrong = [{"prompt": "w", "completion": comp, "answer": "4"} for comp in GROUPS[0][1]]
    default = build_reward_funcs(load_reward_config("configs/rewards/adaptive.yaml"), tiny_tokenizer)
    charged = build_reward_funcs(load_reward_config("configs/rewards/solve_rate.yaml"), tiny_tokenizer)
    keys = ["w"] * 4
    assert advantages([r["total"] for r in score_rows(wrong, *default)], keys, "group") == [0.0] * 4
    pushed = advantages([r["total"] for r in score_rows(wrong, *charged)], keys, "group")
    assert pushed[0] > 1.0 and pushed[-1] < -1.0  # std scaling turns a tiny length charge into "be shorter"


def test_rewards_score_prints_the_advantage_of_every_row(tmp_path, capsys):
    rows = [{"prompt": "m", "completion": comp, "answer": "4"} for comp in GROUPS[2][1]]
    write_jsonl(tmp_path / "in.jsonl", rows)
    assert (
        main(
            [
                "rewards",
                "score",
                "--config",
                "configs/rewards/adaptive.yaml",
                "--input",
                str(tmp_path / "in.jsonl"),
                "--advantages",
                "group",
            ]
        )
        == 0
    )
    got = [json.loads(line)["advantage"] for line in capsys.readouterr().out.splitlines()]
    # totals 1, 0, 0, 0: mean 0.25, Bessel std 0.5
    assert got == pytest.approx([0.75 / 0.5001, -0.25 / 0.5001, -0.25 / 0.5001, -0.25 / 0.5001])


def dial(tok, completions, budget, **params):
    reward = get_reward("two_sided", tok, {**PARAMS, **params})
    n = len(completions)
    return reward(prompts=["p"] * n, completions=completions, answer=["4"] * n, budget=[budget] * n)


def test_rows_without_a_budget_are_not_touched_by_the_budget_rule(tiny_tokenizer):
    comps = [c(0), c(2), c(4), c(8, "5")]
    assert dial(tiny_tokenizer, comps, None) == two_sided(tiny_tokenizer, comps)


def test_a_budget_pays_chains_that_fit_it_less_the_more_they_use_and_charges_one_past_it(tiny_tokenizer):
    # all four correct: p = 1, two_sided base 1 - 0.25 n / 48; factor 1 - 0.5 n / 8; -0.5 past 8
    got = dial(tiny_tokenizer, [c(0), c(4), c(8), c(9)], 8)
    base = [1.0, 1 - 0.25 * 4 / 48, 1 - 0.25 * 8 / 48]
    assert got == pytest.approx([base[0], base[1] * (1 - 0.5 * 4 / 8), base[2] * 0.5, -0.5])


def test_below_what_a_problem_needs_a_direct_answer_beats_a_chain_cut_short(tiny_tokenizer):
    # budget 2: the direct guess (right) keeps its reward; a 2-token chain that guessed right keeps half
    got = dial(tiny_tokenizer, [c(0), c(2), c(0, "5"), c(6)], 2)  # p = 0.75
    assert got[0] > got[1] > got[2] == 0.0 > got[3] == -0.5  # wrong within the budget beats right past it
    assert dial(tiny_tokenizer, [c(0), c(1)], 0) == [
        pytest.approx(1.0),
        -0.5,
    ]  # budget 0: only an empty block


def test_a_wrong_answer_within_a_budget_is_charged_for_the_share_of_it_used(tiny_tokenizer):
    # budget 4, wasted_budget_penalty 0.25: wrong answers pay -0.25 n / 4 (a wrong direct answer nothing);
    # right ones are untouched by it; no budget, no charge (two_sided never charges a wrong answer's length)
    comps = [c(0, "5"), c(2, "5"), c(4, "5"), c(4), c(5, "5")]
    got = dial(tiny_tokenizer, comps, 4, wasted_budget_penalty=0.25)
    assert got[:3] == pytest.approx([0.0, -0.25 * 2 / 4, -0.25])
    assert got[3:] == pytest.approx(dial(tiny_tokenizer, comps, 4)[3:])
    assert dial(tiny_tokenizer, comps, None, wasted_budget_penalty=0.25) == two_sided(tiny_tokenizer, comps)


def test_a_right_answer_whose_reward_is_spent_by_its_length_is_not_charged_as_wrong(tiny_tokenizer):
    # beta 1, all right (p = 1), n = max_tokens: two_sided gives 0 before the budget; it is not a wasted budget
    got = dial(tiny_tokenizer, [c(48)] * 4, 48, beta=1.0, wasted_budget_penalty=0.25)
    assert got == pytest.approx([0.0] * 4)
