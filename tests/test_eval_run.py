"""Scaling eval end to end on the tiny random model: budget forcing, outputs, CLI errors, callback."""

import json
import math
from dataclasses import asdict, replace
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transformers import AutoModelForCausalLM

from thinkdial.cli import main
from thinkdial.data.completion import THINK_CLOSE, THINK_OPEN, count_tokens, parse_completion
from thinkdial.errors import UsageError
from thinkdial.eval.backends import TransformersBackend
from thinkdial.eval.budget import budget_completions
from thinkdial.eval.callback import ScalingEvalCallback
from thinkdial.eval.config import EvalConfig, load_eval_config
from thinkdial.eval.run import parallel_jobs, run_eval
from thinkdial.models import load_tokenizer
from thinkdial.tiny import TinyModelConfig, build_tiny

PROMPTS = ["5:CFAhbgde=", "1:Jabcdefg=", "0:ABCDEFGH=", "7:DDccbbaa="]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A random tiny checkpoint and an exact copy of it saved through save_pretrained (the export stand-in)."""
    root = tmp_path_factory.mktemp("eval_models")
    path = build_tiny(
        root / "tiny", TinyModelConfig(hidden_size=32, num_hidden_layers=1, intermediate_size=64)
    )
    copy = root / "copy"
    AutoModelForCausalLM.from_pretrained(path).save_pretrained(copy)
    load_tokenizer(str(path)).save_pretrained(copy)
    return SimpleNamespace(
        path=str(path),
        copy=str(copy),
        model=AutoModelForCausalLM.from_pretrained(path).eval(),
        tokenizer=load_tokenizer(str(path)),
    )


def small_config(**overrides) -> EvalConfig:
    base = {
        "limit": 16,
        "budgets": [0, 2, 4, "unlimited"],
        "max_reasoning_tokens": 6,
        "max_answer_tokens": 2,
        "batch_size": 16,
        "progress": False,
        "samples_per_level": 1,
        # the dial is tested in test_dial_eval.py; these tests decode budgets the tiny caps allow
        "requested_budgets": [],
        "efforts": [],
        "effort_budgets": {},
    }
    return load_eval_config("configs/tiny/eval.yaml", **{**base, **overrides})


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cap=st.integers(1, 8), budgets=st.lists(st.integers(0, 8), min_size=1, max_size=3), sample=st.booleans()
)
def test_no_completion_exceeds_its_budget(tiny, cap, budgets, sample):
    config = replace(
        small_config(max_reasoning_tokens=8),
        budgets=[min(b, cap) for b in budgets],
        max_reasoning_tokens=cap,
        do_sample=sample,
        num_samples=2 if sample else 1,
    )
    out = budget_completions(TransformersBackend(tiny.model, tiny.tokenizer, config), PROMPTS, config)
    assert len(out) == len(PROMPTS) * config.num_samples
    for by_budget in out:
        assert sorted(by_budget) == config.budget_tokens
        for b, c in by_budget.items():
            assert c.reasoning_tokens <= b
            assert count_tokens(tiny.tokenizer, [parse_completion(c.text).reasoning])[0] <= b
            if c.forced:
                assert parse_completion(c.text).closed


class ScriptedBackend:
    """A fake policy: after the prompt it writes `<think>`, then closes after `think` more reasoning
    tokens from wherever it is, then answers '7'."""

    name = "scripted"

    def __init__(self, tokenizer, think: int):
        self.tokenizer, self.think = tokenizer, think
        self.close = tokenizer.convert_tokens_to_ids(THINK_CLOSE)

    def generate(self, prompt_ids, max_new_tokens, num_samples=1, stop_token_ids=(), desc=""):
        tok, out = self.tokenizer, []
        for ids in prompt_ids:
            text = tok.decode(ids)
            if text.endswith(THINK_CLOSE):
                cont = "7"
            else:
                cont = ("" if THINK_OPEN in text else THINK_OPEN) + "x" * self.think + THINK_CLOSE + "7"
            new = tok(cont, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
            if self.close in stop_token_ids and self.close in new:
                new = new[: new.index(self.close) + 1]
            out += [new[:max_new_tokens]] * num_samples
        return out


def test_budget_forcing_reuses_free_runs_and_forces_long_ones(tiny):
    config = small_config(budgets=[0, 2, 4, "unlimited"], max_reasoning_tokens=6)
    (by_budget,) = budget_completions(ScriptedBackend(tiny.tokenizer, think=3), PROMPTS[:1], config)
    assert by_budget[0].text == f"{THINK_OPEN}{THINK_CLOSE}7" and by_budget[0].forced
    assert by_budget[2].text == f"{THINK_OPEN}xx{THINK_CLOSE}7" and by_budget[2].forced
    assert by_budget[4].text == f"{THINK_OPEN}xxx{THINK_CLOSE}7" and not by_budget[4].forced
    assert by_budget[6].reasoning_tokens == 3 and by_budget[6].answer == "7"


@pytest.mark.parametrize(
    "waits, think, tokens, forced, used",
    [
        (1, 2, 2 + 4 + 2, False, 1),
        (2, 2, 2 + 4 + 2 + 4 + 2, False, 2),
        (3, 2, 14, False, 2),  # a third "Wait" (4 tokens) would pass the budget of 16
        (2, 3, 16, True, 2),  # 3 + 4 + 3 + 4 + 3 = 17 > 16: the last stretch is cut and forced closed
    ],
)
def test_extend_mode_replaces_the_close_by_wait(tiny, waits, think, tokens, forced, used):
    config = small_config(budgets=[0, 16], max_reasoning_tokens=16, extend_waits=waits)
    (by_budget,) = budget_completions(ScriptedBackend(tiny.tokenizer, think=think), PROMPTS[:1], config)
    c = by_budget[16]
    assert (c.reasoning_tokens, c.forced, c.waits) == (tokens, forced, used)
    assert c.text.startswith(f"{THINK_OPEN}{'x' * think}Wait{'x' * think}") and c.answer == "7"
    assert by_budget[0].reasoning_tokens == 0


def test_checkpoint_and_its_copy_give_identical_results_and_report(tiny, tmp_path, capsys):
    config = small_config()
    a = run_eval(config, [f"orig={tiny.path}"], tmp_path / "a", log=lambda *_: None)
    b = run_eval(config, [f"orig={tiny.copy}"], tmp_path / "b", log=lambda *_: None)
    drop = ("path", "wall_seconds")
    assert {k: v for k, v in asdict(a.models["orig"]).items() if k not in drop} == {
        k: v for k, v in asdict(b.models["orig"]).items() if k not in drop
    }
    assert (tmp_path / "a/per_example.jsonl").read_text() == (tmp_path / "b/per_example.jsonl").read_text()


def test_checkpoints_evaluated_in_worker_processes_give_the_sequential_files(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr("thinkdial.eval.run.os.cpu_count", lambda: 2)
    config = small_config(requested_budgets=[2])
    specs, no_dial = [f"orig={tiny.path}", f"copy={tiny.copy}"], ("copy",)
    logs = []
    one = run_eval(config, specs, tmp_path / "one", log=lambda *_: None, no_dial=no_dial)
    two = run_eval(replace(config, jobs=2), specs, tmp_path / "two", log=logs.append, no_dial=no_dial)
    assert "[eval] 2 checkpoints, 2 at a time in worker processes" in logs
    assert list(two.models) == ["orig", "copy"]  # the command line's order, whichever finished first
    for label in ("orig", "copy"):
        assert replace(one.models[label], wall_seconds=None) == replace(two.models[label], wall_seconds=None)
    assert two.models["orig"].dial.requested["2"].budget_tokens == 2 and two.models["copy"].dial is None
    assert (tmp_path / "one/per_example.jsonl").read_text() == (
        tmp_path / "two/per_example.jsonl"
    ).read_text()


@pytest.mark.parametrize(
    ("jobs", "checkpoints", "cores", "backend", "expected"),
    [
        (1, 3, 8, "transformers", 1),
        (4, 3, 8, "transformers", 3),
        (4, 3, 2, "transformers", 2),
        (4, 3, 8, "vllm", 1),
    ],
)
def test_parallel_jobs_are_capped_by_checkpoints_and_cores_and_one_for_vllm(
    monkeypatch, jobs, checkpoints, cores, backend, expected
):
    monkeypatch.setattr("thinkdial.eval.run.os.cpu_count", lambda: cores)
    assert parallel_jobs(small_config(jobs=jobs, backend=backend), checkpoints) == expected


def test_jobs_below_one_are_refused():
    with pytest.raises(UsageError, match="jobs must be an integer >= 1, got 0"):
        small_config(jobs=0)


@pytest.mark.parametrize("temperature", [0.0, math.nan, math.inf])
def test_a_sampling_temperature_that_is_no_positive_number_is_refused(temperature):
    with pytest.raises(
        UsageError, match=r"need temperature > 0 and 0 < top_p <= 1, got (0\.0|nan|inf), 1\.0"
    ):
        small_config(temperature=temperature, do_sample=True)


def test_cli_writes_results_plots_and_report(tiny, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(
        [
            "eval",
            "--config",
            "configs/tiny/eval.yaml",
            "--model",
            f"a={tiny.path}",
            "--model",
            f"b={tiny.copy}",
            "--out",
            str(out),
            "--limit",
            "16",
            "--budgets",
            "0,4,unlimited",
            "--no-dial",  # the dial's axes are tested in test_dial_eval.py
            "a",
            "--no-dial",
            "b",
            "--no-progress",
        ]
    )
    assert rc == 0
    printed = capsys.readouterr().out
    assert "acc_direct" in printed and "comparison (deltas vs a)" in printed
    results = json.loads((out / "results.json").read_text())
    assert results["schema"] == "thinkdial.eval/2" and results["data"]["rows"] == 16
    level = results["models"]["b"]["levels"]["1"]
    for key in (
        "n",
        "accuracy",
        "accuracy_direct",
        "direct_rate",
        "reasoning_tokens_mean",
        "reasoning_tokens_median",
        "min_reasoning_tokens_mean",
        "chance_accuracy",
    ):
        assert key in level
    assert level["chance_accuracy"] == pytest.approx(0.1) and level["min_reasoning_tokens_mean"] == 1
    # the asked budgets (0, 4, unlimited) plus the dial's requested (1, 2, 4, 8, 16) and effort (2, 4, 8) ones
    # (forcing there, for the comparison), in token order
    assert list(results["models"]["a"]["budget_curve"]) == ["0", "1", "2", "4", "8", "16", "unlimited"]
    assert "token_matched" in results["comparisons"]["b"]
    paired = results["comparisons"]["b"]["paired"]
    assert paired["all"]["n"] == 16 and sum(p["n"] for lv, p in paired.items() if lv != "all") == 16
    for name in ("accuracy_vs_budget", "tokens_vs_difficulty", "accuracy_vs_difficulty"):
        png = (out / "plots" / f"{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 5000
    report = (out / "report.md").read_text()
    assert "![accuracy_vs_budget](plots/accuracy_vs_budget.png)" in report and "Sample completions" in report
    assert len((out / "per_example.jsonl").read_text().splitlines()) == 32


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "a=/no/such/model"], "model path not found: /no/such/model"),
        (["--budgets", "0,-4"], "budgets must be integers >= 0"),
        (["--budgets", "0,64"], "exceeds max_reasoning_tokens"),
        (["--model", "a=MODEL", "--model", "a=MODEL"], "given twice"),
    ],
)
def test_bad_input_stops_with_one_line_before_generation(tiny, tmp_path, capsys, args, message):
    args = [a.replace("MODEL", tiny.path) for a in args]
    if "--model" not in args:
        args += ["--model", f"a={tiny.path}"]
    rc = main(["eval", "--config", "configs/tiny/eval.yaml", "--out", str(tmp_path / "out"), *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("thinkdial eval: error:") and message in err[0]
    assert not (tmp_path / "out").exists()


def eval_errors(config, model: str, out, capsys) -> tuple[int, list[str]]:
    """Return `thinkdial eval`'s exit code and stderr lines for `config` and model `a=model`, writing to `out`."""
    rc = main(["eval", "--config", str(config), "--model", f"a={model}", "--out", str(out)])
    return rc, capsys.readouterr().err.strip().splitlines()


