"""The hard cap on thinking for transformers generation: force `</think>` at N reasoning tokens.

    processor = ThinkingBudgetProcessor.for_tokenizer(tokenizer, budget_tokens=[8, 2], prompt_width=ids.shape[1])
    model.generate(ids, attention_mask=mask, logits_processor=LogitsProcessorList([processor]), ...)

Reasoning tokens are counted as `thinkdial.data.completion.parse_completion` splits a completion: the
think block starts after the completion's first `<think>`, or at the completion's first token when it
has none (the prompt opened the block, R1-style, or the model skipped the tag), and ends at the next
`</think>`. Once a sequence's open block holds its budget of tokens, every logit but `</think>`'s is
set to -inf, so no completion carries more reasoning tokens than its budget. Stateless (each step
reads the sequence so far), vectorised over the batch, one budget per row (None: no cap): reusable in
any `generate` call, e.g. budget-constrained GRPO rollouts.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import LogitsProcessor

from thinkdial.errors import UsageError
from thinkdial.models import THINK_CLOSE, THINK_OPEN

NO_CAP = torch.iinfo(torch.long).max


def think_tag_ids(tokenizer) -> tuple[int, int]:
    """Return the token ids of `<think>` and `</think>`; a UsageError when either is not a single token (the
    model's tokenizer cannot be capped)."""
    ids = [tokenizer(tag, add_special_tokens=False)["input_ids"] for tag in (THINK_OPEN, THINK_CLOSE)]
    if any(len(i) != 1 for i in ids):
        raise UsageError(
            f"the thinking cap needs {THINK_OPEN} and {THINK_CLOSE} to be single tokens; this "
            f"tokenizer gives {ids}"
        )
    return ids[0][0], ids[1][0]


class ThinkingBudgetProcessor(LogitsProcessor):
    """Force `</think>` once a row has `budget_tokens` reasoning tokens in its open think block.

    `budget_tokens`: one budget for every row, or one per prompt (None: no cap for that row); with
    `num_return_sequences` = k the batch has k rows per prompt, in order, and each gets its prompt's
    budget. `prompt_width`: the (padded) prompt length of the batch; the completion starts there.
    """

    def __init__(
        self,
        budget_tokens: int | Sequence[int | None],
        think_open_id: int,
        think_close_id: int,
        prompt_width: int,
    ):
        budgets = [budget_tokens] if isinstance(budget_tokens, int) else list(budget_tokens)
        if any(b is not None and (isinstance(b, bool) or not isinstance(b, int) or b < 0) for b in budgets):
            raise ValueError(
                f"budget_tokens must be whole numbers of reasoning tokens >= 0 (or None), got {budgets}"
            )
        self.budgets = torch.tensor([NO_CAP if b is None else b for b in budgets], dtype=torch.long)
        self.open_id, self.close_id, self.prompt_width = think_open_id, think_close_id, prompt_width

    @classmethod
    def for_tokenizer(cls, tokenizer, budget_tokens: int | Sequence[int | None], prompt_width: int):
        """Return a processor with `tokenizer`'s think-tag ids (see the class docstring)."""
        return cls(budget_tokens, *think_tag_ids(tokenizer), prompt_width=prompt_width)

    def _row_budgets(self, rows: int, device) -> torch.Tensor:
        if rows % len(self.budgets):
            raise ValueError(
                f"ThinkingBudgetProcessor: {len(self.budgets)} budgets do not divide a batch of {rows}"
            )
        return self.budgets.repeat_interleave(rows // len(self.budgets)).to(device)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """Return `scores` with every logit but `</think>`'s at -inf for the rows whose open think block
        already holds their budget of reasoning tokens."""
        completion = input_ids[:, self.prompt_width :]
        rows, steps = completion.shape
        positions = torch.arange(steps, device=input_ids.device)
        opened = completion == self.open_id
        first_open = opened.long().argmax(dim=1) if steps else torch.zeros(rows, dtype=torch.long)
        start = torch.where(opened.any(dim=1), first_open.to(input_ids.device) + 1, 0)
        closed = ((completion == self.close_id) & (positions >= start[:, None])).any(dim=1)
        force = ~closed & (steps - start >= self._row_budgets(rows, input_ids.device))
        if not force.any():
            return scores
        forced = scores.masked_fill(force[:, None], float("-inf"))
        forced[force, self.close_id] = 0.0
        return forced
