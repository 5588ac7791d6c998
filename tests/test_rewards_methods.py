"""The published methods' reward parts (rewards/methods.py) on hand-computed values.

Tiny char tokenizer: the think tags are one token each, every other character one token, so
`<think>xx</think>4` is 5 completion tokens with 2 reasoning tokens.
"""

from __future__ import annotations

import pickle

import pytest

from thinkdial.errors import UsageError
from thinkdial.rewards.batch import RewardRowError
from thinkdial.rewards.registry import REWARDS, get_reward
from thinkdial.rewards.score import advantages


def c(n: int, ans: str = "4") -> str:
    """A closed completion with `n` reasoning tokens and answer `ans` (n + 3 completion tokens for a one-character answer)."""
    return f"<think>{'x' * n}</think>{ans}"


def run(tokenizer, name, completions, params=None, answer="4", prompts=None, **columns):
    prompts = prompts or ["p"] * len(completions)
    answers = answer if isinstance(answer, list) else [answer] * len(completions)
    return get_reward(name, tokenizer, params)(
        prompts=prompts, completions=completions, answer=answers, **columns
    )


def test_both_are_registered_and_picklable(tiny_tokenizer):
    assert {"truncation", "constrained_no_think"} <= set(REWARDS)
    reward = get_reward("truncation", tiny_tokenizer, {"max_tokens": 5})
    assert pickle.loads(pickle.dumps(reward)).params.max_tokens == 5


def test_truncation_discards_a_completion_that_reaches_the_limit(tiny_tokenizer):
    comps = [c(1), c(2), c(1, "5"), "<think>xxxx", c(5)]  # 4, 5, 4, 5 and 8 completion tokens
    assert run(tiny_tokenizer, "truncation", comps, {"max_tokens": 5}) == [1.0, 0.0, 0.0, 0.0, 0.0]


def test_truncation_keeps_dlers_released_share(tiny_tokenizer):
    # NVlabs/DLER's stop_properly_penalty 0.1: a truncated right answer keeps 0.1, a wrong one 0
    params = {"max_tokens": 5, "truncated_share": 0.1}
    assert run(tiny_tokenizer, "truncation", [c(1), c(2), c(2, "5")], params) == pytest.approx(
        [1.0, 0.1, 0.0]
    )


def test_truncation_counts_the_answer_too(tiny_tokenizer):
    # 2 reasoning tokens + a 3-character answer = 7 completion tokens: over a limit of 6
    assert run(tiny_tokenizer, "truncation", [c(2, "444")], {"max_tokens": 6}, answer="444") == [0.0]
    assert run(tiny_tokenizer, "truncation", [c(2, "444")], {"max_tokens": 8}, answer="444") == [1.0]


def test_truncation_at_thinkprunes_tightening_limits(tiny_tokenizer):
    comps = [c(1), c(3), c(5)]  # 4, 6 and 8 completion tokens
    assert run(tiny_tokenizer, "truncation", comps, {"max_tokens": 9}) == [1.0, 1.0, 1.0]
    assert run(tiny_tokenizer, "truncation", comps, {"max_tokens": 7}) == [1.0, 1.0, 0.0]
    assert run(tiny_tokenizer, "truncation", comps, {"max_tokens": 5}) == [1.0, 0.0, 0.0]


def test_truncation_leaves_an_unparseable_gold_unscored(tiny_tokenizer):
    assert run(tiny_tokenizer, "truncation", [c(1)], {"max_tokens": 5}, answer=[""]) == [None]


@pytest.mark.parametrize("params", [{"max_tokens": 0}, {"max_tokens": 5, "truncated_share": 1.5}, {}])
def test_truncation_params_are_checked(tiny_tokenizer, params):
    with pytest.raises(UsageError):
        get_reward("truncation", tiny_tokenizer, params)


def test_constrained_no_think_on_hand_values(tiny_tokenizer):
    # delta 0.05, R_ref 0.25: direct right 0.05 + 1 - 0.25; direct wrong 0.05 - 0.25; thinking right 1 - 0.25;
    # thinking wrong -0.25; an unclosed empty block is no direct answer (and wrong)
    comps = [c(0), c(0, "5"), c(3), c(3, "5"), "<think>", "<think>  </think>4"]
    got = run(tiny_tokenizer, "constrained_no_think", comps, ref_accuracy=[0.25] * 6)
    assert got == pytest.approx([0.8, -0.2, 0.75, -0.25, -0.25, 0.8])


def test_constrained_no_think_delta_and_reference_per_row(tiny_tokenizer):
    got = run(tiny_tokenizer, "constrained_no_think", [c(0), c(2)], {"delta": 0.1}, ref_accuracy=[1.0, 0.0])
    assert got == pytest.approx([0.1, 1.0])


def test_constrained_no_think_reference_cancels_in_the_group_mean(tiny_tokenizer):
    # rewards with R_ref 0.5: 0.55, 0.5, -0.5 (mean 11/60); with R_ref 0: 1.05, 1.0, 0.0 (mean 41/60): the
    # centred advantages are the same, 11/30, 19/60, -41/60
    comps = [c(0), c(3), c(3, "5")]
    expected = pytest.approx([11 / 30, 19 / 60, -41 / 60])
    for reference in (0.5, 0.0):
        totals = run(tiny_tokenizer, "constrained_no_think", comps, ref_accuracy=[reference] * 3)
        assert advantages(totals, ["p"] * 3, "none") == expected


def test_constrained_no_think_rows_without_a_reference_are_unscored(tiny_tokenizer):
    got = run(tiny_tokenizer, "constrained_no_think", [c(0), c(1)], ref_accuracy=[None, 0.5])
    assert got == pytest.approx([None, 0.5])


def test_constrained_no_think_refuses_a_reference_outside_0_1(tiny_tokenizer):
    with pytest.raises(RewardRowError, match="ref_accuracy must be a number in"):
        run(tiny_tokenizer, "constrained_no_think", [c(0)], ref_accuracy=[1.5])


def test_constrained_no_think_needs_the_column(tiny_tokenizer):
    with pytest.raises(ValueError, match="ref_accuracy"):
        run(tiny_tokenizer, "constrained_no_think", [c(0)])
    with pytest.raises(UsageError):
        get_reward("constrained_no_think", tiny_tokenizer, {"delta": -0.1})
