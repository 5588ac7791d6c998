"""Every reward formula on hand-computed vectors (tiny char tokenizer: reasoning tokens = characters)."""

from __future__ import annotations

import math
import pickle
from types import SimpleNamespace

import pytest

from thinkdial.rewards.batch import RewardRowError
from thinkdial.rewards.metrics import BatchMetrics
from thinkdial.rewards.registry import get_reward


def c(n: int, ans: str = "4") -> str:
    """A closed completion with `n` reasoning tokens and answer `ans`."""
    return f"<think>{'x' * n}</think>{ans}"


def run(tokenizer, name, completions, params=None, prompts=None, answer="4", **columns):
    prompts = prompts or ["p"] * len(completions)
    answers = answer if isinstance(answer, list) else [answer] * len(completions)
    return get_reward(name, tokenizer, params)(
        prompts=prompts, completions=completions, answer=answers, **columns
    )


def approx(values):
    return [None if v is None else pytest.approx(v, abs=1e-9) for v in values]


def test_correctness(tiny_tokenizer):
    comps = [c(1, "4"), c(1, "5"), "<think>x", c(0, " 4.0 "), c(2, "\\boxed{\\frac{1}{2}}")]
    answers = ["4", "4", "4", "4", "\\frac{1}{2}"]
    assert run(tiny_tokenizer, "correctness", comps, answer=answers) == [1.0, 0.0, 0.0, 1.0, 1.0]
    assert run(tiny_tokenizer, "correctness", [c(1)], answer=[""]) == [None]  # unparseable gold: TRL skips


def test_format(tiny_tokenizer):
    comps = [c(3), c(0), "<think>x</think>  ", "<think>x", "x</think>4", ""]
    assert run(tiny_tokenizer, "format", comps) == [1.0, 1.0, 0.0, 0.0, 1.0, 0.0]


def test_kimi(tiny_tokenizer):
    # min 2, max 6: lam = 0.5, 0, -0.5; wrong rows keep min(0, lam)
    assert run(tiny_tokenizer, "kimi", [c(2), c(4), c(6, "5")]) == approx([0.5, 0.0, -0.5])
    assert run(tiny_tokenizer, "kimi", [c(2, "5"), c(6)]) == approx([0.0, -0.5])
    assert run(tiny_tokenizer, "kimi", [c(3), c(3, "5"), c(3)]) == [0.0, 0.0, 0.0]  # all equal lengths
    assert run(tiny_tokenizer, "kimi", [c(5)]) == [0.0]  # group of 1
    assert run(tiny_tokenizer, "kimi", [c(0), c(4)]) == approx([0.5, -0.5])  # empty reasoning
    # two interleaved groups are separate
    assert run(tiny_tokenizer, "kimi", [c(2), c(10), c(4), c(20)], prompts=["a", "b", "a", "b"]) == approx(
        [0.5, 0.5, -0.5, -0.5]
    )


def test_cosine(tiny_tokenizer):
    p = {"max_tokens": 10}
    assert run(tiny_tokenizer, "cosine", [c(0), c(5), c(10), c(11)], p) == approx([1.0, 0.75, 0.5, -1.0])
    assert run(tiny_tokenizer, "cosine", [c(0, "5"), c(5, "5"), c(10, "5"), c(11, "5")], p) == approx(
        [-1.0, -0.75, -0.5, -1.0]
    )
    assert run(tiny_tokenizer, "cosine", [c(3)], {**p, "exceed_penalty": -7.0}, answer=[""]) == [None]
    assert run(tiny_tokenizer, "cosine", [c(12)], {**p, "exceed_penalty": -7.0}) == [-7.0]


def test_efficiency(tiny_tokenizer):
    # correct lengths 2, 4: mean 3, population std 1
    got = run(tiny_tokenizer, "efficiency", [c(2), c(4), c(6, "5")], {"alpha": 0.1})
    sig = 1 / (1 + math.exp(1 / (1 + 1e-7)))
    assert got == approx([1 - 0.1 * sig, 1 - 0.1 * (1 - sig), 0.0])
    assert run(tiny_tokenizer, "efficiency", [c(7)], {"alpha": 0.1}) == approx([0.95])  # group of 1: z = 0
    assert run(tiny_tokenizer, "efficiency", [c(3), c(3)], {"alpha": 0.2}) == approx([0.9, 0.9])  # all equal
    assert run(tiny_tokenizer, "efficiency", [c(3, "5"), c(0, "5")]) == [0.0, 0.0]  # none correct


