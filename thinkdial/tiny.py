"""The embedded default: a character-level tokenizer and a tiny Llama-architecture causal LM.

Built locally and deterministically, no hub access. The tokenizer has one token per printable ASCII
character plus `<pad>`, `<s>`, `</s>`, `<unk>`; `<think>` and `</think>` are single *added* tokens that
are not special, so `decode(..., skip_special_tokens=True)` (what TRL does before calling rewards)
keeps them, as Qwen3 / DeepSeek-R1 tokenizers do.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

from thinkdial.errors import UsageError
from thinkdial.models import THINK_CLOSE, THINK_OPEN

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerFast


PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
PRINTABLE = [chr(c) for c in range(32, 127)]

# Renders chat messages as their plain contents: the tiny model reads raw task text.
CHAT_TEMPLATE = "{% for message in messages %}{{ message['content'] }}{% endfor %}"


@dataclass
class TinyModelConfig:
    """Shape of the embedded default model (Llama architecture, tied embeddings)."""

    hidden_size: int = field(default=128, metadata={"help": "Model width."})
    num_hidden_layers: int = field(default=4, metadata={"help": "Transformer blocks."})
    num_attention_heads: int = field(default=4, metadata={"help": "Attention heads per block."})
    intermediate_size: int = field(default=512, metadata={"help": "MLP width."})
    max_position_embeddings: int = field(default=256, metadata={"help": "Longest sequence, in tokens."})
    seed: int = field(default=0, metadata={"help": "Seed of the random initialisation."})

    def __post_init__(self):
        if self.hidden_size % self.num_attention_heads:
            raise UsageError(
                f"hidden_size ({self.hidden_size}) must be divisible by num_attention_heads "
                f"({self.num_attention_heads}); pick e.g. num_attention_heads=4."
            )


def build_core_tokenizer() -> Tokenizer:
    """Return the bare `tokenizers.Tokenizer` of the embedded default (no transformers import): one token
    per printable character, then the special tokens, then `<think>` / `</think>` as added tokens."""
    specials = [PAD, BOS, EOS, UNK]
    vocab = {tok: i for i, tok in enumerate(specials + PRINTABLE)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    core.decoder = decoders.Fuse()
    core.add_tokens([AddedToken(t, special=False, normalized=False) for t in (THINK_OPEN, THINK_CLOSE)])
    return core


def build_tokenizer() -> PreTrainedTokenizerFast:
    """Return the character-level transformers tokenizer with single-token, non-skipped think tags."""
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(
        tokenizer_object=build_core_tokenizer(),
        pad_token=PAD,
        bos_token=BOS,
        eos_token=EOS,
        unk_token=UNK,
        padding_side="left",
        model_max_length=TinyModelConfig.max_position_embeddings,
    )
    tok.chat_template = CHAT_TEMPLATE
    return tok


def build_model(tokenizer: PreTrainedTokenizerFast, config: TinyModelConfig) -> torch.nn.Module:
    """Return a randomly initialised tiny LlamaForCausalLM sized for `tokenizer`, seeded by `config.seed`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(config.seed)
    shape = {k: v for k, v in asdict(config).items() if k != "seed"}
    model_config = LlamaConfig(
        vocab_size=len(tokenizer),
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        dtype=torch.float32,
        **shape,
    )
    # The class itself, not `from_config`: under a ZeRO-3 launch `from_config` shards the weights as it builds
    # them, a collective the main process cannot finish while the others wait for its files (docs/launching.md).
    return LlamaForCausalLM(model_config).to(torch.float32)


def build_tiny(out_dir: str | Path, config: TinyModelConfig | None = None) -> Path:
    """Write the tiny tokenizer and model in Hugging Face format to `out_dir`; return the path."""
    config = config or TinyModelConfig()
    out = Path(out_dir)
    tokenizer = build_tokenizer()
    model = build_model(tokenizer, config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out
