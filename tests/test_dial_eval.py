"""The dial in the scaling eval: adherence metrics, a scripted policy's obedience, the eval's files and cost
view, and bad dial settings in the eval config."""

import json

import pytest
import yaml
from test_dial_generate import tiny_checkpoint

from thinkdial.cli import main
from thinkdial.data.completion import THINK_CLOSE, THINK_OPEN
from thinkdial.eval import metrics
from thinkdial.eval.callback import scalar_logs
from thinkdial.eval.config import load_eval_config
from thinkdial.eval.run import evaluate, load_eval_rows, run_eval
from thinkdial.eval.schema import load_results
from thinkdial.eval.summary import model_summary

DIAL_EVAL = {
    "limit": 8,
    "budgets": [0, "unlimited"],
    "max_reasoning_tokens": 8,
    "max_answer_tokens": 2,
    "batch_size": 64,
    "progress": False,
    "samples_per_level": 1,
    "requested_budgets": [2, 4],
    "efforts": ["low", "high"],
    "effort_budgets": {"low": 1, "high": 6},
}


def test_adherence_metrics_on_hand_values():
    # n = 2, 4, 6, 12 against B = 4: E[n] = 6; squared errors 4, 0, 4, 64 -> RMSE sqrt(18)
    assert metrics.adherence([2, 4, 6, 12], 4) == pytest.approx(
        {"mean_error_pct": 50.0, "rmse_error_pct": 100 * 18**0.5 / 4, "violation_rate": 0.5, "control": 0.5}
    )
    assert metrics.adherence([1, 3], 4)["mean_error_pct"] == pytest.approx(-50.0)
    at_zero = metrics.adherence([0, 0, 3], 0)
    assert at_zero["mean_error_pct"] is None and at_zero["rmse_error_pct"] is None
    assert at_zero["violation_rate"] == pytest.approx(1 / 3) and at_zero["control"] == pytest.approx(2 / 3)
    assert set(metrics.adherence([], 4).values()) == {None}
    # 100 prompt tokens at $1 / 1M and 300 completion tokens at $4 / 1M: $0.0013 a request
    assert metrics.usd_per_1k_requests(100, 300, 1.0, 4.0) == pytest.approx(1.3)


class ObedientBackend:
    """A fake policy that reads the control text: after `[think<=B] ` it thinks `scale` * B tokens, after
    `[effort=X] ` `scale` * TIERS[X], else 3; then it closes the block and answers '7'."""

    name = "obedient"

    def __init__(self, tokenizer, scale: int, tiers: dict):
        self.tokenizer, self.scale, self.tiers = tokenizer, scale, tiers

    def _think(self, prompt: str) -> int:
        if prompt.startswith("[think<="):
            return self.scale * int(prompt[len("[think<=") : prompt.index("]")])
        if prompt.startswith("[effort="):
            return self.scale * self.tiers[prompt[len("[effort=") : prompt.index("]")]]
        return 3

    def generate(self, prompt_ids, max_new_tokens, num_samples=1, stop_token_ids=(), desc=""):
        tok, out = self.tokenizer, []
        for ids in prompt_ids:
            text = tok.decode(ids)
            cont = (
                "7" if text.endswith(THINK_CLOSE) else f"{THINK_OPEN}{'x' * self._think(text)}{THINK_CLOSE}7"
            )
            new = tok(cont, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
            out += [new[:max_new_tokens]] * num_samples
        return out


@pytest.mark.parametrize(
    "scale, tokens_at_2, mean_error_at_2, control", [(1, 2, 0.0, 1.0), (2, 4, 100.0, 0.0)]
)
def test_obedience_of_a_scripted_policy(tiny, scale, tokens_at_2, mean_error_at_2, control):
    config = load_eval_config("configs/tiny/eval.yaml", **{**DIAL_EVAL, "max_reasoning_tokens": 16})
    rows = load_eval_rows(config)
    records = evaluate(ObedientBackend(tiny.tokenizer, scale, config.effort_budgets), rows, config)
    dial = model_summary(records, config, "scripted")["dial"]
    at2 = dial["requested"]["2"]
    assert (at2["reasoning_tokens_mean"], at2["mean_error_pct"], at2["control"]) == (
        tokens_at_2,
        mean_error_at_2,
        control,
    )
    assert (
        at2["rmse_error_pct"] == pytest.approx(abs(mean_error_at_2)) and at2["violation_rate"] == 1 - control
    )
    assert (
        dial["efforts"]["high"]["reasoning_tokens_mean"] == 6 * scale
        and dial["efforts"]["high"]["budget_tokens"] == 6
    )
    assert dial["requested_mean"]["control"] == control
    assert at2["forcing_reasoning_tokens_mean"] == 2  # forcing at B = 2 cuts the free trace of 3 to 2
    assert all(
        lv["dial"]["requested"]["4"]["reasoning_tokens_mean"] == 4 * scale
        for lv in model_summary(records, config, "scripted")["levels"].values()
    )
    entry = records[0]["requested"]["2"]
    assert entry["prompt_tokens"] == len("[think<=2] ") + len(rows[0]["prompt"])
    assert entry["completion_tokens"] == tokens_at_2 + 3  # <think>, the reasoning, </think>, the answer


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory)


