"""Export: merged LoRA weights reproduce base + adapter; the export is standalone, verified and carded to the
Hub's conventions; a wrong --checkpoint or an unsafe --out is refused; a killed export leaves the old or the new."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys

import pytest
import torch
import yaml
from conftest import ROOT, TINY_ARGS, thinkdial
from safetensors.torch import load_file

from thinkdial.errors import UsageError
from thinkdial.models import load_tokenizer
from thinkdial.train import export as export_module
from thinkdial.train.export import (
    ASIDE_SUFFIX,
    ExportUsageError,
    clean_leftovers,
    export,
    load_checkpoint_model,
    swap_into_place,
)
from thinkdial.train.grpo import ThinkdialGRPOConfig, train_grpo
from thinkdial.train.recipe import parse_recipe


@pytest.mark.slow
@pytest.mark.usefixtures("use_varied_reward")
def test_lora_export_logits_equal_base_plus_adapter(tmp_path, monkeypatch):
    from transformers import AutoModelForCausalLM

    monkeypatch.chdir(ROOT)
    run, out = tmp_path / "run", tmp_path / "export"
    config = parse_recipe(
        ThinkdialGRPOConfig,
        TINY_ARGS
        + ["--output_dir", str(run), "--use_peft", "true", "--lora_r", "4", "--learning_rate", "1e-2"],
    )
    train_grpo(config)
    assert (run / "adapter_config.json").is_file()
    # A finished run's eval, as eval/ writes it: the model card must carry its table and plots.
    (run / "eval" / "plots").mkdir(parents=True)
    empty = {
        "data": {"config": "c.yaml", "split": "test", "rows": 0},
        "eval": {},
        "models": {},
        "comparisons": {},
    }
    (run / "eval" / "results.json").write_text(json.dumps({"schema": "thinkdial.eval/2", **empty}))
    (run / "eval" / "report.md").write_text(
        "# Scaling eval\n\n| metric | grpo |\n\n![budget](plots/budget.png)\n"
    )
    (run / "eval" / "plots" / "budget.png").write_bytes(b"\x89PNG")

    export(run, out)

    reference, is_lora = load_checkpoint_model(run)
    assert is_lora
    lora_b = [p for n, p in reference.named_parameters() if "lora_B" in n]
    assert lora_b and any(p.abs().max() > 0 for p in lora_b), (
        "the adapter did not train: the test would be vacuous"
    )
    merged = AutoModelForCausalLM.from_pretrained(out)
    ids = load_tokenizer(str(out))(
        ["3 1 2 | apply 2 1 3 ->", "<think>x</think>"], padding=True, return_tensors="pt"
    )
    with torch.no_grad():
        diff = (merged(**ids).logits - reference.eval()(**ids).logits).abs().max().item()
    assert diff <= 1e-5, f"merged logits differ from base + adapter by {diff}"

    assert (out / "model.safetensors").is_file() and not (out / "adapter_config.json").exists()
    assert (out / "generation_config.json").is_file()
    assert "<think>" in (out / "chat_template.jinja").read_text()
    card = (out / "README.md").read_text()
    _, header, body = card.split("---\n", 2)
    # the adapter's base is the run's embedded tiny model: named in the title, not a hub base_model
    assert "base_model" not in yaml.safe_load(header) and body.lstrip().startswith("# tiny-thinkdial\n")
    assert "## Training recipe" in card and "use_peft: true" in card
    assert "## Reward config" in card and "correctness" in card
    assert "## Evaluation" in card and "](eval/plots/budget.png)" in card
    assert (out / "eval" / "plots" / "budget.png").is_file()


def test_full_model_export_is_standalone_and_checked(tmp_path, capsys):
    from transformers import AutoModelForCausalLM

    from thinkdial.tiny import build_tiny

    checkpoint = build_tiny(tmp_path / "model")
    export(checkpoint, tmp_path / "export")
    assert "greedy outputs of 4 prompts equal the checkpoint's" in capsys.readouterr().out
    original = AutoModelForCausalLM.from_pretrained(checkpoint).state_dict()
    exported = AutoModelForCausalLM.from_pretrained(tmp_path / "export").state_dict()
    assert all(original[k].equal(exported[k]) for k in original)
    card = (tmp_path / "export" / "README.md").read_text()
    assert "## Output format" in card and "## Training recipe" not in card and "## Evaluation" not in card


def tiny_run(folder, seed=0, **run_config):
    """Return `folder` holding the tiny model and, when `run_config` is given, a GRPO run config."""
    from thinkdial.tiny import TinyModelConfig, build_tiny

    build_tiny(folder, TinyModelConfig(seed=seed))
    if run_config:
        (folder / "grpo_config.json").write_text(json.dumps(run_config))
    return folder


def digests(folder):
    """Return {relative path: sha256} of every file under `folder`."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_force_replaces_an_earlier_export_and_never_a_folder_that_holds_none(tmp_path):
    checkpoint, out = tiny_run(tmp_path / "model"), tmp_path / "export"
    out.mkdir()
    (out / "notes.txt").write_text("not an export")
    for force in (False, True):
        with pytest.raises(
            ExportUsageError,
            match=f"^--out {out} is not empty and holds no thinkdial export \\(no thinkdial model card "
            "README.md\\); --force replaces only an earlier export: choose a new or empty folder$",
        ):
            export(checkpoint, out, force=force)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    (out / "notes.txt").unlink()
    export(checkpoint, out)  # an empty folder takes an export without --force
    (out / "notes.txt").write_text("a note beside an earlier export")
    with pytest.raises(ExportUsageError, match="is not empty; --force replaces it"):
        export(checkpoint, out)
    export(checkpoint, out, force=True)
    assert not (out / "notes.txt").exists() and (out / "model.safetensors").is_file()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [], (
        "a staging folder or lock was left behind"
    )


