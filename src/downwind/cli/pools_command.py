"""``downwind pools list|get|set|delete``: pools in the metastore."""

from __future__ import annotations

import argparse
from typing import Any

from downwind.cli.metastore_session import cli_user, metastore_session, now
from downwind.cli.output import print_json, print_table
from downwind.exceptions import DownwindException
from downwind.services.pools import PoolInfo, delete_pool, get_pool, list_pools, set_pool

_COLUMNS = ["pool", "slots", "running", "queued", "scheduled", "open", "description"]


def _record(info: PoolInfo) -> dict[str, Any]:
    return {
        "pool": info.name,
        "slots": info.slots,
        "running": info.running_slots,
        "queued": info.queued_slots,
        "scheduled": info.scheduled_slots,
        "open": info.open_slots,
        "description": info.description,
    }


def _show(infos: list[PoolInfo], output: str) -> None:
    records = [_record(info) for info in infos]
    if output == "json":
        print_json(records)
        return
    rows = [[("" if r[c] is None else str(r[c])) for c in _COLUMNS] for r in records]
    print_table(_COLUMNS, rows)


def list_(args: argparse.Namespace) -> int:
    """Every pool with its slots in use (running, queued) and open."""
    with metastore_session() as session:
        infos = list_pools(session)
    _show(infos, args.output)
    return 0


def get(args: argparse.Namespace) -> int:
    """One pool with its slots in use."""
    with metastore_session() as session:
        info = get_pool(session, args.name)
    if args.output == "json":
        print_json(_record(info))
    else:
        _show([info], args.output)
    return 0


def _slots(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise DownwindException(
            f"invalid number of slots {text!r}: expected a whole number >= 0"
        ) from None


def set_(args: argparse.Namespace) -> int:
    """Create a pool or change its slots and description."""
    slots = _slots(args.slots)
    with metastore_session(write=True) as session:
        set_pool(session, args.name, slots, args.description, now=now(), owner=cli_user())
    print(f"Pool '{args.name}' has {slots} slot{'' if slots == 1 else 's'}.")
    return 0


def delete(args: argparse.Namespace) -> int:
    """Delete a pool that no unfinished task instance is in."""
    with metastore_session(write=True) as session:
        delete_pool(session, args.name, now=now(), owner=cli_user())
    print(f"Pool '{args.name}' deleted.")
    return 0
