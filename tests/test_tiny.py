"""The embedded default: tokenizer and model round trip, think tags survive TRL's decoding."""

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from thinkdial.data.completion import THINK_CLOSE, THINK_OPEN
from thinkdial.tiny import TinyModelConfig, build_tiny, build_tokenizer


def test_think_tags_are_single_tokens_that_decoding_keeps():
    tok = build_tokenizer()
    text = f"5:ABCdef={THINK_OPEN}A:3 {THINK_CLOSE}7"
    ids = tok(text, add_special_tokens=False).input_ids
    assert tok.convert_tokens_to_ids(THINK_OPEN) in ids and tok.convert_tokens_to_ids(THINK_CLOSE) in ids
    assert len(ids) == len("5:ABCdef=") + 1 + len("A:3 ") + 1 + 1
    # TRL decodes completions with skip_special_tokens=True: the tags must survive, eos/pad must not.
    assert tok.decode(ids + [tok.eos_token_id, tok.pad_token_id], skip_special_tokens=True) == text


def test_every_printable_char_is_one_token_and_unknown_maps_to_unk():
    tok = build_tokenizer()
    printable = "".join(chr(c) for c in range(32, 127))
    assert len(tok(printable, add_special_tokens=False).input_ids) == len(printable)
    assert tok("é", add_special_tokens=False).input_ids == [tok.unk_token_id]
    assert tok.pad_token and tok.eos_token and tok.bos_token and tok.chat_template


def test_round_trip_reloads_with_auto_classes_and_is_deterministic(tmp_path):
    a = build_tiny(tmp_path / "a", TinyModelConfig(seed=3))
    b = build_tiny(tmp_path / "b", TinyModelConfig(seed=3))
    c = build_tiny(tmp_path / "c", TinyModelConfig(seed=4))
    tok = AutoTokenizer.from_pretrained(a)
    ma, mb, mc = (AutoModelForCausalLM.from_pretrained(p) for p in (a, b, c))
    ids = tok(["3:ABcdef=<think>"], return_tensors="pt", add_special_tokens=False).input_ids
    with torch.no_grad():
        la, lb, lc = (m(ids).logits for m in (ma, mb, mc))
    assert torch.equal(la, lb)
    assert not torch.equal(la, lc)
    assert tok.decode(ids[0]) == "3:ABcdef=<think>"
    assert ma.config.model_type == "llama" and ma.config.vocab_size == len(tok)
