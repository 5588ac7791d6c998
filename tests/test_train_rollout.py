"""GRPO rollouts: direct-answer exploration and budget-constrained rollouts, through TRL's own generation."""

from __future__ import annotations

import math

import pytest
from conftest import TINY_ARGS

from thinkdial.models import THINK_CLOSE, THINK_OPEN
from thinkdial.train.rollout import ThinkdialRollout


def test_the_first_rows_of_every_group_are_forced_whatever_the_process_offset(tiny_tokenizer):
    explore = ThinkdialRollout(tiny_tokenizer, 8, 0.25)  # 2 of every 8
    assert explore.forced(16, 0) == ([True] * 2 + [False] * 6) * 2
    assert explore.forced(8, 16) == [True] * 2 + [False] * 6  # the second process of two, 8 rows each
    assert ThinkdialRollout(tiny_tokenizer, 8, 0.0).forced(8, 0) == [False] * 8


def test_a_direct_answer_opens_and_closes_the_think_block_unless_the_prompt_opened_it(tiny_tokenizer):
    explore = ThinkdialRollout(tiny_tokenizer, 8, 0.25)
    ids = lambda text: tiny_tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    assert explore.head(ids("5:ABC=")) == ids(THINK_OPEN + THINK_CLOSE)
    assert explore.head(ids("5:ABC=" + THINK_OPEN)) == ids(THINK_CLOSE)
    # R1-Distill's generation prompt ends `<think>` and a newline: still opened (whitespace after the tag)
    assert explore.head(ids("5:ABC=" + THINK_OPEN + "  ")) == ids(THINK_CLOSE)
    assert explore.head(ids(f"say {THINK_OPEN} {THINK_CLOSE} then: 5:ABC=")) == ids(THINK_OPEN + THINK_CLOSE)


def test_out_of_range_shares_are_refused(tiny_tokenizer):
    with pytest.raises(ValueError):
        ThinkdialRollout(tiny_tokenizer, 8, 1.0)


def test_a_completion_thinking_past_its_budget_is_cut_there_and_closed(tiny_tokenizer):
    rollout = ThinkdialRollout(tiny_tokenizer, 8, cut_at_budget=True)
    ids = lambda text: tiny_tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    prompt = ids("[think<=3] 5:ABCDEfgh=")
    assert rollout.cut(prompt, ids(f"{THINK_OPEN}12345"), 3) == ids(f"{THINK_OPEN}123{THINK_CLOSE}")
    assert rollout.cut(prompt, ids(f"{THINK_OPEN}12345{THINK_CLOSE}7"), 3) == ids(
        f"{THINK_OPEN}123{THINK_CLOSE}"
    )
    assert rollout.cut(prompt, ids(f"{THINK_OPEN}123{THINK_CLOSE}7"), 3) is None  # fits: left alone
    assert rollout.cut(prompt, ids(f"{THINK_OPEN}{THINK_CLOSE}7"), 0) is None
    assert rollout.cut(prompt, ids("12345"), 3) is None  # no think block started: not a thinking completion
    opened = ids(
        f"5:ABC={THINK_OPEN}"
    )  # the prompt opens the block (R1-style): no opening tag in the completion
    assert rollout.cut(opened, ids(f"1234{THINK_CLOSE}7"), 2) == ids(f"12{THINK_CLOSE}")


def test_a_cut_share_cuts_that_share_of_each_groups_over_budget_completions_and_keeps_the_first_whole(
    tiny_tokenizer,
):
    ids = lambda text: tiny_tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    half = ThinkdialRollout(tiny_tokenizer, 4, cut_at_budget=True, cut_share=0.5)
    assert [half.cuts(k) for k in range(4)] == [False, True, False, True]
    assert all(ThinkdialRollout(tiny_tokenizer, 4, cut_at_budget=True).cuts(k) for k in range(4))

    class Trainer:
        def _generate_single_turn(self, prompt_ids, images, multimodal, n):
            return [ids("7") for _ in prompt_ids], None

    prompts = ["[think<=2] 5:ABCDefgh="] * 8  # two groups of 4
    long, short = ids(f"{THINK_OPEN}1234{THINK_CLOSE}7"), ids(f"{THINK_OPEN}12{THINK_CLOSE}7")
    completions = [long, short, long, long, long, long, long, short]
    half.answer_at_budgets(prompts, [ids(p) for p in prompts], completions, None, [False] * 8, Trainer(), 4)
    cut = ids(f"{THINK_OPEN}12{THINK_CLOSE}7")
    # offset 4: these rows are the 2nd and 3rd groups of 4. First: over budget at rows 0, 2, 3 -> the 2nd cut
    assert completions[:4] == [long, short, cut, long]
    # next: over budget at rows 4, 5, 6 -> the 2nd is cut; row 7 fits and stays
    assert completions[4:] == [long, cut, long, short]
    with pytest.raises(ValueError):
        ThinkdialRollout(tiny_tokenizer, 4, cut_share=0.0)


