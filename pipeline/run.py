"""Run `thinkdial ...` stages as a user types them, each in its own process: the one helper behind the demo,
the experiments and the tests that drive the command line."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path


def command(args: list[str], accelerate_config: str | None = None, launch_args: list[str] = ()) -> list[str]:
    """Return the argv that runs `thinkdial ARGS` with this Python: directly, or through `accelerate launch
    --config_file ACCELERATE_CONFIG LAUNCH_ARGS` (e.g. `--num_processes 2`)."""
    if accelerate_config is None:
        return [sys.executable, "-m", "thinkdial", *args]
    launch = ["-m", "accelerate.commands.launch", "--config_file", accelerate_config, *launch_args]
    return [sys.executable, *launch, "-m", "thinkdial", *args]


def shown(args: list[str], accelerate_config: str | None = None, launch_args: list[str] = ()) -> str:
    """Return the command as a user would type it: `thinkdial ARGS` or `accelerate launch ... -m thinkdial ARGS`."""
    if accelerate_config is None:
        return "thinkdial " + shlex.join(args)
    return "accelerate launch " + shlex.join(command(args, accelerate_config, launch_args)[3:])


def run_command(
    args: list[str],
    log: Path | None = None,
    *,
    accelerate_config: str | None = None,
    launch_args: list[str] = (),
    capture: bool = False,
    check: bool = True,
    cwd: str | Path | None = None,
    env: dict[str, str] | None = None,
    timeout_s: float | None = None,
    echo: bool = True,
) -> subprocess.CompletedProcess:
    """Run `thinkdial ARGS` to the end and return the finished process.

    With `echo` the command is printed first. Its output goes to `log` (appended; stdout and stderr together),
    or is captured as text with `capture`, or else shared with this process. With `check`, a failure raises
    CalledProcessError, whose output names the log. Past `timeout_s` the command is killed with every process
    it started (an `accelerate launch`'s workers too) and TimeoutExpired is raised.
    """
    argv = command(args, accelerate_config, launch_args)
    if echo:
        print(
            f"$ {shown(args, accelerate_config, launch_args)}" + (f"   (log: {log})" if log else ""),
            flush=True,
        )
    full_env = {**os.environ, **(env or {})}
    if log is None:
        pipe = subprocess.PIPE if capture else None
        result = _run(argv, cwd, full_env, timeout_s, stdout=pipe, stderr=pipe, text=True)
    else:
        Path(log).parent.mkdir(parents=True, exist_ok=True)
        with Path(log).open("a") as out:
            result = _run(argv, cwd, full_env, timeout_s, stdout=out, stderr=subprocess.STDOUT)
    if check and result.returncode:
        raise subprocess.CalledProcessError(result.returncode, argv, f"see {log}" if log else result.stdout)
    return result


def _run(argv, cwd, env, timeout_s, **streams) -> subprocess.CompletedProcess:
    """Return the finished `argv`, run as `subprocess.run` does; with a timeout in a process group of its own,
    which goes whole when the timeout passes or this process is interrupted (a killed launcher's workers would
    run on, holding the output pipe open)."""
    with subprocess.Popen(argv, cwd=cwd, env=env, start_new_session=timeout_s is not None, **streams) as proc:
        try:
            out, err = proc.communicate(timeout=timeout_s)
        except BaseException:
            if timeout_s is not None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.kill()
            proc.communicate()
            raise
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def start_command(args: list[str], log: Path, cwd: str | Path | None = None) -> subprocess.Popen:
    """Start `thinkdial ARGS` in the background, its output written to `log`; return the running process."""
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    with Path(log).open("w") as out:
        return subprocess.Popen(command(args), cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