@pytest.mark.slow
def test_the_export_command_prints_one_line_and_leaves_a_folder_other_accounts_can_read(tmp_path):
    # a child process: library banners write to the real stdout, which pytest's capture would stand in for
    checkpoint, out = tiny_run(tmp_path / "model"), tmp_path / "export"
    umask = os.umask(0o022)
    try:
        result = thinkdial("export", "--checkpoint", str(checkpoint), "--out", str(out))
    finally:
        os.umask(umask)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout == f"exported to {out}\n"
    assert "export check: greedy outputs of 4 prompts equal the checkpoint's" in result.stderr
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in [out, *out.iterdir()]}
    assert modes["export"] == 0o755 and modes["model.safetensors"] == modes["README.md"] == 0o644


def test_a_second_export_into_the_same_out_stops_while_the_first_runs(tmp_path, monkeypatch):
    first, second = tiny_run(tmp_path / "a", seed=1), tiny_run(tmp_path / "b", seed=2)
    out, refused = tmp_path / "exports" / "export", []
    verify = export_module.verify

    def verify_while_a_second_export_starts(folder, expected):
        verify(folder, expected)
        if not refused:
            refused.append("the second export ran to its end")
            with pytest.raises(UsageError) as err:
                export(second, out)
            refused[0] = str(err.value)

    monkeypatch.setattr(export_module, "verify", verify_while_a_second_export_starts)
    export(first, out)
    assert refused == [
        f"--out {out} is being written by another thinkdial export (pid {os.getpid()} on "
        f"{socket.gethostname()}); wait for it to end or choose another --out"
    ]
    exported, started = load_file(out / "model.safetensors"), load_file(first / "model.safetensors")
    assert exported.keys() == started.keys() and all(exported[k].equal(started[k]) for k in started)


@pytest.mark.slow
def test_a_failed_export_check_leaves_the_earlier_export_untouched(tmp_path, monkeypatch):
    old_run, new_run = tiny_run(tmp_path / "old", seed=1), tiny_run(tmp_path / "new", seed=2)
    out = tmp_path / "exports" / "export"
    export(old_run, out)
    before = digests(out)
    staged = {}

    def failing_verify(folder, expected):
        staged.update(digests(folder))
        raise ValueError("export check failed: forced by the test")

    monkeypatch.setattr(export_module, "verify", failing_verify)
    with pytest.raises(ValueError, match="forced by the test"):
        export(new_run, out, force=True)
    assert staged["model.safetensors"] != before["model.safetensors"], "the new export was the old one"
    assert digests(out) == before
    assert [p.name for p in out.parent.iterdir()] == ["export"], "a staging folder was left behind"


def test_out_overlapping_the_run_folder_is_refused(tmp_path):
    run = tiny_run(tmp_path / "run", seed=1, model_name_or_path="tiny")
    tiny_run(run / "checkpoint-2", seed=2)
    before = digests(run)
    for out in (run, run / "export", tmp_path):
        with pytest.raises(ExportUsageError, match="overlaps the run folder"):
            export(run / "checkpoint-2", out, force=True)
    assert digests(run) == before, "the run's final weights were touched"


def test_out_holding_the_current_folder_is_refused_even_with_force(tmp_path, monkeypatch):
    checkpoint, work = tiny_run(tmp_path / "model"), tmp_path / "work" / "project"
    work.mkdir(parents=True)
    (work / "keep.txt").write_text("mine")
    monkeypatch.chdir(work)
    for out in (".", ".."):
        with pytest.raises(ExportUsageError, match="holds the current folder"):
            export(checkpoint, out, force=True)
    assert (work / "keep.txt").read_text() == "mine"


def test_a_folder_without_config_json_is_not_a_checkpoint(tmp_path):
    (tmp_path / "run" / "eval").mkdir(parents=True)
    with pytest.raises(ExportUsageError, match=r"^not a checkpoint \(no config.json\): "):
        export(tmp_path / "run", tmp_path / "export")


def test_the_card_copies_only_a_reward_config_that_parses_as_one(tmp_path):
    secret = tmp_path / "credentials.yaml"
    secret.write_text("hub_token: hf_notARewardConfig\n")
    run = tiny_run(tmp_path / "run", model_name_or_path="tiny", reward_config=str(secret))
    export(run, tmp_path / "export")
    card = (tmp_path / "export" / "README.md").read_text()
    assert "hf_notARewardConfig" not in card and not (tmp_path / "export" / "reward_config.yaml").exists()
    assert f"`{secret}` was not included: it does not parse as a thinkdial reward config" in card


