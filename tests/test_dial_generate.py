"""The dial's hard cap and `thinkdial generate`: no completion thinks past its budget; bad input stops early."""

import json
from types import SimpleNamespace

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_cli import heavy_imports, probe
from transformers import AutoModelForCausalLM

from thinkdial.cli import main
from thinkdial.data.completion import THINK_OPEN, count_tokens, parse_completion
from thinkdial.errors import UsageError
from thinkdial.eval.dial import generate, generate_from_checkpoint, reasoning_caps
from thinkdial.eval.think_cap import ThinkingBudgetProcessor
from thinkdial.models import load_tokenizer
from thinkdial.tiny import TinyModelConfig, build_tiny

SMALL = TinyModelConfig(hidden_size=32, num_hidden_layers=1, intermediate_size=64)
CHAT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "5:CFA="}]
PROMPTS = ["5:CFAhbfde=", "1:ABCDEFGH=", f"7:DDccbbaa={THINK_OPEN}", CHAT]  # the third opens the think block


def tiny_checkpoint(tmp_path_factory) -> SimpleNamespace:
    """Return a random small tiny checkpoint: its path, model (eval mode) and tokenizer."""
    path = build_tiny(tmp_path_factory.mktemp("dial_model") / "tiny", SMALL)
    return SimpleNamespace(
        path=str(path),
        model=AutoModelForCausalLM.from_pretrained(path).eval(),
        tokenizer=load_tokenizer(str(path)),
    )


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory)


def test_processor_forces_the_close_exactly_when_a_rows_block_is_full():
    open_, close, p, a = 10, 11, 1, 2
    ids = torch.tensor(
        [
            [p, p, open_, a, a],  # 2 reasoning tokens in an open block: full at budget 2
            [p, p, open_, a, a],  # same, budget 3: room left
            [p, p, a, a, a],  # no tag: the completion is the block (R1-style prompt): 3 tokens, budget 3
            [p, p, open_, a, close],  # closed: never forced again
        ]
    )
    scores = torch.zeros(4, 12)
    out = ThinkingBudgetProcessor([2, 3, 3, 0], open_, close, prompt_width=2)(ids, scores)
    forced = [bool(torch.isinf(row).sum() == 11 and row[close] == 0) for row in out]
    assert forced == [True, False, True, False]
    # one budget per prompt, num_return_sequences = 2: rows 0-1 are prompt 0, rows 2-3 prompt 1
    out = ThinkingBudgetProcessor([2, None], open_, close, prompt_width=2)(ids, scores)
    assert [bool(torch.isinf(row).any()) for row in out] == [True, True, False, False]
    with pytest.raises(ValueError, match="do not divide"):
        ThinkingBudgetProcessor([1, 2, 3], open_, close, prompt_width=2)(ids, scores)


def reasoning_of(tokenizer, completion: str) -> int:
    return count_tokens(tokenizer, [parse_completion(completion).reasoning])[0]


def test_generate_caps_thinking_per_prompt_in_one_batch(tiny):
    budgets = [0, 3, 5, 2]
    free = generate(tiny.model, tiny.tokenizer, PROMPTS, max_reasoning_tokens=24, max_answer_tokens=3)
    assert all(o["reasoning_tokens"] > 5 for o in free)  # uncapped, the random model thinks past every budget
    out = generate(tiny.model, tiny.tokenizer, PROMPTS, budget_tokens=budgets, max_answer_tokens=3)
    for o, b in zip(out, budgets, strict=True):
        assert (
            o["reasoning_tokens"] == reasoning_of(tiny.tokenizer, o["completion"]) <= b == o["budget_tokens"]
        )
    assert out[0]["prompt"] == "[think<=0] 5:CFAhbfde=" and out[3]["prompt"][-1]["content"].endswith(
        "maximum 2 tokens."
    )


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(budget=st.integers(0, 12), sample=st.booleans(), effort=st.sampled_from([None, "low"]))
def test_no_generation_exceeds_its_budget(tiny, budget, sample, effort):
    out = generate(
        tiny.model,
        tiny.tokenizer,
        PROMPTS,
        budget_tokens=budget,
        effort=effort,
        max_answer_tokens=2,
        do_sample=sample,
        batch_size=2,
    )
    assert all(reasoning_of(tiny.tokenizer, o["completion"]) <= budget for o in out)
    if effort:
        assert out[0]["prompt"].startswith("[effort=low] ")


def test_generate_cli_prints_capped_json_lines(tiny, tmp_path, capsys):
    assert (
        main(
            [
                "generate",
                "--model",
                tiny.path,
                "--budget",
                "4",
                "--prompt",
                "5:CFAhbfde=",
                "--prompt",
                f"1:AB={THINK_OPEN}",
                "--max-answer-tokens",
                "2",
                "--sample",
            ]
        )
        == 0
    )
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["prompt"] for x in lines] == ["[think<=4] 5:CFAhbfde=", f"[think<=4] 1:AB={THINK_OPEN}"]
    assert all(reasoning_of(tiny.tokenizer, x["completion"]) <= 4 for x in lines)
    rows = tmp_path / "in.jsonl"
    rows.write_text(
        json.dumps({"prompt": "2:AB=", "budget": 1})
        + "\n"
        + json.dumps({"prompt": CHAT})
        + "\n"
        + json.dumps({"prompt": "3:C=", "effort": "high"})
        + "\n"
    )
    assert (
        main(
            [
                "generate",
                "--model",
                tiny.path,
                "--budget",
                "3",
                "--input",
                str(rows),
                "--max-reasoning-tokens",
                "5",
                "--max-answer-tokens",
                "2",
            ]
        )
        == 0
    )
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["budget_tokens"] for x in lines] == [1, 3, 3]
    assert lines[1]["prompt"][-1]["content"].endswith("Think for maximum 3 tokens.")
    assert lines[2]["prompt"] == "[effort=high] 3:C=" and lines[2]["effort"] == "high"
    assert all(reasoning_of(tiny.tokenizer, x["completion"]) <= x["budget_tokens"] for x in lines)