def test_a_prompt_the_context_cannot_hold_with_its_completion_stops_before_any_model_loads(
    tiny, tmp_path, capsys, monkeypatch
):
    # 250 reasoning + 2 think tags + 4 answer tokens leave 0 of the tiny model's 256 positions to a prompt
    (tmp_path / "eval.yaml").write_text(
        "data_config: configs/tiny/data.yaml\nmax_reasoning_tokens: 250\nmax_answer_tokens: 4\nlimit: 8\n"
    )
    monkeypatch.setattr("thinkdial.eval.run.load_backend", lambda *a: pytest.fail("a model loaded"))
    rc, err = eval_errors(tmp_path / "eval.yaml", tiny.path, tmp_path / "o", capsys)
    assert rc == 2 and len(err) == 1 and not (tmp_path / "o").exists()
    assert (
        "--model a: eval row" in err[0] and "the model's 256 positions less 256 for the completion" in err[0]
    )


def test_empty_eval_set_is_refused(tiny, tmp_path, capsys):
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "data.yaml").write_text("source: jsonl\npath: empty.jsonl\n")
    (tmp_path / "eval.yaml").write_text(f"data_config: {tmp_path / 'data.yaml'}\n")
    rc, err = eval_errors(tmp_path / "eval.yaml", tiny.path, tmp_path / "o", capsys)
    assert rc == 2 and len(err) == 1 and "empty" in err[0] and not (tmp_path / "o").exists()


def test_sampling_reports_pass_at_k(tiny, tmp_path):
    config = small_config(do_sample=True, num_samples=3, pass_k=[1, 2, 5], limit=8)
    results = run_eval(config, [f"s={tiny.path}"], tmp_path, log=lambda *_: None)
    assert set(results.models["s"].pass_at_k) == {"1", "2"}


def test_callback_writes_step_files_and_logs_scalars(tiny, tmp_path):
    callback = ScalingEvalCallback(small_config(limit=8), tiny.tokenizer, every_steps=5)
    state = SimpleNamespace(global_step=10, is_world_process_zero=True, log_history=[])
    args = SimpleNamespace(output_dir=str(tmp_path))
    tiny.model.train()
    callback.on_step_end(args, state, None, model=tiny.model)
    assert tiny.model.training
    assert (tmp_path / "eval/step_10/results.json").is_file() and (
        tmp_path / "eval/step_10/report.md"
    ).is_file()
    assert state.log_history[-1]["step"] == 10 and "scaling_eval/accuracy" in state.log_history[-1]
    state.global_step = 11
    callback.on_step_end(args, state, None, model=tiny.model)
    assert len(state.log_history) == 1
