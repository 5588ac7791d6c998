"""The run folder (`output_dir`): its lock, its checkpoints (complete, half-written, latest), its free space.

One run per folder: the main process holds `output_dir/_thinkdial.lock` (an flock, so the kernel drops
it when the process dies and a dead run's lock is taken over); a second run on the folder stops with
a UsageError naming the holder. Before each save the free space is compared with the save's size, and
a write that fails on a full disk is reported as `No space left on device`, not as torch's
`enforce fail`.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from transformers import TrainerCallback

from thinkdial.errors import UsageError
from thinkdial.io import warn

LOCK_NAME = "_thinkdial.lock"  # `_*`: the Trainer's hub push skips it (it names the host)
CHECKPOINT_PREFIX = "checkpoint-"  # transformers' PREFIX_CHECKPOINT_DIR
ADAM_MOMENTS = 2  # optimizer state per trainable parameter (AdamW: exp_avg, exp_avg_sq), saved in fp32
SAVE_MARGIN = 1.1  # safety factor over a save's estimated bytes


@contextmanager
def run_lock(output_dir: str):
    """Hold `output_dir`'s lock for the block (yields the lock file's path).

    Raises a UsageError naming the holder's pid and host when another live run holds it. On a
    filesystem without flock support the run goes on with a warning.
    """
    with file_lock(
        Path(output_dir) / LOCK_NAME,
        lambda holder: (
            f"output_dir {output_dir} is in use by another thinkdial run ({holder}); wait for it to end or "
            "choose another output_dir"
        ),
        lambda cause: f"cannot lock {output_dir} ({cause}); make sure no other run writes to it",
    ) as path:
        yield path


@contextmanager
def file_lock(path: Path, in_use: Callable[[str], str], no_lock: Callable[[str], str], remove: bool = False):
    """Hold the flock of file `path` (created with its folders) for the block; yields the path. Another live
    holder raises UsageError(in_use('pid N on HOST')); on a filesystem without flock support it warns
    no_lock(cause) and goes on. With `remove` the file is deleted on release (a killed holder leaves it, and
    the next one takes it over)."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = (
                os.pread(fd, 256, 0).decode(errors="replace").strip() or "a process that wrote no pid yet"
            )
            os.close(fd)
            raise UsageError(in_use(holder)) from None
        except OSError as err:  # e.g. ENOLCK / ENOSYS on network filesystems without locks
            warn(no_lock(err.strerror))
            break
        if not remove or _same_file(fd, path):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
            break
        os.close(fd)  # its holder removed the file on release: lock the one at `path` now
    try:
        yield path
    finally:
        if remove:
            path.unlink(missing_ok=True)  # still held: no one can lock the removed file and go on
        os.close(fd)  # closing releases the flock


def _same_file(fd: int, path: Path) -> bool:
    """Return whether the open file `fd` is the file at `path` (False when `path` is gone)."""
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def checkpoint_complete(path: str) -> bool:
    """Return True when checkpoint folder `path` was written to the end.

    The Trainer writes `trainer_state.json` last (after weights, optimizer, scheduler and RNG state) and
    before it deletes older checkpoints, so a folder whose state file parses and names its own step is
    complete; a run killed mid-save leaves a folder without it (or with a truncated one).
    """
    step = os.path.basename(os.path.normpath(path)).rpartition("-")[2]
    try:
        with open(os.path.join(path, "trainer_state.json")) as f:
            return str(json.load(f)["global_step"]) == step
    except (OSError, ValueError, KeyError):
        return False


def _checkpoints(output_dir: str) -> list[str]:
    """Return the `checkpoint-N` folders of output_dir, by step."""
    if not os.path.isdir(output_dir):
        return []
    steps = sorted(
        (int(name.rpartition("-")[2]), name)
        for name in os.listdir(output_dir)
        if name.startswith(CHECKPOINT_PREFIX)
        and name.rpartition("-")[2].isdigit()
        and os.path.isdir(os.path.join(output_dir, name))
    )
    return [os.path.join(output_dir, name) for _, name in steps]


def last_checkpoint(output_dir: str) -> str | None:
    """Return the latest complete `checkpoint-N` folder in output_dir, or None."""
    complete = [path for path in _checkpoints(output_dir) if checkpoint_complete(path)]
    return complete[-1] if complete else None


def drop_incomplete_checkpoints(output_dir: str) -> list[str]:
    """Delete the half-written `checkpoint-N` folders of output_dir (a killed save); return their paths."""
    dropped = [path for path in _checkpoints(output_dir) if not checkpoint_complete(path)]
    for path in dropped:
        shutil.rmtree(path)
    return dropped


def save_bytes(model, with_optimizer: bool) -> int:
    """Return the estimated bytes of a save of `model`: the weights save_model writes (only the trainable
    ones for a LoRA adapter) plus, for a checkpoint, AdamW's fp32 moments of the trainable parameters."""
    params = list(model.parameters())
    trainable = [p for p in params if p.requires_grad]
    saved = trainable if hasattr(model, "peft_config") else params
    weights = sum(p.numel() * p.element_size() for p in saved)
    moments = ADAM_MOMENTS * 4 * sum(p.numel() for p in trainable) if with_optimizer else 0
    return int(SAVE_MARGIN * (weights + moments))


def check_free_space(folder: str, need_bytes: int, what: str) -> None:
    """Raise OSError(ENOSPC) naming `folder` when its disk has less than `need_bytes` free for `what`."""
    free = shutil.disk_usage(folder).free
    if free < need_bytes:
        raise OSError(
            errno.ENOSPC,
            f"No space left on device for {what}: {folder} has {free / 1e6:.0f} MB free, "
            f"the save needs about {need_bytes / 1e6:.0f} MB; free space (or lower "
            "save_total_limit) and rerun with --resume true",
        )


@contextmanager
def disk_full_explained(folder: str, need_bytes: int):
    """Let the block's exceptions through, except a failed write on a full disk (ENOSPC, or any error while
    `folder` has less than `need_bytes` free: torch reports it as `enforce fail ... file write failed`),
    which becomes OSError(ENOSPC) naming the folder, chained to the original."""
    try:
        yield
    except Exception as err:
        free = shutil.disk_usage(folder).free
        if getattr(err, "errno", None) == errno.ENOSPC or free < need_bytes:
            raise OSError(
                errno.ENOSPC,
                f"No space left on device: writing to {folder} failed with "
                f"{free / 1e6:.0f} MB free ({type(err).__name__}: {err})",
            ) from err
        raise


class FreeSpaceCallback(TrainerCallback):
    """Stops training with OSError(ENOSPC) before a checkpoint save the output folder's disk cannot hold."""

    def __init__(self, output_dir: str, need_bytes: int):
        self.output_dir = output_dir
        self.need_bytes = need_bytes

    def on_step_end(self, args, state, control, **kwargs):
        """Check the free space when this step ends with a save; return None."""
        if control.should_save:
            check_free_space(self.output_dir, self.need_bytes, f"{CHECKPOINT_PREFIX}{state.global_step}")

    on_epoch_end = on_step_end  # save_strategy: epoch decides the save here
