"""Signalling everything a task process started.

A task process starts its own session (``setsid``). What it runs may start process
groups of their own inside that session (a ``BashOperator`` puts its command in a
group of its own, so that its ``on_kill`` stops only the command): signalling the
task's process group alone would miss them, so the whole session is signalled.
"""

from __future__ import annotations

import contextlib
import os


def session_members(sid: int) -> list[int]:
    """The ids of the processes of session ``sid`` (Linux ``/proc``; elsewhere empty)."""
    members = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return members
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        # pid (comm) state ppid pgrp session ...; comm may hold spaces and parentheses
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 3 and int(fields[3]) == sid:
            members.append(int(entry))
    return members


def signal_session(sid: int, signum: int) -> None:
    """Send ``signum`` to the process group ``sid`` and to every process of session
    ``sid`` (a task process and all it started)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(sid, signum)
    for pid in session_members(sid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)