def test_model_card_has_hub_metadata_title_and_a_usage_snippet_that_runs(tmp_path, capsys):
    rewards = ROOT / "configs" / "rewards" / "correct_only.yaml"
    run = tiny_run(
        tmp_path / "run",
        model_name_or_path="Qwen/Qwen2.5-1.5B",
        reward_config=str(rewards),
        max_completion_length=8,
    )
    out = tmp_path / "export"
    export(run, out)
    card = (out / "README.md").read_text()
    assert card.startswith("---\n")
    _, header, body = card.split("---\n", 2)
    meta = yaml.safe_load(header)
    assert meta["base_model"] == "Qwen/Qwen2.5-1.5B" and meta["library_name"] == "transformers"
    assert meta["pipeline_tag"] == "text-generation" and meta["license"]
    assert {"thinkdial", "grpo", "reasoning"} <= set(meta["tags"])
    assert body.lstrip().splitlines()[0] == "# Qwen2.5-1.5B-thinkdial"
    assert (out / "reward_config.yaml").read_text() == rewards.read_text()
    snippet = re.search(r"```python\n(.*?)```", body, re.S).group(1)
    assert f'model_id = "{out}"' in snippet and "max_new_tokens=8" in snippet
    capsys.readouterr()
    exec(compile(snippet, "model card usage snippet", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("reasoning:") and printed[1].startswith("answer:")


# Run in a child process: kill it (SIGKILL) just before or after one step of an export.
KILL_CHILD = """
import importlib, os, signal, sys
checkpoint, out, module, name, when = sys.argv[1:]
owner = importlib.import_module(module)
step = getattr(owner, name)
def killed_around(*args, **kwargs):
    if when == "before":
        os.kill(os.getpid(), signal.SIGKILL)
    step(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)
setattr(owner, name, killed_around)
from thinkdial.train.export import export
export(checkpoint, out, force=True)
"""
KILL_POINTS = [  # (module, function, before/after): the kill moments, in the export's order
    ("transformers.modeling_utils", "safe_save_file", "after"),  # weights written
    ("thinkdial.train.export", "verify", "after"),  # export verified
    ("thinkdial.train.export", "swap_into_place", "before"),  # card written
    ("thinkdial.train.export", "exchange", "after"),  # swapped in, old export not yet removed
]


@pytest.mark.slow
def test_an_export_killed_at_any_step_leaves_the_old_or_the_new_export(tmp_path):
    old_run = tiny_run(tmp_path / "old", seed=1, model_name_or_path="tiny", learning_rate=0.1)
    new_run = tiny_run(tmp_path / "new", seed=2, model_name_or_path="tiny", learning_rate=0.2)
    out, pristine = tmp_path / "exports" / "export", tmp_path / "pristine"
    export(new_run, out)
    new = digests(out)
    export(old_run, out, force=True)
    old = digests(out)
    assert old.keys() == new.keys() and old["model.safetensors"] != new["model.safetensors"]
    assert old["README.md"] != new["README.md"]
    shutil.copytree(out, pristine)
    outcomes = []
    for module, name, when in KILL_POINTS:
        child = subprocess.run(
            [sys.executable, "-c", KILL_CHILD, str(new_run), str(out), module, name, when],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
        got = digests(out)
        assert got in (old, new), f"killed {when} {name}: a mix of the old and the new export"
        outcomes.append("new" if got == new else "old")
        shutil.rmtree(out)
        shutil.copytree(pristine, out)
    assert outcomes == ["old", "old", "old", "new"]
    assert len(list(out.parent.iterdir())) > 1, (
        "the killed exports left no staging folder: the test is vacuous"
    )
    export(new_run, out, force=True)
    assert digests(out) == new and [p.name for p in out.parent.iterdir()] == ["export"]


def test_leftovers_of_killed_exports_are_removed_and_an_export_moved_aside_is_put_back(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(dead.stdout)
    out = tmp_path / "export"
    staged = tmp_path / f".export.export-{dead_pid}-abc"
    aside = tmp_path / f".export.export-{dead_pid}-def{ASIDE_SUFFIX}"
    live = tmp_path / f".export.export-{os.getpid()}-ghi"
    for folder in (staged, aside, live):
        folder.mkdir()
        (folder / "config.json").write_text(folder.name)
    assert clean_leftovers(out) == [staged]
    assert (out / "config.json").read_text() == aside.name, "the old export moved aside was not put back"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, "export"])


def test_swap_without_renameat2_replaces_the_old_export(tmp_path, monkeypatch):
    monkeypatch.setattr(export_module, "exchange", lambda a, b: False)
    new, out = tmp_path / ".out.export-1-x", tmp_path / "out"
    for folder, text in ((new, "new"), (out, "old")):
        folder.mkdir()
        (folder / "config.json").write_text(text)
    swap_into_place(new, out)
    assert (out / "config.json").read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["out"]
