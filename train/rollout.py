"""GRPO rollouts with two optional twists, as one TRL `rollout_func` on the trainer's own generation.

1. Exploration of direct answers (AdaptThink, Zhang et al. 2025, "AdaptThink: Reasoning Models Can Learn
   When to Think"): in every group of `num_generations` completions, `round(direct_share * num_generations)`
   are made to answer at once: the think block is opened and closed before the model writes
   (`<think></think>`, or only `</think>` when the prompt opens the block itself, R1-style), then the model
   writes its answer. So the policy keeps seeing what a direct answer earns at every level, also after it
   has stopped answering directly by itself (a start built without direct answers, e.g. from a user's
   worked solutions). The forced tokens stay in the loss, so a forced direct answer that earns more than
   its group raises the probability of answering directly; there is no importance weight (TRL computes the
   old log-probabilities itself), which biases the update towards the mixture the groups were drawn from,
   as AdaptThink's fixed-proportion sampling does.
2. Budget-constrained rollouts (Elastic Reasoning, Xu et al. 2025; s1's budget forcing applied while
   training): a completion whose prompt asks for a thinking budget of B tokens (the dial's control text,
   data/dial.py) and that is still thinking after B reasoning tokens is cut there, `</think>` is appended
   and the model writes its answer in a second pass. So a long-thinking model's budget rows still earn
   informative rewards (an answer within the budget) instead of all failing past it. With a cut share
   below 1 only that share of a group's over-budget completions is cut (spread evenly, the first one kept
   whole): the others keep the reward's over-budget charge, so the group holds both "close the block at
   the budget" (cut, then answered) and "write past it" (charged) at the same prompt.
3. Elastic Reasoning's separate budgets (E1, Xu et al. 2025, arXiv 2505.05315; train/elastic.py): every
   row thinks for at most `thinking_tokens` whatever its prompt says (a longer think block is cut there,
   closed, and answered in a second pass), and every answer keeps at most `solution_tokens` tokens.

Tokens the rollout forces (a direct answer's head, the `</think>` appended at a cut) carry a sampling
log-probability of NaN on the vLLM path: TRL 1.16 gives such a token an importance ratio of exactly 1, so
its vLLM importance-sampling correction weighs the completion by the tokens the model did sample
(tests/test_train_rollout.py checks it against TRL's code).

It renders and generates with the trainer's own methods (`_tokenize_prompts`, `_generate_single_turn`:
the recipe's sampling settings, vLLM when `use_vllm`), checked against the pinned TRL version by
tests/test_train_rollout.py. The think tags must be single tokens of the policy's tokenizer.
"""

from __future__ import annotations

import sys

from thinkdial.data.dial import requested_budget
from thinkdial.eval.backends import generation_settings, resolve_generation
from thinkdial.models import THINK_CLOSE, THINK_OPEN
from thinkdial.train.elastic import cap_thinking, elastic_completion
from thinkdial.train.runner import prompt_texts

ROLLOUT_GENERATION = "grpo: rollout generation:"  # the stderr line's start: vllm, dynamic, static, ...
FORCED = float("nan")  # the sampling log-probability reported for a token the rollout forced


