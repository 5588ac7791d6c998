"""experiments/dial_gate_noise.py's statistics on hand values: the paired gap, its standard error, the pass chance."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

SPEC = importlib.util.spec_from_file_location(
    "dial_gate_noise", Path(__file__).resolve().parents[1] / "experiments" / "dial_gate_noise.py"
)
noise = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(noise)


def row(dial: bool, forcing: bool) -> dict:
    return {"requested": {"2": {"correct": dial}}, "budgets": {"2": {"correct": forcing}}}


def test_paired_gap_pairs_each_rows_dial_and_forcing_answers():
    rows = [row(True, False), row(False, True), row(True, True), row(False, True)]
    dial, forcing, gap, se = noise.paired_gap(rows, "2")
    assert (dial, forcing, gap) == (50.0, 75.0, -25.0)
    # differences 1, -1, 0, -1: sample variance 2.75 / 3 over 4 rows
    assert se == pytest.approx(100 * math.sqrt(2.75 / 3 / 4))


def test_rows_both_policies_get_right_add_no_noise():
    rows = [row(True, True)] * 5 + [row(False, False)] * 5
    assert noise.paired_gap(rows, "2") == (50.0, 50.0, 0.0, 0.0)


@pytest.mark.parametrize(
    ("gap", "se", "expected"),
    [(-1.0, 0.5, 0.5), (0.0, 1.0, 0.8413), (-2.0, 1.0, 0.1587), (0.0, 0.0, 1.0), (-1.5, 0.0, 0.0)],
)
def test_pass_chance_is_the_normal_mass_above_the_tolerance(gap, se, expected):
    assert noise.pass_chance(gap, se) == pytest.approx(expected, abs=1e-4)
