"""Secrets at rest: the Fernet keys of ``[core] fernet_key`` and the cipher they make.

``[core] fernet_key`` holds one key, or several separated by commas for a rotation: the
first encrypts, every one decrypts. When it is empty, :func:`get_fernet` generates a key
and writes it into ``$DOWNWIND_HOME/downwind.toml`` (kept, with the file's other content;
mode 0600), so the next process of this home uses the same key. Several hosts of one
installation must share the key: give it to each through ``DOWNWIND__CORE__FERNET_KEY``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import tempfile
import threading
import tomllib
from collections.abc import Iterator, Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from downwind.config import Config
from downwind.config.loader import CONFIG_FILE_NAME
from downwind.exceptions import ConfigError, DownwindException

__all__ = [
    "FernetCipher",
    "SecretDecryptionError",
    "generate_fernet_key",
    "get_fernet",
    "reset_fernet_cache",
]

_OPTION = "[core] fernet_key"
_KEY_HELP = (
    'expected 32 url-safe base64-encoded bytes, as made by `python -c "from '
    'cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`'
)


class SecretDecryptionError(DownwindException):
    """A stored secret cannot be decrypted with any key of ``[core] fernet_key``."""


def generate_fernet_key() -> str:
    """A new random Fernet key (url-safe base64 text)."""
    return Fernet.generate_key().decode("ascii")


class FernetCipher:
    """Encrypts text with the first key and decrypts with any of them (a ``MultiFernet``)."""

    def __init__(self, keys: Sequence[str], *, origin: str = "") -> None:
        """``keys`` as Fernet key texts; :class:`ConfigError` naming ``[core] fernet_key``
        (and ``origin``, where the value came from) if one is malformed. Keys are never
        shown in a message."""
        if not keys:
            raise ConfigError(f"{_OPTION}: no key given{origin}")
        fernets = []
        for number, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key.encode("ascii")))
            except (ValueError, UnicodeEncodeError):
                which = "the key" if len(keys) == 1 else f"key {number} of {len(keys)}"
                raise ConfigError(
                    f"{_OPTION}: {which} is not a Fernet key ({_KEY_HELP}){origin}"
                ) from None
        self._multi = MultiFernet(fernets)
        self.key_count = len(fernets)

    def encrypt(self, text: str) -> str:
        """``text`` encrypted with the first key, as a Fernet token (ASCII text)."""
        return self._multi.encrypt(text.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """The text of ``token``; :class:`SecretDecryptionError` if no key fits."""
        try:
            return self._multi.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise SecretDecryptionError(_NO_KEY_FITS) from None

    def rotate(self, token: str) -> str:
        """``token`` encrypted again with the first key (same text);
        :class:`SecretDecryptionError` if no key fits."""
        try:
            return self._multi.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError):
            raise SecretDecryptionError(_NO_KEY_FITS) from None

    def __repr__(self) -> str:  # never the keys
        return f"<FernetCipher with {self.key_count} key(s)>"


_NO_KEY_FITS = (
    f"a stored secret cannot be decrypted with any key of {_OPTION} (was the key replaced "
    "instead of rotated? put the old key after the new one, comma-separated)"
)


def _split_keys(text: str) -> list[str]:
    return [key.strip() for key in text.split(",") if key.strip()]


_lock = threading.Lock()
_ciphers: dict[tuple[str, str], FernetCipher] = {}


def get_fernet(conf: Config) -> FernetCipher:
    """The cipher of ``conf``'s ``[core] fernet_key``, made once per process.

    An empty option means "this home's generated key": read from ``downwind.toml`` if
    another process wrote one meanwhile, else generated and written there.
    """
    configured = conf.core.fernet_key.strip()
    cache_key = ("keys", configured) if configured else ("home", str(conf.home))
    with _lock:
        cipher = _ciphers.get(cache_key)
        if cipher is None:
            if configured:
                origin = f" (from {conf.source('core', 'fernet_key')})"
                cipher = FernetCipher(_split_keys(configured), origin=origin)
            else:
                path = conf.home / CONFIG_FILE_NAME
                cipher = FernetCipher(_split_keys(_home_key(conf.home)), origin=f" (in {path})")
            _ciphers[cache_key] = cipher
        return cipher


def reset_fernet_cache() -> None:
    """Forget the ciphers made so far (tests that change keys within one process)."""
    with _lock:
        _ciphers.clear()


# The generated key in downwind.toml ------------------------------------------------------


def _home_key(home: Path) -> str:
    """The ``[core] fernet_key`` written in ``home/downwind.toml``; generated and written
    there first if it has none. Two processes doing this at once agree on one key."""
    path = home / CONFIG_FILE_NAME
    try:
        return _read_or_write_key(home, path)
    except OSError as err:
        raise ConfigError(
            f"{_OPTION} is empty and a generated key cannot be written to {path} "
            f"({err.strerror or err}): set one yourself, e.g. with DOWNWIND__CORE__FERNET_KEY "
            f"({_KEY_HELP})"
        ) from None


def _read_or_write_key(home: Path, path: Path) -> str:
    home.mkdir(parents=True, exist_ok=True)
    with _locked(home):
        text = _read(path)
        written = _core_key(path, text)
        if written:
            return written
        key = generate_fernet_key()
        new_text = _with_core_key(text, key)
        if _core_key(path, new_text) != key:
            raise ConfigError(
                f"{_OPTION}: cannot add a generated key to {path} (its layout is unusual); "
                f'set it yourself under [core]: fernet_key = "<key>" ({_KEY_HELP})'
            )
        _write_private(path, new_text)
        return key


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """An exclusive lock between processes, held on ``folder`` itself (no lock file)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: invalid TOML: not UTF-8 text ({err.reason})") from None


def _core_key(path: Path, text: str) -> str:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: invalid TOML: {err}") from None
    core = data.get("core")
    value = core.get("fernet_key") if isinstance(core, dict) else None
    return value.strip() if isinstance(value, str) else ""


_TABLE_HEADER = re.compile(r"^\s*\[")
_CORE_HEADER = re.compile(r"^\s*\[\s*core\s*\]\s*(#.*)?$")
_KEY_LINE = re.compile(r"^\s*fernet_key\s*=")
_COMMENT = "# generated by downwind: encrypts the metastore's secrets; keep it, share it\n"


def _with_core_key(text: str, key: str) -> str:
    """``text`` with ``fernet_key = "<key>"`` in its ``[core]`` table: replacing an empty
    one, else first in an existing table, else in a new table at the end."""
    line = f'fernet_key = "{key}"\n'
    lines = text.splitlines(keepends=True)
    in_core = False
    header = None
    for number, current in enumerate(lines):
        if _TABLE_HEADER.match(current):
            in_core = bool(_CORE_HEADER.match(current))
            if in_core and header is None:
                header = number
        elif in_core and _KEY_LINE.match(current):
            lines[number] = line
            return "".join(lines)
    if header is not None:
        lines[header + 1 : header + 1] = [_COMMENT, line]
        return "".join(lines)
    if text and not text.endswith("\n"):
        text += "\n"
    return text + ("\n" if text.strip() else "") + "[core]\n" + _COMMENT + line


def _write_private(path: Path, text: str) -> None:
    """Replace ``path`` (a symlink's target) with ``text`` at once, readable only by its
    owner (mode 0600): a reader never sees half a file."""
    target = path.resolve() if path.is_symlink() else path
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temp, 0o600)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