class ThinkdialRollout:
    """A TRL rollout function: direct-answer exploration and budget-constrained rollouts (module docstring)."""

    def __init__(
        self,
        tokenizer,
        num_generations: int,
        direct_share: float = 0.0,
        cut_at_budget: bool = False,
        effort_budgets: dict[str, int] | None = None,
        cut_share: float = 1.0,
        thinking_tokens: int | None = None,
        solution_tokens: int | None = None,
    ):
        if not 0 <= direct_share < 1:
            raise ValueError(f"direct_share must be in [0, 1), got {direct_share}")
        if not 0 < cut_share <= 1:
            raise ValueError(f"cut_share must be in (0, 1], got {cut_share}")
        elastic = thinking_tokens is not None
        if elastic != (solution_tokens is not None) or (elastic and cut_at_budget):
            raise ValueError("elastic budgets need thinking_tokens and solution_tokens, and no cut_at_budget")
        self.cut_share, self.tokenizer = cut_share, tokenizer
        self.thinking_tokens, self.solution_tokens = thinking_tokens, solution_tokens
        self.open_ids = tokenizer(THINK_OPEN, add_special_tokens=False)["input_ids"]
        self.close_ids = tokenizer(THINK_CLOSE, add_special_tokens=False)["input_ids"]
        if len(self.open_ids) != 1 or len(self.close_ids) != 1:
            raise ValueError(
                f"thinkdial rollouts need {THINK_OPEN} and {THINK_CLOSE} to be single tokens; this "
                f"tokenizer gives {self.open_ids} and {self.close_ids}"
            )
        self.forced_per_group = round(direct_share * num_generations)
        self.num_generations, self.cut_at_budget, self.effort_budgets = (
            num_generations,
            cut_at_budget,
            effort_budgets,
        )

    def forced(self, rows: int, offset: int) -> list[bool]:
        """Return, for `rows` consecutive rows starting at global row `offset`, whether each is forced to answer
        directly (the first `forced_per_group` rows of every group of `num_generations`)."""
        return [(offset + i) % self.num_generations < self.forced_per_group for i in range(rows)]

    def opened(self, prompt_ids: list[int]) -> bool:
        """Return whether the prompt opens the think block itself: the opening tag, then nothing but whitespace
        (R1-Distill's generation prompt ends with `<think>` and a newline token)."""
        if self.open_ids[0] not in prompt_ids:
            return False
        after = prompt_ids[len(prompt_ids) - prompt_ids[::-1].index(self.open_ids[0]) :]
        return not self.tokenizer.decode(after).strip()

    def head(self, prompt_ids: list[int]) -> list[int]:
        """Return the forced start of a direct answer after `prompt_ids`: the closing tag, after the opening tag
        unless the prompt already ends with it."""
        return self.close_ids if self.opened(prompt_ids) else self.open_ids + self.close_ids

    def cut(self, prompt_ids: list[int], completion: list[int], budget: int) -> list[int] | None:
        """Return `completion` cut after `budget` reasoning tokens with the closing tag appended, when its
        think block runs past the budget; None when it closes within it, or when the completion does not
        start a think block (the prompt's, R1-style, or its own first token)."""
        start = 0 if self.opened(prompt_ids) else (1 if completion[:1] == self.open_ids else None)
        if start is None:
            return None
        reasoning = completion[start:]
        close = reasoning.index(self.close_ids[0]) if self.close_ids[0] in reasoning else len(reasoning) + 1
        return None if close <= budget else completion[: start + budget] + self.close_ids

    def __call__(self, prompts: list, trainer) -> dict:
        """Return TRL's rollout dict for `prompts` (this process's rows, a group's rows consecutive):
        `prompt_ids`, `completion_ids` and `logprobs` (None on the transformers path)."""
        prompt_ids, images, multimodal = trainer._tokenize_prompts(prompts)
        offset = trainer.accelerator.process_index * len(prompt_ids)  # this process's first global row
        forced = self.forced(len(prompt_ids), offset)
        heads = [self.head(ids) if f else [] for ids, f in zip(prompt_ids, forced, strict=True)]
        generated, logprobs = trainer._generate_single_turn(
            [ids + head for ids, head in zip(prompt_ids, heads, strict=True)], images, multimodal, 1
        )
        completions = [head + ids for head, ids in zip(heads, generated, strict=True)]
        if logprobs is not None:  # vLLM: forced tokens were not sampled (NaN: importance ratio 1 in TRL)
            logprobs = [[FORCED] * len(head) + lp for head, lp in zip(heads, logprobs, strict=True)]
        if self.cut_at_budget:
            self.answer_at_budgets(prompts, prompt_ids, completions, logprobs, forced, trainer, offset)
        if self.thinking_tokens is not None:
            self.answer_elastic(prompt_ids, completions, logprobs, trainer)
        room = trainer.max_completion_length
        return {
            "prompt_ids": prompt_ids,
            "completion_ids": [c[:room] for c in completions],
            "logprobs": None if logprobs is None else [lp[:room] for lp in logprobs],
        }

    def cuts(self, past: int) -> bool:
        """Return whether a group's over-budget completion number `past` (0 for its first) is cut: the share
        `cut_share` of them, spread evenly, the first one kept whole unless every one is cut."""
        return int((past + 1) * self.cut_share + 1e-9) > int(past * self.cut_share + 1e-9)

    def answer_at_budgets(
        self, prompts, prompt_ids, completions, logprobs, forced, trainer, offset=0
    ) -> None:
        """Cut, in place, the completions thinking past their prompt's budget that `cuts` picks (rows counted
        from global row `offset` to find their group), and let the model answer after the forced `</think>`
        (one generation pass for all of them); return None."""
        jobs, past = [], {}
        for i, prompt in enumerate(prompts):
            budget = None if forced[i] else requested_budget(prompt, self.effort_budgets)
            head = None if budget is None else self.cut(prompt_ids[i], completions[i], budget)
            if head is None:
                continue
            group = (offset + i) // self.num_generations
            past[group] = past.get(group, -1) + 1
            if self.cuts(past[group]):
                jobs.append((i, head))
        if not jobs:
            return
        answers, answer_logprobs = trainer._generate_single_turn(
            [prompt_ids[i] + head for i, head in jobs], None, {}, 1
        )
        for k, (i, head) in enumerate(jobs):
            completions[i] = head + answers[k]
            if logprobs is not None:
                logprobs[i] = logprobs[i][: len(head) - 1] + [FORCED] + answer_logprobs[k]

    def answer_elastic(self, prompt_ids, completions, logprobs, trainer) -> None:
        """Apply E1's budgets in place: cap every think block at `thinking_tokens` (`cap_thinking`; a block the
        model left open, EOS dropped, is closed too) and let the model answer the cut ones after the forced
        `</think>` (one generation pass for all of them), every answer capped at `solution_tokens`; return None."""
        jobs = []
        for i, completion in enumerate(completions):
            start = 0 if self.opened(prompt_ids[i]) or completion[:1] != self.open_ids else 1
            ended = completion[-1:] and completion[-1] in trainer.eos_token_ids
            # an EOS inside the think block ends the thinking, not the answer
            body = completion[:-1] if ended and self.close_ids[0] not in completion else completion
            head, cut = cap_thinking(body, self.close_ids[0], self.thinking_tokens, start)
            if cut:
                jobs.append((i, head))
                continue
            completions[i] = elastic_completion(head, completion[len(head) :], self.solution_tokens)
            if logprobs is not None:
                logprobs[i] = logprobs[i][: len(completions[i])]
        if not jobs:
            return
        answers, answer_logprobs = trainer._generate_single_turn(
            [prompt_ids[i] + head for i, head in jobs], None, {}, 1
        )
        for k, (i, head) in enumerate(jobs):
            completions[i] = elastic_completion(head, answers[k], self.solution_tokens)
            if logprobs is not None:
                kept = len(completions[i]) - len(head)
                logprobs[i] = logprobs[i][: len(head) - 1] + [FORCED] + answer_logprobs[k][:kept]


