"""``downwind rotate-fernet-key``: encrypt every stored secret with the first fernet key."""

from __future__ import annotations

import argparse

from downwind.cli.metastore_session import cli_user, metastore_session, now
from downwind.services import secrets


def rotate_fernet_key(args: argparse.Namespace) -> int:
    """Re-encrypt variables, connection passwords and extras with the first key of
    ``[core] fernet_key`` (encrypting those still stored in clear); all or nothing."""
    del args
    with metastore_session(write=True) as session:
        cipher = secrets.secrets_cipher()
        count = secrets.rotate_fernet_key(session, cipher, now=now(), owner=cli_user())
    print(
        f"Re-encrypted {count} row{'' if count == 1 else 's'} with the first key of "
        "[core] fernet_key."
    )
    if cipher.key_count > 1:
        print("Every secret now uses the first key: the other keys can be removed.")
    return 0
