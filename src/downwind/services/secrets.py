"""Secrets at rest in the metastore: how the services store them, and key rotation.

Variable values, connection passwords and connection extras are stored as Fernet tokens
made with ``[core] fernet_key`` (see :mod:`downwind.security.fernet`), and their row says
so (``is_encrypted``, ``is_extra_encrypted``). A row written in clear by an older version
(its flag false) still reads; :func:`rotate_fernet_key` encrypts it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from downwind.config import get_config
from downwind.metastore.models import ConnectionModel, VariableModel
from downwind.security.fernet import FernetCipher, SecretDecryptionError, get_fernet
from downwind.services.audit import record_action

__all__ = ["rotate_fernet_key", "seal", "secrets_cipher", "unseal"]


def secrets_cipher() -> FernetCipher:
    """The cipher of this process's ``[core] fernet_key`` (generated if empty)."""
    return get_fernet(get_config())


def seal(text: str | None, cipher: FernetCipher | None = None) -> tuple[str | None, bool]:
    """``(stored text, is encrypted)`` for ``text``: its Fernet token, or ``None`` as is."""
    if text is None:
        return None, False
    return (cipher or secrets_cipher()).encrypt(text), True


def unseal(
    stored: str | None, encrypted: bool, *, what: str, cipher: FernetCipher | None = None
) -> str | None:
    """The clear text of a stored value (decrypted when ``encrypted``);
    :class:`SecretDecryptionError` naming ``what`` (e.g. ``variable 'x'``) if no key fits."""
    if stored is None or not encrypted:
        return stored
    try:
        return (cipher or secrets_cipher()).decrypt(stored)
    except SecretDecryptionError as err:
        raise SecretDecryptionError(f"{what}: {err}") from None


def _reseal(stored: str, encrypted: bool, cipher: FernetCipher, what: str) -> str:
    """``stored`` encrypted with the cipher's first key (decrypted with any key first)."""
    if not encrypted:
        return cipher.encrypt(stored)
    try:
        return cipher.rotate(stored)
    except SecretDecryptionError as err:
        raise SecretDecryptionError(f"{what}: {err}") from None


def rotate_fernet_key(
    session: Session,
    fernet: FernetCipher,
    *,
    now: datetime | None = None,
    owner: str | None = None,
) -> int:
    """Encrypt every stored secret again with the first key of ``fernet``, and encrypt
    those still stored in clear; returns how many rows changed.

    Rows are locked (PostgreSQL) so no write is lost meanwhile. All or nothing: a value
    that no key decrypts raises :class:`SecretDecryptionError` naming it. With ``now``,
    the rotation is recorded in the audit log (``fernet_key.rotate``).
    """
    count = 0
    variables = select(VariableModel).order_by(VariableModel.id).with_for_update()
    for var in session.scalars(variables):
        if var.val is not None:
            var.val = _reseal(var.val, var.is_encrypted, fernet, f"variable '{var.key}'")
            var.is_encrypted = True
            count += 1
    connections = select(ConnectionModel).order_by(ConnectionModel.id).with_for_update()
    for conn in session.scalars(connections):
        what = f"connection '{conn.conn_id}'"
        changed = False
        if conn.password is not None:
            conn.password = _reseal(conn.password, conn.is_encrypted, fernet, f"{what} password")
            conn.is_encrypted = changed = True
        if conn.extra is not None:
            conn.extra = _reseal(conn.extra, conn.is_extra_encrypted, fernet, f"{what} extra")
            conn.is_extra_encrypted = changed = True
        count += changed
    if now is not None:
        record_action(session, "fernet_key.rotate", owner=owner, now=now, extra={"rows": count})
    return count