def set_rollout_generation(trainer, generation: str) -> str:
    """Make TRL's transformers rollouts decode as `generation` says (eval/backends.py: generation_settings), say
    which on stderr (main process), and return the setting in force; 'vllm' or 'continuous_batching' (nothing
    changed) when those generate.

    TRL builds `trainer.generation_config` with compilation disabled; this sets its cache and compile fields
    in place, and sizes a static cache for the longest train prompt plus a forced direct answer's two think
    tags plus max_completion_length, so every rollout batch reuses one compiled decode step."""
    if trainer.use_vllm:
        setting = "vllm"
    elif trainer.use_transformers_continuous_batching:
        setting = "continuous_batching"
    else:
        device = trainer.accelerator.device
        settings = generation_settings(generation, device)
        if settings:
            texts = prompt_texts(trainer.train_dataset["prompt"], trainer.processing_class)
            ids = trainer.processing_class(texts, add_special_tokens=False, verbose=False)["input_ids"]
            settings["max_cache_len"] = max(map(len, ids)) + 2 + trainer.max_completion_length
        for name, value in settings.items():
            setattr(trainer.generation_config, name, value)
        setting = resolve_generation(generation, device)
    if trainer.accelerator.is_main_process:
        print(f"{ROLLOUT_GENERATION} {setting}", file=sys.stderr, flush=True)
    return setting
