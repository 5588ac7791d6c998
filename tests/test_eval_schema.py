"""results.json's schema (eval/schema.py) and the cost view's Pareto front, on hand-made values."""

from __future__ import annotations

import pytest

from thinkdial.errors import UsageError
from thinkdial.eval.dial_report import dial_cost_verdict, dominated_by, forcing_at_cost
from thinkdial.eval.schema import SCHEMA, CostEntry, CostView, Results


def entry(accuracy: float, prompt: float, completion: float) -> CostEntry:
    return CostEntry(accuracy, prompt, completion, prompt + completion, None, None)


def minimal(**models) -> dict:
    return {
        "schema": SCHEMA,
        "data": {"config": "d.yaml", "split": "test", "rows": 4},
        "eval": {"max_reasoning_tokens": 48},
        "models": models,
        "comparisons": {},
    }


def test_a_results_file_parses_into_typed_objects_and_back():
    raw = minimal()
    raw["comparisons"] = {
        "b": {
            "reference": "a",
            "accuracy_delta": 0.5,
            "accuracy_direct_delta": None,
            "direct_rate_delta": 0,
            "reasoning_tokens_mean_delta": -2.0,
            "budget_curve_area_log2_delta": None,
            "token_matched": [{"tokens": 1, "reference": 0.25, "other": 0.75, "delta": 0.5}],
            "paired": {"all": {"n": 4, "gained": 2, "lost": 0}},
        }
    }
    results = Results.from_dict(raw)
    comparison = results.comparisons["b"]
    assert comparison.paired["all"].gained == 2 and comparison.token_matched[0].delta == 0.5
    assert comparison.direct_rate_delta == 0.0 and isinstance(comparison.direct_rate_delta, float)
    assert results.to_dict()["comparisons"]["b"]["token_matched"][0]["tokens"] == 1.0


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"schema": "thinkdial.eval/1"},
            "schema 'thinkdial.eval/1', this thinkdial reads 'thinkdial.eval/2'",
        ),
        ({"extra": 1}, r"results.json: unknown key\(s\) \['extra'\]"),
        ({"data": {"config": "d.yaml", "split": "test"}}, "results.json.data: missing key 'rows'"),
        (
            {"data": {"config": "d.yaml", "split": "test", "rows": "4"}},
            "results.json.data.rows: expected int",
        ),
    ],
)
def test_a_file_that_drifted_from_the_schema_is_refused_naming_the_key(change, message):
    with pytest.raises(UsageError, match=message):
        Results.from_dict({**minimal(), **change})


def test_the_pareto_front_and_forcing_at_equal_cost():
    settings = [
        ("free (adaptive)", entry(1.0, 11, 7)),  # 18 tokens
        ("forcing B=0", entry(0.2, 11, 3)),  # 14
        ("forcing B=4", entry(0.6, 11, 7)),  # 18: as dear as free, less accurate
        ("dial B=4", entry(0.6, 22, 6)),  # 28: dominated by free
        ("dial B=1", entry(0.3, 22, 3.5)),  # 25.5
    ]
    assert dominated_by(settings) == {
        "forcing B=4": "free (adaptive)",
        "dial B=4": "free (adaptive)",
        "dial B=1": "free (adaptive)",
    }
    cost = CostView(
        free=settings[0][1],
        forcing={"0": settings[1][1], "4": settings[2][1]},
        requested={"4": settings[3][1], "1": settings[4][1]},
        efforts={},
    )
    assert forcing_at_cost(cost, 16.0) == pytest.approx(
        0.5
    )  # half way from (14, 0.2) to (18, 0.8): 0.6 and 1.0 averaged
    assert forcing_at_cost(cost, 28.0) == 1.0  # dearer than any forcing point: forcing's best
    assert forcing_at_cost(cost, 10.0) is None  # cheaper than any
    verdict = dial_cost_verdict("seed0", cost)
    assert (
        "2 of 2 dial settings are dominated at equal total tokens (by free (adaptive): dial B=4, dial B=1)"
        in verdict
    )
    assert "The control text adds 11.0 prompt tokens a request; the dial saves at most 3.5" in verdict
    assert verdict.endswith("so here obeying a budget costs more than it saves.")
