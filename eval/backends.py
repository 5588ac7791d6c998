"""Generation backends behind one interface: token ids in, completion token ids out.

`backend.generate(prompt_ids, max_new_tokens, num_samples=1, stop_token_ids=())` returns, for each
prompt in order, `num_samples` completions (token ids, prompt excluded), flattened prompt-major. A
completion ends at the first EOS or stop token, which it includes; padding is removed. Both backends
share `tokenizer`, so budget forcing and metrics do not depend on which one ran.

- `TransformersBackend`: batched `model.generate` with left padding and the KV cache, prompts sorted
  by length so batches pad little; greedy or sampled; a tqdm bar over batches. Wraps a live model
  (the training callback) or a checkpoint (`load_backend`). How it decodes (dynamic or static KV
  cache, compiled or not) is `generation_settings`, which GRPO's transformers rollouts use too.
- `VLLMBackend`: vLLM's offline engine, used when vLLM is installed and a GPU is present.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from tqdm.auto import tqdm

from thinkdial.errors import UsageError
from thinkdial.eval.config import GENERATIONS, EvalConfig
from thinkdial.models import load_tokenizer


def vllm_available() -> bool:
    """Return True when vLLM imports and a CUDA device is present."""
    try:
        import vllm  # noqa: F401
    except ImportError:
        return False
    return torch.cuda.is_available()


def resolve_generation(generation: str, device: torch.device | str) -> str:
    """Return the setting that `generation` (one of GENERATIONS) names for a model on `device`: 'auto' is
    'static_compiled' on CUDA, 'static' there under DeepSpeed ZeRO-3 (it gathers the weights into new memory
    for every generation, which a compiled CUDA graph would have to re-record), 'dynamic' elsewhere."""
    if generation not in GENERATIONS:
        raise UsageError(f"generation must be one of {GENERATIONS}, got {generation!r}")
    if generation != "auto":
        return generation
    if torch.device(device).type != "cuda":
        return "dynamic"
    from transformers.integrations.deepspeed import is_deepspeed_zero3_enabled

    return "static" if is_deepspeed_zero3_enabled() else "static_compiled"


def generation_settings(generation: str, device: torch.device | str) -> dict:
    """Return the GenerationConfig fields that `generation` means on `device` (see `resolve_generation`): none
    for 'dynamic' (transformers' default, growing cache), a static cache for 'static', a static cache whose
    decode step transformers compiles for 'static_compiled' (it compiles on CUDA only: elsewhere this runs
    as 'static')."""
    setting = resolve_generation(generation, device)
    if setting == "dynamic":
        return {}
    return {"cache_implementation": "static", "disable_compile": setting == "static"}


def check_checkpoint(path: str) -> Path:
    """Return `path` as a Path after checking it holds a Hugging Face checkpoint (raises otherwise)."""
    local = Path(path)
    if not local.exists():
        raise UsageError(f"model path not found: {path}")
    if not (local / "config.json").is_file():
        raise UsageError(f"{path}: not a Hugging Face checkpoint (no config.json)")
    return local


def _cut(ids: list[int], stops: set[int], pad_id: int | None) -> list[int]:
    for i, t in enumerate(ids):
        if t in stops:
            return ids[: i + 1]
    while ids and ids[-1] == pad_id:
        ids = ids[:-1]
    return ids


class TransformersBackend:
    """Batched Hugging Face generation on a loaded model (left padding, KV cache)."""

    name = "transformers"

    def __init__(self, model, tokenizer, config: EvalConfig):
        self.model, self.tokenizer, self.config = model, tokenizer, config

    @torch.no_grad()
    def generate(
        self,
        prompt_ids: Sequence[list[int]],
        max_new_tokens: int,
        num_samples: int = 1,
        stop_token_ids: Sequence[int] = (),
        desc: str = "generate",
        think_budgets: Sequence[int | None] | None = None,
    ) -> list[list[int]]:
        """Return `num_samples` completions (token ids) per prompt, prompt-major; see the module docstring.
        `think_budgets` (one per prompt, reasoning tokens, None: no cap) hard-caps thinking (eval/think_cap.py)."""
        cfg, tok = self.config, self.tokenizer
        pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        stops = [tok.eos_token_id, *stop_token_ids]
        order = sorted(range(len(prompt_ids)), key=lambda i: len(prompt_ids[i]))
        per_batch = max(1, cfg.batch_size // num_samples)
        batches = [order[i : i + per_batch] for i in range(0, len(order), per_batch)]
        sampling = (
            {"do_sample": True, "temperature": cfg.temperature, "top_p": cfg.top_p}
            if cfg.do_sample
            else {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        )
        device = next(self.model.parameters()).device
        settings = generation_settings(cfg.generation, device)
        if settings:  # one cache length for every batch of the call: a new length recompiles the decode step
            settings["max_cache_len"] = max(map(len, prompt_ids)) + max_new_tokens
        out: dict[int, list[list[int]]] = {}
        for batch in tqdm(batches, desc=desc, disable=not cfg.progress, leave=False):
            width = max(len(prompt_ids[i]) for i in batch)
            ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for r, i in enumerate(batch):
                n = len(prompt_ids[i])
                ids[r, width - n :] = torch.tensor(prompt_ids[i], dtype=torch.long)
                mask[r, width - n :] = 1
            gen = self.model.generate(
                input_ids=ids.to(device),
                attention_mask=mask.to(device),
                max_new_tokens=max_new_tokens,
                num_return_sequences=num_samples,
                eos_token_id=stops,
                pad_token_id=pad_id,
                use_cache=True,
                logits_processor=self._cap([think_budgets[i] for i in batch], width)
                if think_budgets
                else None,
                **sampling,
                **settings,
            )[:, width:].tolist()
            for r, i in enumerate(batch):
                out[i] = [_cut(g, set(stops), pad_id) for g in gen[r * num_samples : (r + 1) * num_samples]]
        return [c for i in range(len(prompt_ids)) for c in out[i]]

    def _cap(self, budgets: list[int | None], prompt_width: int):
        from transformers import LogitsProcessorList

        from thinkdial.eval.think_cap import ThinkingBudgetProcessor

        return LogitsProcessorList(
            [ThinkingBudgetProcessor.for_tokenizer(self.tokenizer, budgets, prompt_width)]
        )


class VLLMBackend:
    """vLLM offline engine over token-id prompts (GPU)."""

    name = "vllm"

    def __init__(self, path: str, config: EvalConfig):
        from vllm import LLM

        self.config = config
        self.tokenizer = load_tokenizer(path, config.trust_remote_code)
        self.llm = LLM(
            model=path, dtype=config.dtype, seed=config.seed, trust_remote_code=config.trust_remote_code
        )

    def generate(
        self,
        prompt_ids: Sequence[list[int]],
        max_new_tokens: int,
        num_samples: int = 1,
        stop_token_ids: Sequence[int] = (),
        desc: str = "generate",
    ) -> list[list[int]]:
        """Return `num_samples` completions (token ids) per prompt, prompt-major; see the module docstring."""
        from vllm import SamplingParams, TokensPrompt

        cfg = self.config
        params = SamplingParams(
            n=num_samples,
            max_tokens=max_new_tokens,
            stop_token_ids=list(stop_token_ids),
            temperature=cfg.temperature if cfg.do_sample else 0.0,
            top_p=cfg.top_p if cfg.do_sample else 1.0,
        )
        results = self.llm.generate(
            [TokensPrompt(prompt_token_ids=list(p)) for p in prompt_ids], params, use_tqdm=cfg.progress
        )
        completions = []
        for result in results:
            for c in result.outputs:
                ids = list(c.token_ids)
                if isinstance(c.stop_reason, int) and (not ids or ids[-1] != c.stop_reason):
                    ids.append(c.stop_reason)  # make stop tokens part of the completion, as in the HF backend
                completions.append(ids)
        return completions


def load_backend(path: str, config: EvalConfig):
    """Return a generation backend for the checkpoint at `path` (the one `config.backend` asks for)."""
    check_checkpoint(path)
    kind = config.backend
    if kind == "auto":
        kind = "vllm" if vllm_available() else "transformers"
    if kind == "vllm":
        if not vllm_available():
            raise UsageError("backend 'vllm' needs vLLM installed and a CUDA GPU; use backend: transformers")
        return VLLMBackend(path, config)
    from transformers import AutoModelForCausalLM

    dtype = "auto" if config.dtype == "auto" else getattr(torch, config.dtype)
    model = AutoModelForCausalLM.from_pretrained(
        path, dtype=dtype, trust_remote_code=config.trust_remote_code
    )
    model.to("cuda" if torch.cuda.is_available() else "cpu").eval()
    return TransformersBackend(model, load_tokenizer(path, config.trust_remote_code), config)
