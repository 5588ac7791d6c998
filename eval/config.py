"""Eval config: which held-out rows, which thinking budgets, and how to decode (YAML-loadable)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from thinkdial.data.config import config_mapping
from thinkdial.data.dial import EFFORTS, parse_budget, parse_effort
from thinkdial.errors import UsageError

UNLIMITED = "unlimited"
BACKENDS = ("auto", "transformers", "vllm")
GENERATIONS = ("auto", "dynamic", "static", "static_compiled")  # eval/backends.py: generation_settings
DTYPES = ("auto", "float32", "bfloat16", "float16")
GENERATE_MAX_REASONING_TOKENS = 1024  # defaults of `thinkdial generate` / eval.dial.generate, in tokens
GENERATE_MAX_ANSWER_TOKENS = 64


@dataclass
class EvalConfig:
    """Settings of one scaling eval. Unknown keys are refused; every length is in tokens."""

    data_config: str = field(
        default="configs/tiny/data.yaml",
        metadata={
            "help": "Data config YAML (data/config.py) of the held-out rows. Relative paths resolve against the "
            "eval config's folder when the file exists there, else against the working directory."
        },
    )
    split: str = field(
        default="test", metadata={"help": "Split of the data config to evaluate ('test' or 'train')."}
    )
    limit: int | None = field(
        default=None,
        metadata={
            "help": "Evaluate at most this many rows (synthetic test splits keep every level, round-robin)."
        },
    )
    budgets: list = field(
        default_factory=lambda: [0, 2, 4, 8, 16, 32, UNLIMITED],
        metadata={
            "help": f"Thinking budgets in reasoning tokens (ints >= 0, or '{UNLIMITED}' = max_reasoning_tokens). "
            f"0 and '{UNLIMITED}' are always evaluated (accuracy_direct and free accuracy)."
        },
    )
    max_reasoning_tokens: int = field(
        default=48,
        metadata={
            "help": "Generation cap on reasoning tokens; a think block still open there is closed (budget forcing)."
        },
    )
    max_answer_tokens: int = field(
        default=4, metadata={"help": "Tokens allowed for the answer after a forced `</think>`."}
    )
    batch_size: int = field(default=256, metadata={"help": "Sequences per generation batch."})
    backend: str = field(
        default="auto",
        metadata={"help": f"One of {BACKENDS}; 'auto' picks vLLM when it is installed and a GPU is present."},
    )
    dtype: str = field(
        default="auto", metadata={"help": f"Model dtype, one of {DTYPES} ('auto': the checkpoint's)."}
    )
    generation: str = field(
        default="auto",
        metadata={
            "help": f"How the transformers backend decodes, one of {GENERATIONS}: 'dynamic' grows its KV cache as "
            "it goes, 'static' preallocates it, 'static_compiled' also compiles the decode step (CUDA only; the "
            "first batch of each shape pays the compile). 'auto': static_compiled on CUDA (static under "
            "ZeRO-3), dynamic elsewhere (eval/backends.py: generation_settings)."
        },
    )
    do_sample: bool = field(default=False, metadata={"help": "Sample instead of greedy decoding."})
    num_samples: int = field(
        default=1, metadata={"help": "Completions per prompt (sampling only; enables pass@k)."}
    )
    temperature: float = field(default=1.0, metadata={"help": "Sampling temperature."})
    top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling mass."})
    pass_k: list[int] = field(
        default_factory=lambda: [1],
        metadata={
            "help": "k values of pass@k (unbiased estimator, Chen et al. 2021); those above num_samples are skipped."
        },
    )
    extend_waits: int = field(
        default=0,
        metadata={
            "help": "s1 'extend' mode: when the model closes its think block before the budget, replace the close "
            "by `extend_text` up to this many times (0 = off)."
        },
    )
    extend_text: str = field(
        default="Wait", metadata={"help": "Text appended in place of `</think>` in extend mode."}
    )
    seed: int = field(default=0, metadata={"help": "Seed of sampling."})
    samples_per_level: int = field(
        default=3, metadata={"help": "Sample completions per level shown in report.md."}
    )
    cpu_threads: int = field(
        default=1,
        metadata={
            "help": "torch intra-op threads when the CLI evaluates on CPU (0 = torch's default). One thread is "
            "fastest for small models on a shared machine: more threads oversubscribe the cores."
        },
    )
    jobs: int = field(
        default=1,
        metadata={
            "help": "Checkpoints evaluated at once on a machine without an accelerator, each in its own process "
            "with cpu_threads threads (at most one per checkpoint and per core); with an accelerator or the "
            "vLLM backend one at a time."
        },
    )
    progress: bool = field(default=True, metadata={"help": "Show a progress bar over generation batches."})
    trust_remote_code: bool = field(
        default=False, metadata={"help": "Allow custom model code from checkpoints."}
    )
    requested_budgets: list[int] = field(
        default_factory=list,
        metadata={
            "help": "The dial's budget axis: thinking budgets in reasoning tokens (<= max_reasoning_tokens) rendered "
            "into the prompts (data/dial.py control text), decoded freely (no forcing; the cap stays "
            "max_reasoning_tokens). Each is also a budget-forcing budget, for the side-by-side comparison. "
            "Empty: no budget axis."
        },
    )
    efforts: list[str] = field(
        default_factory=list,
        metadata={
            "help": f"The dial's effort axis: effort levels among {EFFORTS} rendered into the prompts, decoded "
            "freely; each needs its tier in effort_budgets. Empty: no effort axis."
        },
    )
    effort_budgets: dict[str, int] = field(
        default_factory=dict,
        metadata={
            "help": "Effort tier -> budget in reasoning tokens the model was trained for, e.g. {low: 4, medium: 8, "
            "high: 16}: adherence of an effort level is measured against it (and forced at it)."
        },
    )
    input_usd_per_1m_tokens: float | None = field(
        default=None,
        metadata={
            "help": "Price of prompt tokens, USD per 1M tokens, for the cost view (with output_usd_per_1m_tokens)."
        },
    )
    output_usd_per_1m_tokens: float | None = field(
        default=None,
        metadata={"help": "Price of completion tokens (reasoning tokens bill as output), USD per 1M tokens."},
    )
    decode_tokens_per_s: float | None = field(
        default=None,
        metadata={
            "help": "Decode speed in tokens per second of one request, for the cost view's latency estimate "
            "(completion tokens / speed; prefill not counted). None: no latency column."
        },
    )

    def __post_init__(self):
        if self.split not in ("train", "test"):
            raise UsageError(f"eval config: split must be 'train' or 'test', got {self.split!r}")
        if self.limit is not None and self.limit < 1:
            raise UsageError(f"eval config: limit must be >= 1 (or null for all rows), got {self.limit}")
        for name in ("max_reasoning_tokens", "max_answer_tokens", "batch_size", "num_samples"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise UsageError(f"eval config: {name} must be an integer >= 1, got {getattr(self, name)!r}")
        if not isinstance(self.budgets, list) or not self.budgets:
            raise UsageError(f"eval config: budgets must be a non-empty list, got {self.budgets!r}")
        for b in self.budgets:
            if b == UNLIMITED:
                continue
            if isinstance(b, bool) or not isinstance(b, int) or b < 0:
                raise UsageError(f"eval config: budgets must be integers >= 0 or '{UNLIMITED}', got {b!r}")
            if b > self.max_reasoning_tokens:
                raise UsageError(
                    f"eval config: budget {b} exceeds max_reasoning_tokens ({self.max_reasoning_tokens}); "
                    f"raise max_reasoning_tokens or use '{UNLIMITED}'"
                )
        if self.backend not in BACKENDS:
            raise UsageError(f"eval config: backend must be one of {BACKENDS}, got {self.backend!r}")
        if self.generation not in GENERATIONS:
            raise UsageError(f"eval config: generation must be one of {GENERATIONS}, got {self.generation!r}")
        if self.dtype not in DTYPES:
            raise UsageError(f"eval config: dtype must be one of {DTYPES}, got {self.dtype!r}")
        if self.num_samples > 1 and not self.do_sample:
            raise UsageError(
                "eval config: num_samples > 1 needs do_sample: true (greedy samples are identical)"
            )
        if not 0 < self.temperature < math.inf or not 0 < self.top_p <= 1:
            raise UsageError(
                f"eval config: need temperature > 0 and 0 < top_p <= 1, got {self.temperature}, {self.top_p}"
            )
        if not self.pass_k or any(not isinstance(k, int) or k < 1 for k in self.pass_k):
            raise UsageError(f"eval config: pass_k must be a list of integers >= 1, got {self.pass_k!r}")
        if self.extend_waits < 0 or self.samples_per_level < 0 or self.cpu_threads < 0:
            raise UsageError("eval config: extend_waits, samples_per_level and cpu_threads must be >= 0")
        if isinstance(self.jobs, bool) or not isinstance(self.jobs, int) or self.jobs < 1:
            raise UsageError(f"eval config: jobs must be an integer >= 1, got {self.jobs!r}")
        self._check_dial()
        self._check_costs()

    def _check_dial(self) -> None:
        if (
            not isinstance(self.requested_budgets, list)
            or not isinstance(self.efforts, list)
            or not isinstance(self.effort_budgets, dict)
        ):
            raise UsageError(
                "eval config: requested_budgets and efforts must be lists, effort_budgets a mapping"
            )
        self.requested_budgets = sorted(
            {self._dial_budget(f"requested_budgets[{i}]", b) for i, b in enumerate(self.requested_budgets)}
        )
        self.effort_budgets = {
            parse_effort(k, "eval config: effort_budgets"): self._dial_budget(f"effort_budgets.{k}", v)
            for k, v in self.effort_budgets.items()
        }
        self.efforts = [parse_effort(e, f"eval config: efforts[{i}]") for i, e in enumerate(self.efforts)]
        missing = [e for e in self.efforts if e not in self.effort_budgets]
        if missing:
            raise UsageError(
                f"eval config: efforts {missing} need their tier budget in effort_budgets, e.g. "
                f"effort_budgets: {{{missing[0]}: N}} (reasoning tokens the model was trained for)"
            )

    def _dial_budget(self, key: str, value) -> int:
        budget = parse_budget(value, f"eval config: {key}")
        if budget is None or budget > self.max_reasoning_tokens:
            raise UsageError(
                f"eval config: {key} must be a budget in reasoning tokens <= max_reasoning_tokens "
                f"({self.max_reasoning_tokens}), got {value!r}; raise max_reasoning_tokens or lower "
                "the budget"
            )
        return budget

    def _check_costs(self) -> None:
        prices = (self.input_usd_per_1m_tokens, self.output_usd_per_1m_tokens)
        if (prices[0] is None) != (prices[1] is None):
            raise UsageError(
                "eval config: set both input_usd_per_1m_tokens and output_usd_per_1m_tokens (or neither)"
            )
        for name in ("input_usd_per_1m_tokens", "output_usd_per_1m_tokens", "decode_tokens_per_s"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or value < 0
                or (name == "decode_tokens_per_s" and value == 0)
            ):
                raise UsageError(
                    f"eval config: {name} must be a finite number >= 0 (speed > 0), got {value!r}"
                )

    @property
    def dial_budgets(self) -> dict[str, dict[str, int]]:
        """Return the dial axes: {"requested": {"B": B}, "efforts": {level: tier budget}} (reasoning tokens)."""
        return {
            "requested": {str(b): b for b in self.requested_budgets},
            "efforts": {e: self.effort_budgets[e] for e in self.efforts},
        }

    @property
    def budget_tokens(self) -> list[int]:
        """Return the budget-forcing budgets, in reasoning tokens, ascending: `budgets`, the dial's requested
        and effort-tier budgets, 0 and the cap."""
        numeric = {self.max_reasoning_tokens if b == UNLIMITED else b for b in self.budgets}
        dial = {b for axis in self.dial_budgets.values() for b in axis.values()}
        return sorted(numeric | dial | {0, self.max_reasoning_tokens})

    def budget_label(self, budget_tokens: int) -> str:
        """Return the results key of a budget: its token count, or 'unlimited' for the cap."""
        return UNLIMITED if budget_tokens == self.max_reasoning_tokens else str(budget_tokens)


def load_eval_config(path: str | Path | dict, **overrides) -> EvalConfig:
    """Return the EvalConfig in YAML file `path` (or a dict) with non-None `overrides` applied.

    Unknown keys raise a UsageError naming them; `data_config` resolves as its help string says.
    """
    raw, base = config_mapping(path, "eval config", EvalConfig, overrides)
    data = raw.get("data_config")
    if data and not Path(data).is_absolute() and (base / data).is_file():
        raw["data_config"] = str(base / data)
    config = EvalConfig(**raw)
    if not Path(config.data_config).is_file():
        raise UsageError(f"eval config: data_config not found: {config.data_config}")
    return config
