"""Metric functions of the scaling eval: plain functions of lists, no model, no I/O.

Conventions: an empty input gives None (not 0, not NaN), so "no data" never reads as a score; every
token quantity is in reasoning tokens.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def mean(values: Sequence[float]) -> float | None:
    """Return the arithmetic mean of `values`, None when empty."""
    return sum(values) / len(values) if values else None


def std(values: Sequence[float]) -> float | None:
    """Return the population standard deviation of `values`, None when empty."""
    if not values:
        return None
    m = sum(values) / len(values)
    return math.sqrt(sum((v - m) ** 2 for v in values) / len(values))


def percentile(values: Sequence[float], q: float) -> float | None:
    """Return the q-th percentile (0..100) with linear interpolation between order statistics
    (numpy's default), None when empty. percentile(x, 50) is the median."""
    if not values:
        return None
    s = sorted(values)
    pos = (len(s) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Return the unbiased pass@k of one prompt with c correct among n samples (Chen et al. 2021):
    1 - C(n-c, k) / C(n, k), computed as a stable product. Raises when k > n."""
    if not 0 <= c <= n or k < 1 or k > n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


def ranks(values: Sequence[float]) -> list[float]:
    """Return the 1-based ranks of `values`, ties sharing the average of their ranks."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Return the Pearson correlation of x and y; None when fewer than 2 points or either is constant."""
    if len(x) != len(y):
        raise ValueError(f"pearson: lengths differ ({len(x)} vs {len(y)})")
    if len(x) < 2:
        return None
    mx, my = mean(x), mean(y)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    if sxx == 0 or syy == 0:
        return None
    return sxy / math.sqrt(sxx * syy)


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Return Spearman's rank correlation (Pearson of average ranks, so ties are handled); None when
    fewer than 2 points or either side is constant."""
    return pearson(ranks(x), ranks(y))


def budget_x(budget_tokens: int) -> float:
    """Return the x position of a budget on the log2 axis: log2(1 + budget_tokens), so budget 0 sits at 0."""
    return math.log2(1 + budget_tokens)


def curve_area_log2(curve: dict[int, float]) -> float | None:
    """Return the normalised area under an accuracy-vs-budget curve over log2 budget.

    With budgets B_0 < ... < B_m (reasoning tokens) and x_i = log2(1 + B_i), the area is the
    trapezoid integral of accuracy over x, divided by x_m - x_0: the mean accuracy over the log2
    budget range, in [0, 1]. Each doubling of the budget weighs the same. None with fewer than 2
    budgets.
    """
    points = sorted(curve.items())
    if len(points) < 2:
        return None
    xs = [budget_x(b) for b, _ in points]
    area = sum((xs[i + 1] - xs[i]) * (points[i][1] + points[i + 1][1]) / 2 for i in range(len(points) - 1))
    return area / (xs[-1] - xs[0])


def overthinking_tokens(free_tokens: int, correct_at: dict[int, bool]) -> int | None:
    """Return one row's overthinking: reasoning tokens spent past the smallest budget at which the
    answer was already right, max(0, free_tokens - B*), with B* the smallest budget (on the evaluated
    grid) whose completion was correct. None when no budget gave a right answer."""
    right = [b for b, ok in sorted(correct_at.items()) if ok]
    if not right:
        return None
    return max(0, free_tokens - right[0])


def oracle_ratio(tokens: Sequence[int], min_tokens: Sequence[int]) -> float | None:
    """Return total reasoning tokens over the total oracle minimum (sum/sum, so rows with a zero
    minimum do not divide by zero); 1.0 = as short as possible. None when the minimum sums to 0."""
    total_min = sum(min_tokens)
    return sum(tokens) / total_min if total_min > 0 else None


def interpolate(points: Sequence[tuple[float, float]], x: float) -> float | None:
    """Return y at x by linear interpolation of the (x, y) points (sorted by x here; equal x averaged);
    None when x lies outside their range."""
    merged: dict[float, list[float]] = {}
    for px, py in points:
        merged.setdefault(px, []).append(py)
    pts = sorted((px, sum(v) / len(v)) for px, v in merged.items())
    if not pts or x < pts[0][0] or x > pts[-1][0]:
        return None
    for (x0, y0), (x1, y1) in zip(pts, pts[1:], strict=False):
        if x0 <= x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return pts[0][1]


def token_matched(
    reference: Sequence[tuple[float, float]], other: Sequence[tuple[float, float]]
) -> list[dict]:
    """Return the accuracy of two checkpoints at equal mean reasoning-token spend.

    Each checkpoint is a list of (mean reasoning tokens, accuracy) points, one per budget. At every
    token level of either list that lies within both lists' ranges, both accuracies are read off by
    linear interpolation: a list of {"tokens", "reference", "other", "delta"} (delta = other -
    reference), ascending in tokens. Empty when the ranges do not overlap.
    """
    out = []
    for t in sorted({x for x, _ in reference} | {x for x, _ in other}):
        a, b = interpolate(reference, t), interpolate(other, t)
        if a is not None and b is not None:
            out.append({"tokens": t, "reference": a, "other": b, "delta": b - a})
    return out


def adherence(tokens: Sequence[int], budget_tokens: int) -> dict[str, float | None]:
    """Return how well reasoning-token counts `tokens` obey a requested budget B, under the names of their
    sources: L1's (Aggarwal & Welleck 2025) `mean_error_pct` = 100 (E[n] - B) / B (signed: > 0 means
    over budget) and `rmse_error_pct` = 100 sqrt(E[(n - B)^2]) / B (both None when B = 0), the
    `violation_rate` = share with n > B (hard violations) and s1's (Muennighoff et al. 2025) `control`
    = share with n <= B. All None when `tokens` is empty."""
    if not tokens:
        return {"mean_error_pct": None, "rmse_error_pct": None, "violation_rate": None, "control": None}
    over = mean([n > budget_tokens for n in tokens])
    return {
        "mean_error_pct": 100.0 * (mean(tokens) - budget_tokens) / budget_tokens if budget_tokens else None,
        "rmse_error_pct": (
            100.0 * math.sqrt(mean([(n - budget_tokens) ** 2 for n in tokens])) / budget_tokens
            if budget_tokens
            else None
        ),
        "violation_rate": over,
        "control": 1.0 - over,
    }


def usd_per_1k_requests(
    prompt_tokens_mean: float,
    completion_tokens_mean: float,
    input_usd_per_1m_tokens: float,
    output_usd_per_1m_tokens: float,
) -> float:
    """Return the price in USD of 1,000 requests that each read `prompt_tokens_mean` tokens and write
    `completion_tokens_mean` (reasoning tokens bill as output) at the given prices per 1M tokens."""
    return (
        1000
        * (prompt_tokens_mean * input_usd_per_1m_tokens + completion_tokens_mean * output_usd_per_1m_tokens)
        / 1_000_000
    )
