"""Imported first in the executor's forkserver process (and only there).

A service manager stops the scheduler by sending SIGTERM to its whole process group;
the forkserver must not die of it, or every worker would go with it (its children die
with their parent) before the scheduler could stop them gracefully. The forkserver
still exits when the scheduler's process is gone: its control pipe closes.
"""

import signal

signal.signal(signal.SIGTERM, signal.SIG_IGN)
