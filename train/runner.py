"""What every training stage does around its trainer, as helpers its entry calls in order (open-r1 style):

    hide_secrets -> main_process_lock -> resume_checkpoint -> announce -> dataset -> prepare_policy_files
    -> check_prompts -> trainer -> save_run_config -> train_and_save

Everything a user can get wrong in the data (prompts the model cannot take) stops with a UsageError before
the model loads.
"""

from __future__ import annotations

import sys
from contextlib import nullcontext

from thinkdial.data.config import DataConfig
from thinkdial.data.sources import prompt_place
from thinkdial.errors import UsageError
from thinkdial.io import warn
from thinkdial.models import peak_memory
from thinkdial.train.preflight import out_of_memory_explained
from thinkdial.train.rundir import (
    FreeSpaceCallback,
    check_free_space,
    disk_full_explained,
    drop_incomplete_checkpoints,
    last_checkpoint,
    run_lock,
    save_bytes,
)

UNKNOWN_CHAR_EXAMPLES = 5  # distinct unencodable characters quoted in the warning


def main_process_lock(config):
    """Return the context that holds `config.output_dir`'s lock on the main process (nothing elsewhere)."""
    return run_lock(config.output_dir) if config.process_index == 0 else nullcontext()


def announce(config, stage: str) -> None:
    """Print the stage's startup line (`config.banner()`) on stderr, on the main process; return None."""
    if config.process_index == 0:
        print(f"{stage}: {config.banner()}", file=sys.stderr, flush=True)


def train_and_save(trainer, tokenizer, resume_from: str | None) -> None:
    """Train (from `resume_from` when given), save the final weights (every rank: DeepSpeed gathers) and,
    on rank 0, the tokenizer, then print each process's peak memory on stderr; a full disk stops saves with a
    clear OSError(ENOSPC), running out of GPU memory with a UsageError naming the recipe's memory knobs.
    Returns None."""
    out = trainer.args.output_dir
    checkpoint_bytes, final_bytes = save_bytes(trainer.model, True), save_bytes(trainer.model, False)
    trainer.add_callback(FreeSpaceCallback(out, checkpoint_bytes))
    with disk_full_explained(out, final_bytes), out_of_memory_explained(trainer):
        trainer.train(resume_from_checkpoint=resume_from)
        check_free_space(out, final_bytes, "the final model")
        trainer.save_model(out)
        if trainer.accelerator.is_main_process:
            tokenizer.save_pretrained(out)
    # every process: with several, each its own device's (thinkdial check reads the largest)
    used, what = peak_memory()
    rank = trainer.args.process_index
    print(f"peak memory: {used} bytes ({what}), process {rank}", file=sys.stderr, flush=True)


def resume_checkpoint(config) -> str | None:
    """Return the checkpoint to resume from: `resume_from_checkpoint`, else with `resume` the latest complete
    one of output_dir (half-written ones removed first, main process first), else None."""
    if not config.resume:
        return config.resume_from_checkpoint
    main = config.process_index == 0
    with config.main_process_first(desc="finding the checkpoint to resume from"):
        for path in drop_incomplete_checkpoints(config.output_dir):
            print(f"removed half-written checkpoint {path}", file=sys.stderr)
        found = last_checkpoint(config.output_dir)
    if main:
        print(
            f"resuming from {found}"
            if found
            else f"--resume: no checkpoint in {config.output_dir}, starting from scratch",
            file=sys.stderr,
        )
    return found


def prompt_texts(prompts, tokenizer) -> list[str]:
    """Return each prompt as the text the model reads: plain text as is, chat messages through the
    tokenizer's chat template with the generation prompt."""
    return [
        p
        if isinstance(p, str)
        else tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True)
        for p in prompts
    ]


def check_prompts(dataset, tokenizer, limit: tuple[int | None, str], data: DataConfig | None = None) -> None:
    """Refuse prompts longer than `limit` = (tokens, why) with a UsageError naming the longest one's place in
    `data`'s train split (its file and line; its position from 1 without `data`); warn on stderr, with
    counts, about characters of the rows (prompt, completion, answer) the tokenizer turns into <unk>.
    Returns None."""
    prompts = prompt_texts(dataset["prompt"], tokenizer)
    max_tokens, why = limit
    if max_tokens is not None:
        lengths = [
            len(ids) for ids in tokenizer(prompts, add_special_tokens=False, verbose=False)["input_ids"]
        ]
        too_long = [i for i, n in enumerate(lengths) if n > max_tokens]
        if too_long:
            worst = max(too_long, key=lengths.__getitem__)
            prompt = dataset[worst]["prompt"]
            place = f"row {worst + 1}" if data is None else prompt_place(data, "train", prompt)
            raise UsageError(
                f"{len(too_long)} of {len(prompts)} prompts are longer than {max_tokens} tokens ({why}); "
                f"the longest, {place}, has {lengths[worst]} tokens. Shorten or drop those rows, or "
                "set max_prompt_tokens"
            )
    others = [dataset[column] for column in ("completion", "answer") if column in dataset.column_names]
    warn_unknown_characters(
        [" ".join(map(str, row)) for row in zip(prompts, *others, strict=True)], tokenizer
    )


def unknown_characters(texts: list[str], tokenizer) -> list[list[str]]:
    """Return, per text, the characters the tokenizer maps to <unk> (one entry per occurrence; '?' where a
    slow tokenizer gives no offsets); all empty for tokenizers without an unk token (byte-level BPE)."""
    unk = tokenizer.unk_token_id
    if unk is None:
        return [[] for _ in texts]
    if not tokenizer.is_fast:
        return [
            ["?"] * ids.count(unk)
            for ids in tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]
        ]
    encoded = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    return [
        [text[start:end] for token, (start, end) in zip(ids, offsets, strict=True) if token == unk]
        for text, ids, offsets in zip(texts, encoded["input_ids"], encoded["offset_mapping"], strict=True)
    ]


def warn_unknown_characters(rows: list[str], tokenizer) -> None:
    """Warn on stderr how many rows and characters the tokenizer cannot encode, with examples; return None."""
    found = unknown_characters(rows, tokenizer)
    chars = [c for row in found for c in row]
    if chars:
        examples = ", ".join(repr(c) for c in sorted(set(chars))[:UNKNOWN_CHAR_EXAMPLES])
        warn(
            f"{sum(map(bool, found))} of {len(rows)} rows hold {len(chars)} character(s) the tokenizer cannot "
            f"encode ({examples}); the model sees {tokenizer.unk_token} in their place"
        )
