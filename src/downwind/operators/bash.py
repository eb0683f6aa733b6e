"""``BashOperator``: run a shell command; its last line of output is the XCom value."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Container
from typing import Any, ClassVar

from downwind.exceptions import TaskException, TaskSkipped
from downwind.sdk.baseoperator import BaseOperator

#: How long the command gets to exit after SIGTERM (and then after SIGKILL).
_KILL_GRACE_SECONDS = 5.0


class BashOperator(BaseOperator):
    """Run ``bash_command`` with ``bash -c`` in its own process group.

    A non-zero exit fails the task, except ``skip_on_exit_code`` (99 by default), which
    skips it. ``env`` replaces the environment unless ``append_env`` is true. A command
    ending in ``.sh`` or ``.bash`` is read from that template file.
    """

    template_fields: ClassVar = ("bash_command", "env", "cwd")
    template_ext: ClassVar = (".sh", ".bash")
    template_fields_renderers: ClassVar = {"bash_command": "bash", "env": "json"}
    ui_color = "#f0ede4"

    def __init__(
        self,
        *,
        bash_command: str,
        env: dict[str, str] | None = None,
        append_env: bool = False,
        output_encoding: str = "utf-8",
        skip_on_exit_code: int | Container[int] | None = 99,
        cwd: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.bash_command = bash_command
        self.env = env
        self.append_env = append_env
        self.output_encoding = output_encoding
        if skip_on_exit_code is None:
            skip_on_exit_code = ()
        elif isinstance(skip_on_exit_code, int):
            skip_on_exit_code = (skip_on_exit_code,)
        self.skip_on_exit_code = skip_on_exit_code
        self.cwd = cwd
        self._process: subprocess.Popen[bytes] | None = None

    def _environment(self, context: dict[str, Any]) -> dict[str, str]:
        env = dict(os.environ) if self.env is None or self.append_env else {}
        env.update({k: str(v) for k, v in (self.env or {}).items()})
        ti = context["ti"]
        env.update(
            {
                "DOWNWIND_CTX_DAG_ID": ti.dag_id,
                "DOWNWIND_CTX_TASK_ID": ti.task_id,
                "DOWNWIND_CTX_RUN_ID": ti.run_id,
                "DOWNWIND_CTX_LOGICAL_DATE": context["ts"],
                "DOWNWIND_CTX_TRY_NUMBER": str(ti.try_number),
            }
        )
        return env

    def execute(self, context: dict[str, Any]) -> str | None:
        if self.cwd is not None and not os.path.isdir(self.cwd):
            raise TaskException(f"cwd {self.cwd!r} does not exist or is not a directory")
        self.log.info("Running command: %s", self.bash_command)
        # Found on this process's PATH: ``env`` may replace the environment without one.
        bash = shutil.which("bash") or "bash"
        self._process = subprocess.Popen(
            [bash, "-c", self.bash_command],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.cwd,
            env=self._environment(context),
            process_group=0,  # its own group in the task's session: on_kill stops it
        )
        last_line = None
        assert self._process.stdout is not None
        for raw in self._process.stdout:
            last_line = raw.decode(self.output_encoding, errors="backslashreplace").rstrip("\n")
            self.log.info("%s", last_line)
        code = self._process.wait()
        self.log.info("Command exited with return code %d", code)
        if code in self.skip_on_exit_code:
            raise TaskSkipped(f"bash command exited with code {code}")
        if code != 0:
            raise TaskException(f"bash command failed: it exited with code {code}")
        return last_line

    def on_kill(self) -> None:
        """Kill the command's whole process group (the command and its children).

        SIGTERM first; whatever of the group is still there after a grace period gets
        SIGKILL, so a child that ignores SIGTERM or outlives its shell is stopped too.
        """
        process = self._process
        if process is None:
            return
        # The command leads its own session, so its process group id is its pid; that
        # stays valid for the children after the shell itself has been reaped.
        if not _signal_group(process.pid, signal.SIGTERM):
            return
        deadline = time.monotonic() + _KILL_GRACE_SECONDS
        while time.monotonic() < deadline:
            process.poll()  # reap the shell
            if not _group_alive(process.pid):
                return
            time.sleep(0.02)
        self.log.warning("The command did not stop on SIGTERM: sending SIGKILL")
        _signal_group(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=_KILL_GRACE_SECONDS)


def _signal_group(pgid: int, signum: int) -> bool:
    """Send ``signum`` to process group ``pgid``; False if the group no longer exists."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    return True


def _group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` still runs. Zombies do not count: a killed
    child handed to an init process that reaps slowly is gone for our purpose."""
    if not _signal_group(pgid, 0):
        return False
    try:
        entries = os.listdir("/proc")
    except OSError:  # no procfs: trust the signal check
        return True
    for name in entries:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="ascii", errors="replace") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # after the command name: state, ppid, pgrp, ...
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            return True
    return False
