"""Signalling everything a task process started.

A task process starts its own session (``setsid``). What it runs may start process
groups of their own inside that session (a ``BashOperator`` puts its command in a
group of its own, so that its ``on_kill`` stops only the command): signalling the
task's process group alone would miss them, so the whole session is signalled.

Finding a session's members means reading every ``/proc/<pid>/stat``: too slow to do
after every try. A worker that is a *child subreaper* (Linux) adopts what its tries
leave behind instead, so :func:`kill_leftovers` finds them among its own children.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys

_PR_SET_CHILD_SUBREAPER = 36
#: rounds of killing adopted leftovers (each round's kills orphan the next generation)
_MAX_ROUNDS = 64


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


def become_subreaper() -> bool:
    """Linux: make this process adopt the orphans among its descendants (instead of
    init). Returns whether it is one (and :func:`own_children` can list them)."""
    if not sys.platform.startswith("linux") or own_children() is None:
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def own_children() -> list[int] | None:
    """This process's children (``/proc/self/task/*/children``), or ``None`` when the
    kernel does not tell."""
    children: list[int] = []
    try:
        for tid in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{tid}/children", "rb") as fh:
                children.extend(int(pid) for pid in fh.read().split())
    except (OSError, ValueError):
        return None
    return children


def kill_leftovers(pgid: int, keep: int) -> None:
    """SIGKILL the process group ``pgid`` and every child of this (subreaper) process
    but ``keep``, round after round until none is left, and reap them: what a try that
    ended left running, wherever it moved (other groups, other sessions)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    for _ in range(_MAX_ROUNDS):
        leftovers = [pid for pid in own_children() or () if pid != keep]
        if not leftovers:
            return
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        for pid in leftovers:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