def tiny_trainer(tmp_path, monkeypatch, *args: str):
    """Return (GRPOTrainer, tokenizer) of the tiny recipe (random model, one step) with extra recipe `args`, as
    `train_grpo` builds it (its training replaced by handing the trainer back)."""
    from conftest import ROOT

    from thinkdial.train.grpo import ThinkdialGRPOConfig, train_grpo
    from thinkdial.train.recipe import parse_recipe

    monkeypatch.chdir(ROOT)
    argv = [
        *TINY_ARGS,
        "--output_dir",
        str(tmp_path / "run"),
        "--max_steps",
        "1",
        "--select_checkpoint",
        "false",
    ]
    built = {}
    monkeypatch.setattr(
        "thinkdial.train.grpo.train_and_save", lambda trainer, *_: built.update(trainer=trainer)
    )
    train_grpo(parse_recipe(ThinkdialGRPOConfig, [*argv, *args]))
    return built["trainer"], built["trainer"].processing_class


@pytest.mark.slow
def test_grpo_with_exploration_generates_forced_direct_answers_and_trains(tmp_path, monkeypatch):
    trainer, tokenizer = tiny_trainer(tmp_path, monkeypatch, "--direct_exploration", "0.5")
    prompts = [p for p in trainer.train_dataset["prompt"][:2] for _ in range(4)]  # two groups of 4
    out = trainer.rollout_func(prompts, trainer)
    head = tokenizer(THINK_OPEN + THINK_CLOSE, add_special_tokens=False)["input_ids"]
    starts = [ids[: len(head)] == head for ids in out["completion_ids"]]
    assert starts[0] and starts[1] and starts[4] and starts[5]  # 2 of every group of 4
    assert all(len(ids) <= trainer.max_completion_length for ids in out["completion_ids"])
    assert out["prompt_ids"][0] == tokenizer(prompts[0], add_special_tokens=False)["input_ids"]
    trainer.train()  # one step end to end through TRL's loss with the forced rows
    assert trainer.state.global_step == 1


@pytest.mark.slow
def test_budget_constrained_rollouts_cut_long_thinking_and_train(tmp_path, monkeypatch):
    from thinkdial.data.completion import reasoning_token_counts
    from thinkdial.data.dial import control_prompt

    trainer, tokenizer = tiny_trainer(
        tmp_path, monkeypatch, "--max_completion_length", "24", "--budget_constrained_rollouts", "true"
    )
    ids = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    calls = []

    def thinker(prompt_ids, images, multimodal, num_generations):
        """A policy that thinks 10 tokens before answering 7, or answers 7 once the think block is closed."""
        calls.append(len(prompt_ids))
        closed = [p[-1:] == ids(THINK_CLOSE) for p in prompt_ids]
        return [
            ids("7") + [tokenizer.eos_token_id] if c else ids(f"{THINK_OPEN}{'1' * 10}{THINK_CLOSE}7")
            for c in closed
        ], None

    monkeypatch.setattr(trainer, "_generate_single_turn", thinker)
    budgets = [0, 3, 12, None]
    prompts = [
        control_prompt(p, b) for p, b in zip(trainer.train_dataset["prompt"][:4], budgets, strict=True)
    ]
    out = trainer.rollout_func(prompts, trainer)
    texts = tokenizer.batch_decode(out["completion_ids"], skip_special_tokens=True)
    assert reasoning_token_counts(tokenizer, texts) == [0, 3, 10, 10] and calls == [4, 2]  # two cut, one pass
    assert all(t.endswith("7") for t in texts)
    monkeypatch.setattr(
        trainer, "_generate_single_turn", type(trainer)._generate_single_turn.__get__(trainer)
    )
    trainer.train()  # one real step: TRL takes the cut completions
    assert trainer.state.global_step == 1


