"""``downwind version``."""

from __future__ import annotations

import argparse


def version(args: argparse.Namespace) -> int:
    from downwind import __version__

    print(__version__)
    return 0
