"""How transformers decodes (eval/backends.py: generation_settings): one choice for the eval backend, checkpoint
selection's validation and GRPO's transformers rollouts; a static KV cache gives today's greedy outputs."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from conftest import ROOT, TINY_ARGS
from transformers import AutoModelForCausalLM, GenerationConfig

from thinkdial.errors import UsageError
from thinkdial.eval.backends import TransformersBackend, generation_settings
from thinkdial.eval.config import EvalConfig
from thinkdial.models import load_tokenizer
from thinkdial.tiny import TinyModelConfig, build_tiny
from thinkdial.train.rollout import set_rollout_generation
from thinkdial.train.select import validate

PROMPTS = [
    "5:CFAhbgde=",
    "1:J=",
    "0:ABCDEFGHabcdefghABCD=",
    "7:DDccbbaa=",
    "2:Ab=",
    "3:ABCDEFabcdef=",
    "4:x=",
]
NEW_TOKENS = 12
FAST = {"cache_implementation": "static", "disable_compile": False}
STATIC = {"cache_implementation": "static", "disable_compile": True}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A random tiny model on the CPU, its weights drawn wider than the init's so that greedy continuations
    vary with every position (at the init's scale they repeat one character) and some stop at EOS."""
    path = build_tiny(tmp_path_factory.mktemp("generation") / "tiny", TinyModelConfig())
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    torch.manual_seed(1)
    with torch.no_grad():
        for weight in model.parameters():
            if weight.dim() > 1:
                weight.normal_(0, 0.2)
    return SimpleNamespace(model=model, tokenizer=load_tokenizer(str(path)))


def zero3(monkeypatch, on: bool) -> None:
    monkeypatch.setattr("transformers.integrations.deepspeed.is_deepspeed_zero3_enabled", lambda: on)


def test_auto_keeps_todays_generation_off_cuda_and_picks_the_static_compiled_cache_on_cuda(monkeypatch):
    zero3(monkeypatch, False)
    assert generation_settings("auto", "cpu") == {}
    assert generation_settings("auto", torch.device("cuda", 0)) == FAST
    assert generation_settings("static", "cpu") == STATIC
    assert generation_settings("dynamic", "cuda") == {}
    zero3(monkeypatch, True)  # gathered weights: a compiled CUDA graph would re-record every generation
    assert generation_settings("auto", "cuda") == STATIC
    assert generation_settings("static_compiled", "cuda") == FAST
    with pytest.raises(UsageError, match="generation must be one of"):
        generation_settings("compiled", "cuda")


def test_an_unknown_generation_is_refused_by_the_eval_config():
    with pytest.raises(UsageError, match="eval config: generation must be one of"):
        EvalConfig(generation="fast")


