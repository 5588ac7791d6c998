"""Export a trained checkpoint as a standalone Hugging Face model with a model card.

`thinkdial export --checkpoint DIR --out DIR [--force] [--push-to-hub REPO]`. A LoRA checkpoint is
merged into its base model. The export holds safetensors weights, the tokenizer, the generation
config, a chat template documenting the `<think>` format, and README.md (train/card.py).

The export is built in a hidden staging folder beside `--out` (same file system), reloaded there (its
greedy outputs on a few prompts must equal the checkpoint's), then renamed into place; an existing
export is swapped out in the same atomic step (Linux renameat2) and only then removed. A kill at any
moment leaves `--out` holding the old export or the new one, never a mix; the staging folders a
killed export leaves behind are removed by the next export into the same `--out`. One export at a time
writes an `--out` (a lock file beside it, removed at the end); `--force` replaces only an earlier export
(a folder whose README.md is a thinkdial model card), never another folder.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
import yaml

from thinkdial.data.dial import dial_chat_template
from thinkdial.errors import UsageError
from thinkdial.models import THINK_CLOSE, THINK_OPEN, load_tokenizer
from thinkdial.train.card import DEFAULT_LICENSE, model_card, run_config, run_dir_of
from thinkdial.train.dial_card import run_prompt_format
from thinkdial.train.rundir import file_lock

CHECK_PROMPTS = ("2 + 3 * 4 =", "What is 17 times 3?", "apply a b c to x", "Solve: x + 5 = 12.")
CHECK_NEW_TOKENS = 32  # tokens generated greedily per prompt by the reload check
THINK_NOTE = (
    f"{{# thinkdial: the model writes {THINK_OPEN}reasoning{THINK_CLOSE}answer; reasoning tokens are "
    f"those inside the think block. An empty block means it chose to answer directly. #}}"
)
CHECKPOINT_FILES = ("config.json", "adapter_config.json")  # a full model's, a LoRA adapter's
ASIDE_SUFFIX = "-old"  # a staging folder holding an old export moved aside (swaps without renameat2)
AT_FDCWD, RENAME_EXCHANGE = -100, 2  # renameat2 arguments: paths relative to the cwd, swap the two paths


class ExportUsageError(UsageError):
    """A wrong --checkpoint or --out; the one-line message names the cause."""


def load_checkpoint_model(checkpoint: Path, dtype="auto"):
    """Return (model, is_lora) for `checkpoint`: a plain causal LM, or base model + LoRA adapter (unmerged)."""
    from transformers import AutoModelForCausalLM

    adapter = checkpoint / "adapter_config.json"
    if not adapter.is_file():
        return AutoModelForCausalLM.from_pretrained(checkpoint, dtype=dtype), False
    from peft import PeftModel

    base = json.loads(adapter.read_text())["base_model_name_or_path"]
    if not Path(base).is_absolute() and (checkpoint / base).exists():
        base = str(checkpoint / base)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=dtype)
    return PeftModel.from_pretrained(model, checkpoint), True


def greedy_outputs(
    model, tokenizer, prompts=CHECK_PROMPTS, max_new_tokens: int = CHECK_NEW_TOKENS
) -> list[list[int]]:
    """Return the greedy completion token ids of `model` for each prompt (one at a time, no padding)."""
    outputs = []
    model.eval()
    with torch.no_grad():
        for prompt in prompts:
            ids = tokenizer(prompt, return_tensors="pt").input_ids
            out = model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                do_sample=False,
                max_new_tokens=max_new_tokens,
                pad_token_id=tokenizer.pad_token_id,
            )
            outputs.append(out[0, ids.shape[1] :].tolist())
    return outputs


def think_chat_template(template: str | None) -> str | None:
    """Return `template` with a note on the think format prepended as a Jinja comment (renders the same)."""
    if template is None or THINK_OPEN in template:
        return template
    return THINK_NOTE + template


def find_eval(run: Path, eval_dir: Path | None = None) -> Path | None:
    """Return the folder of the eval results for the card: `eval_dir` when given, else run/eval if it has
    results.json, else its latest step_N (the training callback's); None when there is none."""
    if eval_dir is not None:
        if not (eval_dir / "results.json").is_file():
            raise UsageError(f"--eval-dir {eval_dir} has no results.json")
        return eval_dir
    folder = run / "eval"
    if (folder / "results.json").is_file():
        return folder
    steps = sorted(
        (int(p.name[5:]), p)
        for p in folder.glob("step_*")
        if p.name[5:].isdigit() and (p / "results.json").is_file()
    )
    return steps[-1][1] if steps else None


def check_paths(checkpoint: Path, out: Path, force: bool) -> None:
    """Return None when `checkpoint` is a checkpoint and `out` a safe place for its export; raise otherwise
    (UsageError for a missing checkpoint, else ExportUsageError)."""
    if not checkpoint.is_dir():
        raise UsageError(f"checkpoint not found: {checkpoint}")
    if not any((checkpoint / name).is_file() for name in CHECKPOINT_FILES):
        raise ExportUsageError(f"not a checkpoint (no config.json): {checkpoint}")
    run, target = run_dir_of(checkpoint).resolve(), out.resolve()
    if target == run or run in target.parents or target in run.parents:
        raise ExportUsageError(
            f"--out {out} overlaps the run folder of the checkpoint ({run}); "
            "export to a folder outside the run"
        )
    if target == Path.cwd().resolve() or target in Path.cwd().resolve().parents:
        raise ExportUsageError(f"--out {out} holds the current folder; export to a folder of its own")
    if target.exists() and not target.is_dir():
        raise ExportUsageError(f"--out {out} is a file, not a folder")
    if target.is_dir() and any(target.iterdir()) and not is_export(target):
        raise ExportUsageError(
            f"--out {out} is not empty and holds no thinkdial export (no thinkdial model card README.md); "
            "--force replaces only an earlier export: choose a new or empty folder"
        )
    if target.is_dir() and any(target.iterdir()) and not force:
        raise ExportUsageError(
            f"--out {out} is not empty; --force replaces it (once the new export is verified)"
        )


def is_export(folder: Path) -> bool:
    """Return whether `folder` holds a thinkdial export: its README.md is a model card whose metadata tags
    it `thinkdial` (train/card.py writes one into every export)."""
    try:
        text = (folder / "README.md").read_text(encoding="utf-8")
        meta = yaml.safe_load(text.split("---\n", 2)[1]) if text.startswith("---\n") else None
    except (OSError, UnicodeDecodeError, IndexError, yaml.YAMLError):
        return False
    return isinstance(meta, dict) and isinstance(meta.get("tags"), list) and "thinkdial" in meta["tags"]


def export_lock(out: Path):
    """Return the context that holds `out`'s export lock (a hidden file beside it, removed on release): a
    second export into the same `out` stops with a UsageError naming the first one's pid."""
    target = out.resolve()
    return file_lock(
        target.parent / f".{target.name}.export.lock",
        lambda holder: (
            f"--out {out} is being written by another thinkdial export ({holder}); wait for it to end or "
            "choose another --out"
        ),
        lambda cause: f"cannot lock --out {out} ({cause}); make sure no other export writes to it",
        remove=True,
    )


def _staging_prefix(out: Path) -> str:
    """Return the name prefix of the staging folders beside `out`: `.NAME.export-`, then the pid."""
    return f".{out.name}.export-"


def stage_folder(out: Path) -> Path:
    """Return a new empty staging folder beside `out` (same file system: the final rename is atomic), named
    after `out` and this process."""
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{_staging_prefix(out)}{os.getpid()}-", dir=out.parent))


def open_to_umask(folder: Path) -> None:
    """Give `folder` and everything in it the permissions the umask gives a new folder or file (0o755 and
    0o644 under umask 022): mkdtemp makes the staging folder 0o700 and safetensors writes 0o600, which
    would hide the export from a serving account once it is in place. Returns None."""
    umask = os.umask(0o022)
    os.umask(umask)
    for path in [folder, *folder.rglob("*")]:
        path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)


