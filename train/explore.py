"""AdaptThink-style exploration of direct answers during GRPO (Zhang et al. 2025, "AdaptThink: Reasoning
Models Can Learn When to Think").

In every group of `num_generations` completions, `round(share * num_generations)` are made to answer at
once: the think block is opened and closed before the model writes (`<think></think>`, or only `</think>`
when the prompt itself opens the block, R1-style), and the model then writes its answer. The rest are
sampled as usual. So the policy keeps seeing what a direct answer earns at every level, also after it
has stopped answering directly by itself: a start whose direct answers were pushed out everywhere by the
levels that need reasoning can still learn them where they are right (measured: without it, no reward
setting tried kept direct answers at the embedded default's level 1 without first dragging the other
levels down). The forced tokens stay in the loss, so a forced direct answer that earns more than its
group raises the probability of answering directly, one that earns less lowers it; there is no
importance weight (TRL computes the old log-probabilities itself), which biases the update towards the
mixture the groups were drawn from, as AdaptThink's fixed-proportion sampling does.

A TRL `rollout_func`: it renders and generates with the trainer's own methods (`_tokenize_prompts`,
`_generate_single_turn`, the generation settings of the recipe, vLLM when `use_vllm`), checked against
the pinned TRL version by tests/test_train_explore.py.
"""

from __future__ import annotations

from thinkdial.models import THINK_CLOSE, THINK_OPEN


class DirectExploration:
    """A TRL rollout function forcing direct answers in a share of every group (see the module docstring)."""

    def __init__(self, share: float, num_generations: int, tokenizer):
        if not 0 <= share < 1:
            raise ValueError(f"direct exploration share must be in [0, 1), got {share}")
        self.forced_per_group = round(share * num_generations)
        self.num_generations = num_generations
        self.open_ids = tokenizer(THINK_OPEN, add_special_tokens=False)["input_ids"]
        self.close_ids = tokenizer(THINK_CLOSE, add_special_tokens=False)["input_ids"]

    def forced(self, rows: int, offset: int) -> list[bool]:
        """Return, for `rows` consecutive rows starting at global row `offset`, whether each is forced to answer
        directly (the first `forced_per_group` rows of every group of `num_generations`)."""
        return [(offset + i) % self.num_generations < self.forced_per_group for i in range(rows)]

    def head(self, prompt_ids: list[int]) -> list[int]:
        """Return the forced start of a direct answer after `prompt_ids`: the closing tag, and the opening tag
        first unless the prompt already ends with it."""
        opened = len(prompt_ids) >= len(self.open_ids) and prompt_ids[-len(self.open_ids) :] == self.open_ids
        return self.close_ids if opened else self.open_ids + self.close_ids

    def __call__(self, prompts: list, trainer) -> dict:
        """Return TRL's rollout dict for `prompts` (this process's rows, a group's rows consecutive):
        `prompt_ids`, `completion_ids` (forced heads included) and `logprobs` (None on the transformers path)."""
        prompt_ids, images, multimodal = trainer._tokenize_prompts(prompts)
        forced = self.forced(len(prompt_ids), trainer.accelerator.process_index * len(prompt_ids))
        heads = [self.head(ids) if f else [] for ids, f in zip(prompt_ids, forced, strict=True)]
        generated, logprobs = trainer._generate_single_turn(
            [ids + head for ids, head in zip(prompt_ids, heads, strict=True)], images, multimodal, 1
        )
        room = trainer.max_completion_length
        completion_ids = [head + ids[: room - len(head)] for head, ids in zip(heads, generated, strict=True)]
        if logprobs is not None:  # vLLM: the forced tokens had probability 1 under the sampler
            logprobs = [
                [0.0] * len(head) + lp[: room - len(head)] for head, lp in zip(heads, logprobs, strict=True)
            ]
        return {"prompt_ids": prompt_ids, "completion_ids": completion_ids, "logprobs": logprobs}
