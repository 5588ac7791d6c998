"""Trainer parts of published methods, as pure functions on hand values: DAPO/DLER dynamic sampling
(train/dynamic_sampling.py) and Elastic Reasoning's thinking and solution budgets (train/elastic.py)."""

from __future__ import annotations

import math

import pytest

from thinkdial.train.dynamic_sampling import filtered_advantages, informative_groups, kept_rows
from thinkdial.train.elastic import cap_thinking, elastic_completion

# four groups of 4: mixed, all right, all wrong, mixed
REWARDS = [1.0, 0.0, 1.0, 0.0] + [1.0] * 4 + [0.0] * 4 + [0.5, 0.5, 1.0, 0.0]


def test_groups_with_one_reward_are_left_out():
    assert informative_groups(REWARDS, 4) == [True, False, False, True]
    assert kept_rows(REWARDS, 4) == [True] * 4 + [False] * 8 + [True] * 4
    assert informative_groups([0.3, 0.3, 0.3, 0.3], 2) == [False, False]


def test_advantages_without_scaling():
    assert filtered_advantages(REWARDS, 4, "none") == pytest.approx(
        [0.5, -0.5, 0.5, -0.5] + [0.0] * 8 + [0.0, 0.0, 0.5, -0.5]
    )


def test_batch_std_over_the_kept_rows_only():
    # kept rows 1,0,1,0,0.5,0.5,1,0: mean 0.5, squared deviations 6 x 0.25 = 1.5, Bessel std sqrt(1.5 / 7)
    a = 0.5 / (math.sqrt(3 / 14) + 1e-4)
    assert filtered_advantages(REWARDS, 4, "batch") == pytest.approx(
        [a, -a, a, -a] + [0.0] * 8 + [0.0, 0.0, a, -a]
    )


def test_group_std():
    # group 1: std sqrt(1 / 3); group 4: squared deviations 0.5, std sqrt(0.5 / 3)
    a, b = 0.5 / (math.sqrt(1 / 3) + 1e-4), 0.5 / (math.sqrt(1 / 6) + 1e-4)
    assert filtered_advantages(REWARDS, 4, "group") == pytest.approx(
        [a, -a, a, -a] + [0.0] * 8 + [0.0, 0.0, b, -b]
    )


def test_a_batch_without_informative_groups_gets_zero_advantages():
    assert filtered_advantages([1.0, 1.0, 0.0, 0.0], 2) == [0.0, 0.0, 0.0, 0.0]


def test_another_reward_decides_which_groups_stay():
    # DLER decides on correctness: a kept group whose total is flat gets 0, a dropped one 0 whatever its total
    assert filtered_advantages([1.0, 0.0, 0.2, 0.2], 2, "none", keep=[False, True]) == [0.0] * 4
    assert filtered_advantages([1.0, 0.0, 1.0, 0.0], 2, "none", keep=[True, False]) == [0.5, -0.5, 0.0, 0.0]


def test_unscored_rows_are_left_out_of_their_group():
    nan = float("nan")
    # a group with one scored reward has nothing to compare; an unscored row gets 0 and leaves the mean
    assert informative_groups([1.0, nan, 0.0, 1.0], 2) == [False, True]
    rewards = [1.0, nan, 0.0, 1.0, nan, nan]
    assert informative_groups(rewards, 3) == [True, False]
    assert filtered_advantages(rewards, 3, "none") == [0.5, 0.0, -0.5, 0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    "rewards, size, scale", [([1.0] * 5, 4, "batch"), ([1.0] * 4, 0, "batch"), ([1.0] * 4, 2, "x")]
)
def test_bad_arguments(rewards, size, scale):
    with pytest.raises(ValueError):
        filtered_advantages(rewards, size, scale)


CLOSE = 9  # the closing tag; 8 stands for the opening tag in the rows with start 1


@pytest.mark.parametrize(
    "completion, budget, start, expected",
    [
        ([1, 2, 9, 5, 6], 3, 0, ([1, 2, 9], False)),  # closes after 2 reasoning tokens
        ([1, 2, 3, 9, 5], 3, 0, ([1, 2, 3, 9], False)),  # closes right at the budget
        ([1, 2, 3, 4, 9, 5], 3, 0, ([1, 2, 3, 9], True)),  # still thinking: cut after 3, closed
        ([1, 2], 5, 0, ([1, 2, 9], True)),  # ended unclosed: closed, the solution pass follows
        ([8, 1, 2, 9, 5], 2, 1, ([8, 1, 2, 9], False)),  # its own opening tag first
        ([8, 1, 2, 9, 5], 1, 1, ([8, 1, 9], True)),
        ([9, 5], 0, 0, ([9], False)),  # a direct answer fits a budget of 0
        ([1, 9], 0, 0, ([9], True)),
    ],
)
def test_cap_thinking(completion, budget, start, expected):
    assert cap_thinking(completion, CLOSE, budget, start) == expected


def test_the_solution_is_capped_on_its_own():
    assert elastic_completion([1, 2, 9], [5, 6, 7], 2) == [1, 2, 9, 5, 6]
    assert elastic_completion([1, 2, 9], [5], 2) == [1, 2, 9, 5]
    with pytest.raises(ValueError):
        elastic_completion([9], [5], -1)
    with pytest.raises(ValueError):
        cap_thinking([1], CLOSE, -1)