class ScriptedTrainer:
    """What ThinkdialRollout reads of a GRPOTrainer, generating from a script: the first pass gives `first[i]`
    to row i, a later pass `answer` to every row, each token with sampling log-probability -0.5 (vLLM-style)."""

    def __init__(self, tokenizer, first: list[str], answer: str, room: int = 24):
        self.tokenizer, self.first, self.answer, self.max_completion_length = tokenizer, first, answer, room
        self.accelerator = type("Accelerator", (), {"process_index": 0})()
        self.eos_token_ids = [tokenizer.eos_token_id]
        self.passes = 0

    def ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _tokenize_prompts(self, prompts):
        return [self.ids(p) for p in prompts], None, {}

    def _generate_single_turn(self, prompt_ids, images, multimodal, n):
        texts = self.first if self.passes == 0 else [self.answer] * len(prompt_ids)
        self.passes += 1
        out = [
            self.ids(t.replace("<eos>", "")) + ([self.tokenizer.eos_token_id] if "<eos>" in t else [])
            for t in texts
        ]
        return out, [[-0.5] * len(ids) for ids in out]


def nan_positions(logprobs: list[float]) -> list[int]:
    return [k for k, lp in enumerate(logprobs) if math.isnan(lp)]


def test_forced_tokens_report_a_nan_sampling_logprob(tiny_tokenizer):
    """A forced direct answer's head and the `</think>` appended at a budget cut were not sampled: NaN there
    (TRL's importance ratio 1), the sampled tokens keep theirs."""
    trainer = ScriptedTrainer(tiny_tokenizer, ["7", f"{THINK_OPEN}12345{THINK_CLOSE}7"], "9")
    rollout = ThinkdialRollout(tiny_tokenizer, 2, 0.5, cut_at_budget=True)
    out = rollout(["[think<=2] 5:ABC=", "[think<=2] 5:ABC="], trainer)
    direct, cut = out["completion_ids"]
    assert direct == trainer.ids(f"{THINK_OPEN}{THINK_CLOSE}7")
    assert cut == trainer.ids(f"{THINK_OPEN}12{THINK_CLOSE}9")
    assert [nan_positions(lp) for lp in out["logprobs"]] == [[0, 1], [3]]
    assert [len(lp) for lp in out["logprobs"]] == [3, 5]
    assert out["logprobs"][0][2] == out["logprobs"][1][0] == out["logprobs"][1][4] == -0.5


def test_elastic_budgets_cap_thinking_and_the_answer_apart(tiny_tokenizer):
    """E1: every row thinks for at most 3 tokens (a longer block is cut, closed and answered in a second pass;
    a block ended by EOS is closed too) and keeps at most 2 answer tokens, whatever its prompt asks."""
    first = [
        f"{THINK_OPEN}123456",  # still thinking at 3: cut
        f"{THINK_OPEN}12{THINK_CLOSE}4567",  # closed in time: its own answer, capped at 2
        f"{THINK_OPEN}12<eos>",  # EOS inside the block: closed, answered
        "999",  # no think block: all of it is thinking (thinkdial's parse), cut at 3
    ]
    trainer = ScriptedTrainer(tiny_tokenizer, first, "89<eos>")
    rollout = ThinkdialRollout(tiny_tokenizer, 4, thinking_tokens=3, solution_tokens=2)
    out = rollout(["[think<=9] 5:ABC="] * 4, trainer)
    texts = [trainer.tokenizer.decode(ids) for ids in out["completion_ids"]]
    assert texts == [
        f"{THINK_OPEN}123{THINK_CLOSE}89",
        f"{THINK_OPEN}12{THINK_CLOSE}45",
        f"{THINK_OPEN}12{THINK_CLOSE}89",
        f"999{THINK_CLOSE}89",
    ]
    assert trainer.passes == 2
    assert [nan_positions(lp) for lp in out["logprobs"]] == [[4], [], [3], [3]]
    assert [len(lp) for lp in out["logprobs"]] == [len(ids) for ids in out["completion_ids"]]
    with pytest.raises(ValueError):
        ThinkdialRollout(tiny_tokenizer, 4, thinking_tokens=3)
    with pytest.raises(ValueError):
        ThinkdialRollout(tiny_tokenizer, 4, cut_at_budget=True, thinking_tokens=3, solution_tokens=2)