def test_solve_rate(tiny_tokenizer):
    p = {"beta": 0.5, "max_tokens": 10}
    # p = 1/4 = 1/G
    got = run(tiny_tokenizer, "solve_rate", [c(2), c(4, "5"), c(6, "5"), c(8, "5")], p)
    assert got == approx([0.975, -0.05, -0.075, -0.1])
    # none correct: p = 0, floored at 1/G = 1/2
    assert run(tiny_tokenizer, "solve_rate", [c(2, "5"), c(0, "5")], p) == approx([-0.05, 0.0])
    # all correct, group of 1: p = 1
    assert run(tiny_tokenizer, "solve_rate", [c(4)], p) == approx([0.8])
    assert run(tiny_tokenizer, "solve_rate", [c(0), c(0)], p) == approx([1.0, 1.0])  # empty reasoning is free


def test_solve_rate_ema(tiny_tokenizer):
    reward = get_reward(
        "solve_rate", tiny_tokenizer, {"beta": 0.5, "max_tokens": 10, "history": "ema", "ema_decay": 0.5}
    )
    first = reward(prompts=["p", "p"], completions=[c(0), c(10)], answer=["4", "4"])
    assert first == approx([1.0, 0.5])  # first visit: p = 1
    second = reward(prompts=["p", "p"], completions=[c(0, "5"), c(10, "5")], answer=["4", "4"])
    assert second == approx([0.0, -0.25])  # p = 0.5 * 1 + 0.5 * 0 = 0.5
    assert reward.ema == {next(iter(reward.ema)): 0.5}


def test_shortest_correct(tiny_tokenizer):
    p = {"alpha": 1.0, "beta": 0.5, "max_tokens": 10}
    assert run(tiny_tokenizer, "shortest_correct", [c(2, "5"), c(4), c(6)], p) == approx([-0.1, 1.0, 0.9])
    # none correct: l* = group mean = 4
    assert run(tiny_tokenizer, "shortest_correct", [c(2, "5"), c(4, "5"), c(6, "5")], p) == approx(
        [-0.1, 0.0, -0.1]
    )
    assert run(tiny_tokenizer, "shortest_correct", [c(9)], p) == approx([1.0])  # group of 1


def test_length_charges_stop_growing_at_max_tokens(tiny_tokenizer):
    # 1,000 reasoning tokens on a 10-token scale are charged as 10 (unbounded: 1 - 0.5 * 100 = -49)
    solve_rate, shortest = {"beta": 0.5, "max_tokens": 10}, {"alpha": 1.0, "beta": 0.5, "max_tokens": 10}
    assert run(tiny_tokenizer, "solve_rate", [c(10), c(1000)], solve_rate) == approx([0.5, 0.5])
    assert run(tiny_tokenizer, "shortest_correct", [c(2), c(1000)], shortest) == approx([1.0, 0.5])


def test_target_length(tiny_tokenizer):
    exact = {"mode": "exact", "alpha": 0.1}
    assert run(tiny_tokenizer, "target_length", [c(2), c(7, "5"), c(5)], exact, budget=[5, 5, 5]) == approx(
        [0.7, -0.2, 1.0]
    )
    mx = {"mode": "max", "alpha": 0.1, "delta": 0.5}
    got = run(
        tiny_tokenizer, "target_length", [c(2), c(10), c(0), c(0, "5"), c(3)], mx, budget=[5, 5, 10, 10, None]
    )
    assert got == approx([0.8, 0.0, 1.0, 0.0, None])
    with pytest.raises(ValueError, match="needs the dataset column 'budget'"):
        run(tiny_tokenizer, "target_length", [c(2)], exact)


def test_overlong(tiny_tokenizer):
    p = {"max_tokens": 10, "buffer_tokens": 4}
    assert run(tiny_tokenizer, "overlong", [c(0), c(6), c(8), c(10), c(11)], p) == approx(
        [0.0, 0.0, -0.5, -1.0, -1.0]
    )


