"""Elastic Reasoning's separate thinking and solution budgets (E1, Xu et al. 2025, arXiv 2505.05315).

E1's budget-constrained rollout (SalesforceAIResearch/Elastic-Reasoning
verl/verl/workers/rollout/vllm_rollout/vllm_rollout.py, `e1_mode`) writes the thinking with at most t tokens,
stopping at `</think>`; a think block still open after t tokens gets `</think>` appended, and the solution is
then written in a second pass with at most s tokens, whatever the thinking used. Every prompt gets the same
t and s (E1-Math-1.5B: 1,024 each), unlike thinkdial's budget-constrained rollouts, which cut at the budget
each prompt asks for and let the answer run to max_completion_length.

These functions act on token ids of one completion; the rollout that would call them is described in
docs/methods.md ("Trainer features thinkdial lacks").
"""

from __future__ import annotations


def cap_thinking(
    completion: list[int], close_id: int, thinking_tokens: int, start: int = 0
) -> tuple[list[int], bool]:
    """Return (head, cut) for a completion whose think block starts at index `start` (0 when the prompt opens
    it, 1 after the completion's own opening tag): the completion through its closing tag when the block
    closes within `thinking_tokens` reasoning tokens (cut False), else its first `start + thinking_tokens`
    tokens with `close_id` appended (cut True: the solution pass starts after it)."""
    if thinking_tokens < 0 or start < 0:
        raise ValueError(f"need thinking_tokens >= 0 and start >= 0, got {thinking_tokens} and {start}")
    reasoning = completion[start:]
    if close_id in reasoning[: thinking_tokens + 1]:
        return completion[: start + reasoning.index(close_id) + 1], False
    return completion[: start + thinking_tokens] + [close_id], True


def elastic_completion(head: list[int], solution: list[int], solution_tokens: int) -> list[int]:
    """Return E1's completion: `head` (from `cap_thinking`) followed by at most `solution_tokens` tokens of
    `solution` (what the model wrote after its own closing tag, or the solution pass after a cut)."""
    if solution_tokens < 0:
        raise ValueError(f"need solution_tokens >= 0, got {solution_tokens}")
    return head + solution[:solution_tokens]