@pytest.mark.parametrize(
    "args, rows, message",
    [
        (
            ["--budget", "-1", "--prompt", "x"],
            None,
            "--budget: budget must be a whole number of reasoning tokens >= 0",
        ),
        (["--budget", "abc", "--prompt", "x"], None, "--budget: budget must be a whole number"),
        (["--effort", "extreme", "--prompt", "x"], None, "--effort: effort must be one of low, medium, high"),
        (
            ["--budget", "4", "--prompt", "x", "--max-reasoning-tokens", "0"],
            None,
            "--max-reasoning-tokens must be >= 1",
        ),
        (
            [],
            [{"prompt": "a"}, {"prompt": "b", "budget": -2}],
            "in.jsonl:2: column 'budget': budget must be",
        ),
        ([], [{"prompt": "a", "effort": "max"}], "in.jsonl:1: column 'effort': effort must be one of"),
        ([], [{"text": "a"}], "in.jsonl:1: column 'prompt' must be text or chat messages"),
        (["--sample", "--temperature", "0", "--prompt", "x"], None, "--temperature must be > 0, got 0.0"),
        (["--temperature", "nan", "--prompt", "x"], None, "--temperature must be > 0, got nan"),
        (["--top-p", "2", "--prompt", "x"], None, "--top-p must be in (0, 1], got 2.0"),
    ],
)
def test_bad_generate_input_stops_with_one_line_before_the_model_loads(tmp_path, capsys, args, rows, message):
    if rows is not None:
        (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        args = args + ["--input", str(tmp_path / "in.jsonl")]
    # the model path does not exist: an error about the input proves it was checked first
    rc = main(["generate", "--model", str(tmp_path / "no-model"), *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("thinkdial generate: error:") and message in err[0]


def test_a_prompt_the_context_cannot_hold_with_its_completion_is_refused_before_the_model_loads(
    tiny, tmp_path, capsys, monkeypatch
):
    def loaded(*args, **kwargs):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr("transformers.AutoModelForCausalLM.from_pretrained", loaded)
    long = "1+" * 5000 + "1="  # 10,002 characters: 10,013 tokens with the control text `[think<=8] `
    rc = main(["generate", "--model", tiny.path, "--budget", "8", "--prompt", "2:AB=", "--prompt", long])
    assert rc == 2 and capsys.readouterr().err == (
        "thinkdial generate: error: --prompt 2: the prompt has 10013 tokens; the model's 256 positions less 74 "
        "for the completion (8 reasoning + 2 think tags + 64 answer tokens) leave 182: shorten the prompt, or "
        "lower the budget (--budget), the cap without one (--max-reasoning-tokens) or --max-answer-tokens\n"
    )
    rows = tmp_path / "in.jsonl"
    lines = [json.dumps({"prompt": "2:AB="}), "", json.dumps({"prompt": long, "budget": 4})]
    rows.write_text("\n".join(lines) + "\n")
    rc = main(["generate", "--model", tiny.path, "--input", str(rows), "--max-reasoning-tokens", "16"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith(
        f"thinkdial generate: error: {rows}:3: the prompt has 10013 tokens; the model's 256 positions less 82 "
        "for the completion (16 reasoning + 2 think tags + 64 answer tokens) leave 174: "
    )
    with pytest.raises(UsageError, match="^prompt 1: the prompt has 10013 tokens; "):
        generate(tiny.model, tiny.tokenizer, [long], budget_tokens=8)
    assert generate_from_checkpoint(tiny.path, []) == []  # nothing to check, nor to load a model for


def test_without_a_budget_the_cap_is_what_the_context_leaves():
    ids = [[0] * 10, [0] * 20]  # prompts of 10 and 20 tokens
    # a 256-position model, 64 answer tokens: 256 - 20 (longest prompt) - 2 (think tags) - 64 = 170
    assert reasoning_caps([None, 8], ids, None, 64, 256) == [170, 8]
    assert reasoning_caps([None, 2000], ids, None, 64, 4096) == [1024, 1024]  # at most the default cap
    assert reasoning_caps([None, 8], ids, 30, 64, 256) == [30, 8]  # an explicit cap stays as given
    assert reasoning_caps([None], ids, None, 64, None) == [1024]  # the model states no context length


def test_generate_without_a_budget_fits_the_demo_models_context(tiny, capsys):
    assert (
        main(["generate", "--model", tiny.path, "--prompt", "5:CFAhbfde=", "--max-answer-tokens", "2"]) == 0
    )
    (line,) = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert line["budget_tokens"] == 256 - 11 - 2 - 2  # the positions left after the prompt, tags and answer


def test_bad_generate_arguments_are_refused_without_importing_torch():
    result = probe(["generate", "--model", "m", "--budget", "-3", "--prompt", "x"])
    assert (
        result.returncode == 2 and heavy_imports(result) == "" and "--budget: budget must be" in result.stderr
    )