def _generate(tiny, monkeypatch, generation: str, budgets) -> tuple[list[list[int]], list[dict]]:
    """Return the backend's completions with `generation` and the keyword arguments model.generate got."""
    calls = []
    real = tiny.model.generate

    def spy(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(tiny.model, "generate", spy)
    backend = TransformersBackend(tiny.model, tiny.tokenizer, EvalConfig(batch_size=3, generation=generation))
    ids = [tiny.tokenizer(p, add_special_tokens=False)["input_ids"] for p in PROMPTS]
    return backend.generate(ids, NEW_TOKENS, think_budgets=budgets), calls


@pytest.mark.parametrize("budgets", [None, [2, None, 0, 5, 1, 3, None]])
def test_the_static_cache_gives_todays_greedy_outputs_over_left_padded_batches(tiny, monkeypatch, budgets):
    today, calls = _generate(tiny, monkeypatch, "auto", budgets)  # auto on the CPU: the dynamic cache
    assert [c.get("cache_implementation") for c in calls] == [None, None, None]  # 7 prompts, batches of 3
    for generation in ("static", "static_compiled"):  # on the CPU transformers does not compile
        outputs, calls = _generate(tiny, monkeypatch, generation, budgets)
        assert outputs == today, generation
        assert [c["cache_implementation"] for c in calls] == ["static"] * 3
        longest = len(tiny.tokenizer(PROMPTS[2], add_special_tokens=False)["input_ids"])
        assert {c["max_cache_len"] for c in calls} == {longest + NEW_TOKENS}  # one cache length per call
        assert tiny.model._previous_max_cache_length == longest + NEW_TOKENS  # transformers built it
    if budgets:  # the cap closed thinking at the budgets of the rows that write no <think> of their own
        close = tiny.tokenizer.convert_tokens_to_ids("</think>")
        assert [today[row][budget] for row, budget in ((2, 0), (4, 1), (3, 5))] == [close] * 3
    assert len({tuple(c) for c in today}) == len(PROMPTS)  # every prompt continues its own way


def test_the_compiled_decode_step_gives_todays_greedy_outputs(tiny, monkeypatch):
    """static_compiled lets transformers compile (on CUDA); here it is made to trace with torch.compile's eager
    backend on the CPU, so the graph capture of the static cache, left padding and the cap is exercised."""
    from transformers import CompileConfig

    budgets = [2, None, 0, 5, 1, 3, None]
    today, _ = _generate(tiny, monkeypatch, "dynamic", budgets)
    anywhere = CompileConfig(backend="eager", mode=None)
    anywhere._compile_all_devices = True
    monkeypatch.setattr(tiny.model.generation_config, "compile_config", anywhere)
    assert _generate(tiny, monkeypatch, "static", budgets)[0] == today
    assert not hasattr(tiny.model, "_compiled_call")  # 'static' disables compilation
    assert _generate(tiny, monkeypatch, "static_compiled", budgets)[0] == today
    assert hasattr(tiny.model, "_compiled_call")  # transformers compiled the decode step


def test_checkpoint_selection_validates_identically_with_the_static_cache(tiny):
    rows = [
        {"prompt": p, "answer": "ABC", "budget": b}
        for p, b in zip(PROMPTS, [None, 4, 8, None, 2, 6, 1], strict=True)
    ]
    dynamic = validate(tiny.model, tiny.tokenizer, rows, 8, 3, "dynamic")
    assert validate(tiny.model, tiny.tokenizer, rows, 8, 3, "static") == dynamic
    assert len(dynamic.reasoning_tokens) == len(PROMPTS)


def fake_trainer(tokenizer, device: str, use_vllm: bool = False):
    """What set_rollout_generation reads of a GRPOTrainer: TRL's generation config has compile disabled."""
    return SimpleNamespace(
        use_vllm=use_vllm,
        use_transformers_continuous_batching=False,
        accelerator=SimpleNamespace(device=torch.device(device), is_main_process=True),
        train_dataset={"prompt": ["1:J=", "0:ABCDEFGH="]},
        processing_class=tokenizer,
        max_completion_length=16,
        generation_config=GenerationConfig(do_sample=True, disable_compile=True),
    )


def test_grpo_rollouts_compile_a_static_cache_sized_for_the_longest_prompt_on_cuda(tiny, monkeypatch, capsys):
    zero3(monkeypatch, False)
    trainer = fake_trainer(tiny.tokenizer, "cuda")
    assert set_rollout_generation(trainer, "auto") == "static_compiled"
    assert capsys.readouterr().err == "grpo: rollout generation: static_compiled\n"
    config = trainer.generation_config
    assert (config.cache_implementation, config.disable_compile) == ("static", False)
    assert config.max_cache_len == 11 + 2 + 16  # longest prompt, <think></think>, max_completion_length


def test_grpo_rollouts_keep_trls_generation_on_cpu_and_with_vllm(tiny):
    for trainer, expected in (
        (fake_trainer(tiny.tokenizer, "cpu"), "dynamic"),
        (fake_trainer(tiny.tokenizer, "cuda", use_vllm=True), "vllm"),
    ):
        assert set_rollout_generation(trainer, "auto") == expected
        config = trainer.generation_config
        assert (config.cache_implementation, config.disable_compile, config.max_cache_len) == (
            None,
            True,
            None,
        )


@pytest.mark.slow
def test_grpo_trains_lora_with_checkpointing_through_the_compiled_rollout_generation(tmp_path, monkeypatch):
    """TRL's own rollouts with the settings train_grpo applies, traced by torch.compile (eager backend, allowed on
    the CPU): generation in train mode with activation checkpointing switched off around it, LoRA layers."""
    from transformers import CompileConfig

    from thinkdial.train.grpo import ThinkdialGRPOConfig, train_grpo
    from thinkdial.train.recipe import parse_recipe

    monkeypatch.chdir(ROOT)
    built = {}
    monkeypatch.setattr(
        "thinkdial.train.grpo.train_and_save", lambda trainer, *_: built.update(trainer=trainer)
    )
    args = ["--output_dir", str(tmp_path), "--max_steps", "2", "--generation", "static_compiled"]
    args += ["--use_peft", "true", "--activation_checkpointing", "true"]
    train_grpo(parse_recipe(ThinkdialGRPOConfig, [*TINY_ARGS, *args]))
    trainer = built["trainer"]
    anywhere = CompileConfig(backend="eager", mode=None)
    anywhere._compile_all_devices = True
    trainer.generation_config.compile_config = anywhere
    trainer.train()
    assert trainer.state.global_step == 2
    assert hasattr(
        trainer.model.get_base_model(), "_compiled_call"
    )  # the rollouts went through the compiled step


def test_the_grpo_recipe_refuses_two_settings_for_the_rollout_cache(monkeypatch):
    from thinkdial.train.grpo import ThinkdialGRPOConfig
    from thinkdial.train.recipe import parse_recipe

    monkeypatch.chdir(ROOT)
    with pytest.raises(UsageError, match="set generation: dynamic to keep cache_implementation"):
        parse_recipe(ThinkdialGRPOConfig, [*TINY_ARGS, "--cache_implementation", "static"])
    with pytest.raises(UsageError, match="generation must be one of"):
        parse_recipe(ThinkdialGRPOConfig, [*TINY_ARGS, "--generation", "fast"])
    config = parse_recipe(
        ThinkdialGRPOConfig, [*TINY_ARGS, "--cache_implementation", "static", "--generation", "dynamic"]
    )
    assert config.generation == "dynamic"
