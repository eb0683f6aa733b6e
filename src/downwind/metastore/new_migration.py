"""Write the next numbered migration from the difference between the models and the schema.

For downwind developers, after changing a model::

    python -m downwind.metastore.new_migration "add a note to task instances"

This migrates a scratch SQLite database to the latest revision, lets Alembic compare it with
the models, and writes ``migrations/versions/NNNN_<words>.py``. Review and tidy it (data
migrations are yours to write), then run ``tests/db``: it checks the models against the
migrated schema on SQLite and PostgreSQL.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from alembic import command

from downwind.metastore import migrations
from downwind.metastore.engine import create_engine_from_url
from downwind.metastore.migrate import alembic_config, head_revision, upgrade

__all__ = ["VERSIONS_DIR", "new_migration", "next_revision_id"]

VERSIONS_DIR = Path(migrations.__file__).with_name("versions")


def next_revision_id() -> str:
    """The number after the latest revision, e.g. ``0002`` after ``0001``."""
    return f"{int(head_revision()) + 1:04d}"


def _slug(message: str) -> str:
    words = re.sub(r"[^a-z0-9]+", "_", message.lower()).strip("_")
    return words[:40].rstrip("_") or "migration"


def new_migration(message: str, directory: Path | None = None) -> Path:
    """Write the next migration (into ``directory``, default the package's ``versions/``)
    and return its path."""
    revision = next_revision_id()
    config = alembic_config()
    if directory is not None:  # Alembic writes only into a folder it reads revisions from
        config.set_main_option(
            "version_locations", os.pathsep.join([str(VERSIONS_DIR), str(directory)])
        )
    with tempfile.TemporaryDirectory() as scratch:
        engine = create_engine_from_url(f"sqlite:///{scratch}/scratch.db")
        try:
            upgrade(engine)
            with engine.connect() as connection:
                config.attributes["connection"] = connection
                script = command.revision(
                    config,
                    message=message,
                    autogenerate=True,
                    rev_id=revision,
                    version_path=str(directory) if directory is not None else None,
                )
        finally:
            engine.dispose()
    assert script is not None and not isinstance(script, list)
    path = Path(script.path)
    target = path.with_name(f"{revision}_{_slug(message)}.py")
    path.rename(target)
    return target


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or not args[0].strip():
        print('usage: python -m downwind.metastore.new_migration "what changed"', file=sys.stderr)
        return 2
    print(f"wrote {new_migration(args[0])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
