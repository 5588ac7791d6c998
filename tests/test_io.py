"""The base layer's I/O helpers (thinkdial/io.py) and the stages that use them."""

from __future__ import annotations

import hashlib
import os
import stat

import pytest

from thinkdial.data.config import load_data_config
from thinkdial.errors import UsageError
from thinkdial.eval.config import load_eval_config
from thinkdial.io import level_label, prompt_hash, write_atomic, write_jsonl
from thinkdial.rewards.config import load_reward_config

CONFIG_LOADERS = {
    "data config": load_data_config,
    "reward config": load_reward_config,
    "eval config": load_eval_config,
}


@pytest.mark.parametrize("what", sorted(CONFIG_LOADERS))
def test_every_config_reader_names_the_file_of_a_bad_yaml(tmp_path, what):
    load = CONFIG_LOADERS[what]
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("source: caf\xe9\n".encode("latin-1"))
    with pytest.raises(UsageError, match=rf"^{what} .*latin1\.yaml: not UTF-8 text"):
        load(latin1)
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [1, 2\n")
    with pytest.raises(UsageError, match=rf"^{what} .*broken\.yaml: invalid YAML at line"):
        load(broken)
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    with pytest.raises(UsageError, match=r"list\.yaml"):
        load(listing)
    with pytest.raises(UsageError, match=rf"{what} not found: .*none\.yaml"):
        load(tmp_path / "none.yaml")


def test_data_out_is_written_like_any_file_the_umask_allows(tmp_path):
    from thinkdial.cli import main

    cfg = tmp_path / "d.yaml"
    cfg.write_text("source: permchain\ntest_rows_per_level: 2\n")
    previous = os.umask(0o022)
    try:
        assert (
            main(["data", "--config", str(cfg), "--split", "test", "--out", str(tmp_path / "rows.jsonl")])
            == 0
        )
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "rows.jsonl").stat().st_mode) == 0o644  # not a temp file's 0o600


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path):
    out = write_jsonl(tmp_path / "rows.jsonl", [{"a": "é"}])
    assert out.read_text(encoding="utf-8") == '{"a": "é"}\n'
    with pytest.raises(TypeError):
        write_jsonl(out, [{"a": 1}, {"b": object()}])
    assert [p.name for p in tmp_path.iterdir()] == ["rows.jsonl"]
    assert out.read_text(encoding="utf-8") == '{"a": "é"}\n'
    assert write_atomic(tmp_path / "new" / "x.txt", "x").read_text() == "x"  # parent folders created


def test_prompt_hash_keeps_the_synthetic_split_and_tells_every_chat_prompt_apart():
    text = "5:CFAhbfde="
    # The train/test split of every published synthetic result hashes the prompt text with sha256: keep it.
    assert prompt_hash(text) == hashlib.sha256(text.encode()).hexdigest()
    chat = [{"role": "system", "content": "s"}, {"role": "user", "content": "q", "name": "alice"}]
    other = [chat[0], {**chat[1], "name": "bob"}]
    assert prompt_hash(chat) != prompt_hash(other)  # every key of a message counts
    assert prompt_hash(chat) == prompt_hash([dict(reversed(m.items())) for m in chat])  # key order does not
    assert len(prompt_hash("\ud800 lone surrogate")) == 64  # text a JSON file can hold hashes too


def test_a_reward_group_is_the_problem_the_data_split_names():
    from thinkdial.rewards.batch import build_batch
    from thinkdial.tiny import build_core_tokenizer

    prompts = ["1:Abcdefgh=", [{"role": "user", "content": "q"}]] * 2
    batch = build_batch(build_core_tokenizer(), prompts, ["<think>1</think>2"] * 4, {})
    assert batch.group_keys == [prompt_hash(p) for p in prompts]
    assert {key: g.size for key, g in batch.groups.items()} == {
        prompt_hash(prompts[0]): 2,
        prompt_hash(prompts[1]): 2,
    }


def eval_record(index: int, difficulty) -> dict:
    """A per-example record of results.json's shape (budgets 0 and unlimited, both right)."""
    completion = {
        "text": "<think></think>1",
        "answer": "1",
        "reasoning_tokens": 0,
        "forced": False,
        "waits": 0,
        "correct": True,
        "prompt_tokens": 1,
        "completion_tokens": 16,
    }
    return {
        "index": index,
        "sample": 0,
        "difficulty": difficulty,
        "source": "jsonl",
        "prompt": "p",
        "gold": "1",
        "min_reasoning_tokens": None,
        "budgets": {"0": completion, "unlimited": completion},
    }


def test_a_level_has_one_label_in_training_metrics_and_in_results_json():
    from thinkdial.eval.config import EvalConfig
    from thinkdial.eval.summary import model_summary
    from thinkdial.rewards.metrics import level_metrics

    difficulty = [0.2, 0.25, 3, 3.0]
    trained = level_metrics(difficulty, [0, 1, 2, 3], [True, True, False, None])
    assert sorted({key.split("/")[0] for key in trained if key.startswith("level_")}) == [
        "level_0.2",
        "level_0.25",
        "level_3",
    ]
    summary = model_summary(
        [eval_record(i, d) for i, d in enumerate(difficulty)], EvalConfig(budgets=[0, "unlimited"]), "model"
    )
    assert list(summary["levels"]) == ["0.2", "0.25", "3"]
    assert [level_label(v) for v in (None, True, float("nan"), 1e-7, 7)] == [None, None, None, "1e-07", "7"]