def _alive(pid: int) -> bool:
    """Return whether a process `pid` exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_leftovers(out: Path) -> list[Path]:
    """Remove the staging folders that killed exports into `out` left beside it (those of live processes
    stay), after putting back an old export a killed swap had moved aside while `out` is missing; return the
    removed folders."""
    removed = []
    for path in sorted(out.parent.glob(_staging_prefix(out) + "*")):
        pid = path.name[len(_staging_prefix(out)) :].split("-")[0]
        if pid.isdigit() and _alive(int(pid)):
            continue
        if path.name.endswith(ASIDE_SUFFIX) and not out.exists():
            os.rename(path, out)
            print(f"export: put back {out}, which a killed export had moved aside")
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def exchange(a: Path, b: Path) -> bool:
    """Swap the paths `a` and `b` in one atomic step (Linux renameat2 RENAME_EXCHANGE); return False, having
    changed nothing, where the system or the file system cannot."""
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        return False
    if renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(a), None, str(b))


def swap_into_place(new: Path, out: Path) -> None:
    """Put the folder `new` at `out`; an existing `out` is swapped with it atomically, then removed from `new`'s
    place. Without renameat2 the old one is renamed aside first (a kill between the two renames leaves `out`
    missing until the next export puts it back)."""
    if not out.exists():
        os.rename(new, out)
    elif exchange(new, out):
        shutil.rmtree(new)
    else:
        aside = new.with_name(new.name + ASIDE_SUFFIX)
        os.rename(out, aside)
        os.rename(new, out)
        shutil.rmtree(aside)


def write_model(model, tokenizer, folder: Path, prompt_format: str) -> None:
    """Save `model` (safetensors, generation config with the tokenizer's pad/EOS) and `tokenizer` (chat
    template with the think note, taking the dial's `thinking_budget` / `reasoning_effort` for prompts of
    `prompt_format`) to `folder`; return None."""
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.chat_template = dial_chat_template(think_chat_template(tokenizer.chat_template), prompt_format)
    tokenizer.save_pretrained(folder)


def verify(folder: Path, expected: list[list[int]]) -> None:
    """Return None when the model reloaded from `folder` gives the `expected` greedy outputs; raise ValueError
    naming the first prompt where it does not."""
    from transformers import AutoModelForCausalLM

    reloaded = AutoModelForCausalLM.from_pretrained(folder, dtype="auto")
    got = greedy_outputs(reloaded, load_tokenizer(str(folder)))
    bad = [p for p, a, b in zip(CHECK_PROMPTS, expected, got, strict=True) if a != b]
    if bad:
        raise ValueError(
            f"export check failed: greedy output of the export differs from the checkpoint on {bad[0]!r}"
        )


def export(
    checkpoint: str | Path,
    out: str | Path,
    push_to_hub: str | None = None,
    private: bool = True,
    eval_dir: str | Path | None = None,
    force: bool = False,
    name: str | None = None,
    license: str = DEFAULT_LICENSE,
) -> Path:
    """Write the verified standalone export of `checkpoint` to `out` (replacing an existing export only with
    `force`), optionally push it; return `out`. The card's title is `name` (default: base model + thinkdial).

    Raises ValueError when the reloaded export's greedy outputs differ from the checkpoint's.
    """
    checkpoint, out = Path(checkpoint), Path(out)
    check_paths(checkpoint, out, force)
    evaluation = find_eval(run_dir_of(checkpoint), Path(eval_dir) if eval_dir else None)
    target = out.resolve()
    with export_lock(out):
        check_paths(checkpoint, out, force)  # again: an export that held the lock may have filled --out
        clean_leftovers(target)
        tokenizer = load_tokenizer(str(checkpoint))
        model, is_lora = load_checkpoint_model(checkpoint)
        expected = greedy_outputs(model, tokenizer)
        stage = stage_folder(target)
        try:
            write_model(
                model.merge_and_unload() if is_lora else model,
                tokenizer,
                stage,
                run_prompt_format(run_config(run_dir_of(checkpoint))),
            )
            verify(stage, expected)
            print(
                f"export check: greedy outputs of {len(expected)} prompts equal the checkpoint's"
                f"{' (LoRA merged)' if is_lora else ''}"
            )
            card = model_card(checkpoint, stage, push_to_hub or str(out), evaluation, name, license)
            (stage / "README.md").write_text(card)
            open_to_umask(stage)
            swap_into_place(stage, target)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
        if push_to_hub:
            push(out, push_to_hub, private)
    return out


def push(folder: Path, repo: str, private: bool) -> None:
    """Upload `folder` to the hub model repo `repo` (created if missing; uses HF_TOKEN); return None."""
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo, private=private, exist_ok=True)
    api.upload_folder(folder_path=str(folder), repo_id=repo, commit_message="thinkdial export")
    print(f"pushed to https://huggingface.co/{repo}")