def test_no_think_bonus(tiny_tokenizer):
    comps = [c(0), "<think> \n</think>4", c(1), c(0, "5"), "<think>"]
    assert run(tiny_tokenizer, "no_think_bonus", comps, {"delta": 0.3}) == [0.3, 0.3, 0.0, 0.0, 0.0]


def test_row_error_names_row_and_completion(tiny_tokenizer):
    comps = [c(1), "<think>the failing row</think>4"]
    with pytest.raises(RewardRowError, match=r"row 1 \(completion starts '<think>the failing row"):
        run(tiny_tokenizer, "target_length", comps, {"mode": "exact"}, budget=[3, "abc"])


def test_warmup_ramps_output(tiny_tokenizer):
    reward = get_reward("format", tiny_tokenizer, warmup_steps=10)
    kwargs = {"prompts": ["p"], "completions": [c(1)]}
    assert reward(**kwargs, trainer_state=SimpleNamespace(global_step=0)) == [0.0]
    assert reward(**kwargs, trainer_state=SimpleNamespace(global_step=5)) == [0.5]
    assert reward(**kwargs, trainer_state=SimpleNamespace(global_step=50)) == [1.0]
    assert reward(**kwargs) == [1.0]  # no trainer state: full weight


def test_chat_completions_and_batch_metrics(tiny_tokenizer):
    reward, logger = get_reward("correctness", tiny_tokenizer), BatchMetrics(tiny_tokenizer)
    metrics, extra = {}, {}
    comps = [
        [{"role": "assistant", "content": c(2)}],
        [{"role": "assistant", "content": c(4, "5")}],
        [{"role": "assistant", "content": c(6)}],
    ]
    prompts = [[{"role": "user", "content": "q1"}]] * 2 + [[{"role": "user", "content": "q2"}]]
    columns = {"answer": ["4"] * 3, "difficulty": [1, 1, 3]}
    hooks = {"log_metric": metrics.__setitem__, "log_extra": extra.__setitem__}
    assert reward(prompts=prompts, completions=comps, **columns, **hooks) == [1.0, 0.0, 1.0]
    assert metrics == {} and extra == {}  # a reward logs nothing: the batch-metrics logger does
    assert logger(prompts=prompts, completions=comps, **columns, **hooks) == [None, None, None]
    assert metrics == {
        "reasoning_tokens": 4.0,
        "accuracy": pytest.approx(2 / 3),
        "think_rate": 1.0,
        "completions": 3.0,
        "level_1/reasoning_tokens": 3.0,
        "level_1/accuracy": 0.5,
        "level_1/think_rate": 1.0,
        "level_1/completions": 2.0,
        "level_3/reasoning_tokens": 6.0,
        "level_3/accuracy": 1.0,
        "level_3/think_rate": 1.0,
        "level_3/completions": 1.0,
    }
    assert extra == {"reasoning_tokens": [2, 4, 6]}


def test_rewards_pickle_with_stable_name(tiny_tokenizer):
    reward = get_reward("solve_rate", tiny_tokenizer, {"max_tokens": 8, "history": "ema"})
    clone = pickle.loads(pickle.dumps(reward))
    assert clone.__name__ == "solve_rate" and clone.params.ema_decay == 0.9
    assert clone(prompts=["p"], completions=[c(4)], answer=["4"]) == approx([0.75])


def test_a_level_absent_from_a_batch_logs_zero_completions_so_the_trainers_mean_count_stays_true(
    tiny_tokenizer,
):
    reward = BatchMetrics(tiny_tokenizer)
    logged: dict[str, list[float]] = {}  # as TRL's _metrics: every call appends, the log event takes the mean

    def call(difficulty):
        n = len(difficulty)
        reward(
            prompts=["q"] * n,
            completions=[c(2)] * n,
            answer=["4"] * n,
            difficulty=difficulty,
            log_metric=lambda k, v: logged.setdefault(k, []).append(v),
        )

    call([1, 1, 3, 3])
    call([1, 1, 1, 1])
    call([1, 1, 1, 3])
    assert logged["level_3/completions"] == [2.0, 0.0, 1.0]  # 3 level-3 completions in 3 calls: mean 1
    assert len(logged["level_3/accuracy"]) == 2  # no accuracy where the level had no rows