def run_dial_eval(model_path: str, out):
    """Run `thinkdial eval` with the dial axes and prices on two labels of `model_path` (the second without
    the dial); return its output folder."""
    config = out / "eval.yaml"
    config.write_text(
        json.dumps(
            {
                **DIAL_EVAL,
                "data_config": "configs/tiny/data.yaml",
                "input_usd_per_1m_tokens": 0.1,
                "output_usd_per_1m_tokens": 0.4,
                "decode_tokens_per_s": 50,
            }
        )
    )
    rc = main(
        [
            "eval",
            "--config",
            str(config),
            "--model",
            f"dial={model_path}",
            "--model",
            f"base={model_path}",
            "--no-dial",
            "base",
            "--out",
            str(out / "eval"),
        ]
    )
    assert rc == 0
    return out / "eval"


@pytest.fixture(scope="module")
def dial_eval(tiny, tmp_path_factory):
    return run_dial_eval(tiny.path, tmp_path_factory.mktemp("dial_eval"))


def test_eval_writes_the_dial_axes_and_the_cost_view(dial_eval):
    results = json.loads((dial_eval / "results.json").read_text())
    assert results["eval"]["budget_tokens"] == [0, 1, 2, 4, 6, 8]  # forcing covers every dial budget
    dial, base = results["models"]["dial"], results["models"]["base"]
    assert list(dial["dial"]["requested"]) == ["2", "4"] and list(dial["dial"]["efforts"]) == ["low", "high"]
    for key in (
        "accuracy",
        "reasoning_tokens_mean",
        "reasoning_tokens_median",
        "reasoning_tokens_p90",
        "mean_error_pct",
        "rmse_error_pct",
        "violation_rate",
        "control",
        "forcing_accuracy",
    ):
        assert key in dial["dial"]["requested"]["2"] and key in dial["levels"]["1"]["dial"]["efforts"]["low"]
    assert base["dial"] is None and base["cost"]["requested"] == {} and base["cost"]["efforts"] == {}
    free = dial["cost"]["free"]
    assert free["usd_per_1k_requests"] == pytest.approx(
        (free["prompt_tokens_mean"] * 0.1 + free["completion_tokens_mean"] * 0.4) / 1000
    )
    assert free["latency_s"] == pytest.approx(free["completion_tokens_mean"] / 50)
    assert set(dial["cost"]["requested"]) == {"2", "4"} and set(dial["cost"]["efforts"]) == {"low", "high"}
    report = (dial_eval / "report.md").read_text()
    for text in (
        "## The dial: requested thinking budget",
        "Mean Error (%)",
        "RMSE Error (%)",
        "Control",
        "## The dial: effort levels",
        "## Cost",
        "| dial | effort=low |",
        "| base | free (adaptive) |",
        "vs forcing at equal cost",
        "Pareto",
    ):
        assert text in report
    for name in (
        "dial_accuracy_vs_budget",
        "dial_requested_vs_used",
        "dial_efforts",
        "cost_accuracy_vs_tokens",
        "cost_accuracy_vs_usd",
    ):
        assert (
            f"](plots/{name}.png)" in report and (dial_eval / "plots" / f"{name}.png").stat().st_size > 5000
        )
    typed = load_results(dial_eval / "results.json")
    logs = scalar_logs(typed.models["dial"])  # what the training callback logs
    assert logs["scaling_eval/dial_requested_2/control"] == dial["dial"]["requested"]["2"]["control"]
    assert "scaling_eval/dial_efforts_low/mean_error_pct" in logs and not any(
        "dial" in k for k in scalar_logs(typed.models["base"])
    )
    record = json.loads((dial_eval / "per_example.jsonl").read_text().splitlines()[0])
    assert set(record["requested"]) == {"2", "4"} and record["efforts"]["low"]["completion_tokens"] > 0


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"requested_budgets": [-2]}, "requested_budgets[0]: budget must be a whole number"),
        ({"requested_budgets": [4, "many"]}, "requested_budgets[1]: budget must be a whole number"),
        (
            {"requested_budgets": [64]},
            "requested_budgets[0] must be a budget in reasoning tokens <= max_reasoning_tokens",
        ),
        (
            {"efforts": ["extreme"], "effort_budgets": {"low": 2}},
            "efforts[0]: effort must be one of low, medium, high",
        ),
        (
            {"efforts": ["low", "high"], "effort_budgets": {"low": 2}},
            "efforts ['high'] need their tier budget",
        ),
        ({"effort_budgets": {"low": -1}}, "effort_budgets.low: budget must be"),
        ({"input_usd_per_1m_tokens": 0.1}, "set both input_usd_per_1m_tokens and output_usd_per_1m_tokens"),
        (
            {"input_usd_per_1m_tokens": -1, "output_usd_per_1m_tokens": 1},
            "input_usd_per_1m_tokens must be a finite number >= 0",
        ),
        (
            {"input_usd_per_1m_tokens": float("nan"), "output_usd_per_1m_tokens": 1},
            "input_usd_per_1m_tokens must be a finite number >= 0",
        ),
        ({"decode_tokens_per_s": float("inf")}, "decode_tokens_per_s must be a finite number"),
    ],
)
def test_bad_eval_dial_config_stops_with_one_line(tiny, tmp_path, capsys, overrides, message):
    config = tmp_path / "eval.yaml"
    config.write_text(  # YAML: it writes NaN and infinity as .nan and .inf, which the loader reads back
        yaml.safe_dump({"data_config": "configs/tiny/data.yaml", "max_reasoning_tokens": 48, **overrides})
    )
    rc = main(["eval", "--config", str(config), "--model", f"a={tiny.path}", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and f"eval config: {message}" in err[0]
    assert not (tmp_path / "out").exists()


def test_eval_refuses_unknown_no_dial_labels_and_rows_with_their_own_budget(tiny, tmp_path):
    config = load_eval_config("configs/tiny/eval.yaml", **DIAL_EVAL)
    with pytest.raises(ValueError, match=r"--no-dial: \['b'\] name\(s\) no --model label"):
        run_eval(config, [f"a={tiny.path}"], tmp_path / "o", no_dial=("b",))
    (tmp_path / "rows.jsonl").write_text(
        json.dumps({"prompt": "x", "answer": 1, "difficulty": 1, "budget": 4}) + "\n"
    )
    (tmp_path / "data.yaml").write_text("source: jsonl\npath: rows.jsonl\n")
    with pytest.raises(ValueError, match=r"rows\.jsonl:1 carries its own budget/effort"):
        load_eval_rows(load_eval_config({**DIAL_EVAL, "data_config": str(tmp_path / "data.yaml")}))
