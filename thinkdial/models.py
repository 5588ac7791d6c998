"""Base layer: the completion's think tags, tokenizer loading and CPU threads, shared by every stage.

Imports no torch / transformers at module level (the CLI must start fast); the functions do.
"""

from __future__ import annotations

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
