"""Scaling-eval metric functions against hand-computed values."""

import math

import pytest

from thinkdial.eval import metrics


def test_pass_at_k_unbiased_estimator():
    assert metrics.pass_at_k(5, 2, 1) == pytest.approx(0.4)
    assert metrics.pass_at_k(5, 2, 2) == pytest.approx(1 - 3 / 10)  # 1 - C(3,2)/C(5,2)
    assert metrics.pass_at_k(5, 0, 3) == 0.0
    assert metrics.pass_at_k(5, 3, 3) == 1.0  # fewer than k wrong samples: some draw of k always passes
    with pytest.raises(ValueError):
        metrics.pass_at_k(2, 1, 3)


def test_ranks_average_ties():
    assert metrics.ranks([3, 1, 3]) == [2.5, 1.0, 2.5]


def test_spearman_hand_values():
    assert metrics.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert metrics.spearman([1, 2, 3, 4], [9, 7, 5, 1]) == pytest.approx(-1.0)
    # x ranks [1, 2.5, 2.5, 4], y ranks [1, 2, 3, 4]: sxy = 4.5, sxx = 4.5, syy = 5
    assert metrics.spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(4.5 / math.sqrt(4.5 * 5))
    assert metrics.spearman([1, 1, 1], [1, 2, 3]) is None
    assert metrics.spearman([1], [2]) is None


def test_curve_area_log2():
    # x = log2(1 + B): 0, 1, 2. Trapezoids 0.5 + 1.0 over a range of 2.
    assert metrics.curve_area_log2({0: 0.0, 1: 1.0, 3: 1.0}) == pytest.approx(0.75)
    assert metrics.curve_area_log2({0: 0.4, 48: 0.4}) == pytest.approx(0.4)
    assert metrics.curve_area_log2({8: 0.5}) is None


def test_overthinking_tokens():
    assert metrics.overthinking_tokens(10, {0: False, 4: True, 8: True, 48: True}) == 6
    assert metrics.overthinking_tokens(3, {0: False, 4: True}) == 0
    assert metrics.overthinking_tokens(7, {0: True, 8: False}) == 7
    assert metrics.overthinking_tokens(7, {0: False, 8: False}) is None


def test_oracle_ratio_and_percentiles():
    assert metrics.oracle_ratio([4, 8], [1, 2]) == pytest.approx(4.0)
    assert metrics.oracle_ratio([4], [0]) is None
    assert metrics.percentile([1, 2, 3, 4], 50) == pytest.approx(2.5)
    assert metrics.percentile([1, 2, 3, 4], 90) == pytest.approx(3.7)
    assert metrics.percentile([], 50) is None and metrics.mean([]) is None


def test_token_matched_comparison():
    ref, other = [(0, 0.1), (10, 0.5)], [(0, 0.2), (4, 0.6)]
    points = metrics.token_matched(ref, other)
    assert [p["tokens"] for p in points] == [0, 4]  # 10 lies outside `other`'s range
    assert points[1]["reference"] == pytest.approx(0.26)
    assert points[1]["other"] == pytest.approx(0.6)
    assert points[1]["delta"] == pytest.approx(0.34)
    assert metrics.token_matched([(0, 0.1), (2, 0.2)], [(5, 0.3), (9, 0.4)]) == []
