"""Base layer: the completion's think tags, tokenizer loading, a model's context length, CPU threads and
peak memory, shared by every stage.

Imports no torch / transformers at module level (the CLI must start fast); the functions do.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from thinkdial.errors import UsageError

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"


def load_tokenizer(path: str, trust_remote_code: bool = False):
    """Return the transformers tokenizer at `path` (left padding, pad token set to EOS when missing)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_counting_tokenizer(path: str):
    """Return a tokenizer that only has to count tokens: the bare `tokenizers.Tokenizer` of `path`'s
    tokenizer.json (no transformers import), else a transformers tokenizer from local files; a missing
    folder is a UsageError."""
    if not Path(path).is_dir():
        raise UsageError(f"tokenizer folder not found: {path}")
    file = Path(path) / "tokenizer.json"
    if file.is_file():
        from tokenizers import Tokenizer

        return Tokenizer.from_file(str(file))
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path, local_files_only=True)


def peak_memory() -> tuple[int, str]:
    """Return (bytes, what they measure) for this process: the CUDA allocator's peak when CUDA is in use
    ("CUDA"), else the peak resident set size ("max RSS": Linux's VmHWM, which `reset_peak_memory` resets)."""
    import resource

    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        return torch.cuda.max_memory_allocated(), "CUDA"
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024, "max RSS"  # the file counts kB
    unit_bytes = 1 if sys.platform == "darwin" else 1024  # ru_maxrss counts bytes on macOS, kB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * unit_bytes, "max RSS"


def reset_peak_memory() -> None:
    """Start `peak_memory` afresh from the current use (CUDA's peak; on Linux the peak RSS), so that several runs in
    one process each report their own; return None."""
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.reset_peak_memory_stats()
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")  # 5: reset the peak RSS to the current RSS


def context_tokens_of(model_config) -> int | None:
    """Return the longest sequence, in tokens, a transformers model config allows (the smallest of the
    max_position_embeddings, n_positions and seq_length it states), or None when it states none."""
    sizes = [
        getattr(model_config, name, None) for name in ("max_position_embeddings", "n_positions", "seq_length")
    ]
    known = [size for size in sizes if isinstance(size, int) and size > 0]
    return min(known) if known else None


def set_cpu_threads(threads: int) -> int | None:
    """Set torch's intra-op thread count when no accelerator is present and `threads` > 0; return the
    previous count when it was changed, else None."""
    import torch

    if threads < 0:
        raise UsageError(f"cpu_threads must be >= 0, got {threads}")
    if threads and not torch.accelerator.is_available():
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        return previous
    return None
