"""`ThinkdialGRPOTrainer`: TRL 1.16's GRPOTrainer with the two advantage options of published methods it lacks.

- Dynamic sampling (DAPO, Yu et al. 2025, arXiv 2503.14476; DLER's `filter_groups`): the groups whose deciding
  rewards are all equal are masked out of the loss and out of the batch std (train/dynamic_sampling.py). It
  masks rather than resamples: TRL generates a fixed batch, so an optimizer step sees fewer prompts than DAPO's
  refilled batch (DLER keeps generating until 512 informative prompts are collected).
- `advantage_baseline: none` (AdaptThink's 'naive' estimator, arXiv 2505.13417): the advantage is the weighted
  reward itself, with no group mean subtracted, so a reward's own baseline (AdaptThink's R_ref) is the baseline.

Both replace what TRL's `_generate_and_score_completions` returns, after it ran: this process's `advantages`,
and for dynamic sampling the `completion_mask` and `num_items_in_batch` (the gathered loss-mask sum that
`loss_type: dapo` divides by), from the gathered rewards per function that `_calculate_rewards` returned. They
rely on those internals of TRL 1.16, which tests/test_train_grpo_trainer.py pins.
"""

from __future__ import annotations

import torch
from trl import GRPOTrainer

from thinkdial.train.dynamic_sampling import filtered_advantages, informative_groups

ADVANTAGE_BASELINES = ("group", "none")


class ThinkdialGRPOTrainer(GRPOTrainer):
    """GRPOTrainer whose advantages follow the recipe's `dynamic_sampling` and `advantage_baseline` (module
    docstring); TRL's own when neither is set."""

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        """Return TRL's gathered rewards per function (all processes' rows), kept for the advantages."""
        self._rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        return self._rewards_per_func

    def _generate_and_score_completions(self, inputs):
        """Return TRL's batch, its advantages (and, with dynamic sampling, loss mask) replaced."""
        output = super()._generate_and_score_completions(inputs)
        if not (self.args.dynamic_sampling or self.args.advantage_baseline == "none"):
            return output
        rewards_per_func = self._rewards_per_func
        unscorable = torch.isnan(rewards_per_func).all(dim=1)
        weights = self.reward_weights.to(rewards_per_func.device)
        rewards = (rewards_per_func * weights.unsqueeze(0)).nansum(dim=1).masked_fill(unscorable, torch.nan)
        rows = len(output["advantages"])
        local = slice(self.accelerator.process_index * rows, (self.accelerator.process_index + 1) * rows)
        device = output["advantages"].device
        if self.args.advantage_baseline == "none":
            output["advantages"] = torch.nan_to_num(rewards, nan=0.0)[local].to(device)
            return output
        size = self.num_generations if self.model.training else self.num_generations_eval
        deciding = rewards
        if self.args.dynamic_sampling_reward is not None:
            deciding = rewards_per_func[:, self.reward_func_names.index(self.args.dynamic_sampling_reward)]
        keep = informative_groups(deciding.tolist(), size)
        advantages = filtered_advantages(rewards.tolist(), size, self.scale_rewards, keep)
        output["advantages"] = torch.tensor(advantages, dtype=torch.float32)[local].to(device)
        kept = torch.tensor([k for k in keep for _ in range(size)], device=device)[local]
        output["completion_mask"] = output["completion_mask"] * kept.unsqueeze(1).to(
            output["completion_mask"].dtype
        )
        loss_mask = output["completion_mask"] * output.get("tool_mask", 1)
        output["num_items_in_batch"] = self.accelerator.gather(loss_mask.sum()).sum()
        mode = "train" if self.model.training else "eval"
        self._metrics[mode]["dynamic_sampling/kept_groups"].append(sum(keep) / len(keep))
        return output
