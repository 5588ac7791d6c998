"""Eval config: which held-out rows, which thinking budgets, and how to decode (YAML-loadable)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from thinkdial.data.config import config_mapping

from thinkdial.errors import UsageError

UNLIMITED = "unlimited"
BACKENDS = ("auto", "transformers", "vllm")
DTYPES = ("auto", "float32", "bfloat16", "float16")


@dataclass
class EvalConfig:
    """Settings of one scaling eval. Unknown keys are refused; every length is in tokens."""

    data_config: str = field(default="configs/tiny/data.yaml", metadata={
        "help": "Data config YAML (data/config.py) of the held-out rows. Relative paths resolve against the "
                "eval config's folder when the file exists there, else against the working directory."})
    split: str = field(default="test", metadata={"help": "Split of the data config to evaluate ('test' or 'train')."})
    limit: int | None = field(default=None, metadata={
        "help": "Evaluate at most this many rows (synthetic test splits keep every level, round-robin)."})
    budgets: list = field(default_factory=lambda: [0, 2, 4, 8, 16, 32, UNLIMITED], metadata={
        "help": f"Thinking budgets in reasoning tokens (ints >= 0, or '{UNLIMITED}' = max_reasoning_tokens). "
                f"0 and '{UNLIMITED}' are always evaluated (accuracy_direct and free accuracy)."})
    max_reasoning_tokens: int = field(default=48, metadata={
        "help": "Generation cap on reasoning tokens; a think block still open there is closed (budget forcing)."})
    max_answer_tokens: int = field(default=4, metadata={
        "help": "Tokens allowed for the answer after a forced `</think>`."})
    batch_size: int = field(default=256, metadata={"help": "Sequences per generation batch."})
    backend: str = field(default="auto", metadata={
        "help": f"One of {BACKENDS}; 'auto' picks vLLM when it is installed and a GPU is present."})
    dtype: str = field(default="auto", metadata={"help": f"Model dtype, one of {DTYPES} ('auto': the checkpoint's)."})
    do_sample: bool = field(default=False, metadata={"help": "Sample instead of greedy decoding."})
    num_samples: int = field(default=1, metadata={"help": "Completions per prompt (sampling only; enables pass@k)."})
    temperature: float = field(default=1.0, metadata={"help": "Sampling temperature."})
    top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling mass."})
    pass_k: list[int] = field(default_factory=lambda: [1], metadata={
        "help": "k values of pass@k (unbiased estimator, Chen et al. 2021); those above num_samples are skipped."})
    extend_waits: int = field(default=0, metadata={
        "help": "s1 'extend' mode: when the model closes its think block before the budget, replace the close "
                "by `extend_text` up to this many times (0 = off)."})
    extend_text: str = field(default="Wait", metadata={"help": "Text appended in place of `</think>` in extend mode."})
    seed: int = field(default=0, metadata={"help": "Seed of sampling."})
    samples_per_level: int = field(default=3, metadata={"help": "Sample completions per level shown in report.md."})
    cpu_threads: int = field(default=1, metadata={
        "help": "torch intra-op threads when the CLI evaluates on CPU (0 = torch's default). One thread is "
                "fastest for small models on a shared machine: more threads oversubscribe the cores."})
    progress: bool = field(default=True, metadata={"help": "Show a progress bar over generation batches."})
    trust_remote_code: bool = field(default=False, metadata={"help": "Allow custom model code from checkpoints."})

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
                raise UsageError(f"eval config: budget {b} exceeds max_reasoning_tokens ({self.max_reasoning_tokens}); "
                                 f"raise max_reasoning_tokens or use '{UNLIMITED}'")
        if self.backend not in BACKENDS:
            raise UsageError(f"eval config: backend must be one of {BACKENDS}, got {self.backend!r}")
        if self.dtype not in DTYPES:
            raise UsageError(f"eval config: dtype must be one of {DTYPES}, got {self.dtype!r}")
        if self.num_samples > 1 and not self.do_sample:
            raise UsageError("eval config: num_samples > 1 needs do_sample: true (greedy samples are identical)")
        if self.temperature <= 0 or not 0 < self.top_p <= 1:
            raise UsageError(f"eval config: need temperature > 0 and 0 < top_p <= 1, got {self.temperature}, {self.top_p}")
        if not self.pass_k or any(not isinstance(k, int) or k < 1 for k in self.pass_k):
            raise UsageError(f"eval config: pass_k must be a list of integers >= 1, got {self.pass_k!r}")
        if self.extend_waits < 0 or self.samples_per_level < 0 or self.cpu_threads < 0:
            raise UsageError("eval config: extend_waits, samples_per_level and cpu_threads must be >= 0")

    @property
    def budget_tokens(self) -> list[int]:
        """Return the budgets to evaluate, in reasoning tokens, ascending, always with 0 and the cap."""
        numeric = {self.max_reasoning_tokens if b == UNLIMITED else b for b in self.budgets}
        return sorted(numeric | {0, self.max_reasoning_tokens})

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
