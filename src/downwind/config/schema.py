"""The building blocks of the option schema: :class:`Option` and the value types it may have.

A value type turns a raw value -- a TOML value, or the string of an environment variable --
into the typed value code reads, or raises :class:`ValueError` with an ``expected ...``
message that the loader wraps into a :class:`~downwind.exceptions.ConfigError` naming the
option and where the value came from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MASK = "***"

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
# Query parameters of a secret URL whose values are masked as well as the password.
_SECRET_QUERY_WORDS = ("password", "passwd", "secret", "token", "key")


class OptionType:
    """How one kind of option is parsed, checked and shown."""

    #: name shown in the docs' option table
    name = "str"

    def parse(self, raw: object, home: Path) -> Any:
        """The typed value of ``raw``; raises :class:`ValueError` ("expected ...") if invalid."""
        raise NotImplementedError

    def describe(self) -> str:
        """The type as the docs show it, e.g. ``int (>= 1)``."""
        return self.name

    def format(self, value: Any) -> str:
        """``value`` as a user writes it (``true``, not ``True``)."""
        return str(value)


def _got(raw: object) -> str:
    return f"got {raw!r}"


class Str(OptionType):
    name = "str"

    def parse(self, raw: object, home: Path) -> str:
        if not isinstance(raw, str):
            raise ValueError(f"expected a string, {_got(raw)}")
        return raw


class Int(OptionType):
    name = "int"

    def __init__(self, min: int | None = None) -> None:
        self.min = min

    def _expected(self) -> str:
        return "expected an integer" + ("" if self.min is None else f" >= {self.min}")

    def parse(self, raw: object, home: Path) -> int:
        if isinstance(raw, bool):
            raise ValueError(f"{self._expected()}, {_got(raw)}")
        if isinstance(raw, int):
            value = raw
        elif isinstance(raw, str):
            try:
                value = int(raw.strip())
            except ValueError:
                raise ValueError(f"{self._expected()}, {_got(raw)}") from None
        else:
            raise ValueError(f"{self._expected()}, {_got(raw)}")
        if self.min is not None and value < self.min:
            raise ValueError(f"{self._expected()}, {_got(raw)}")
        return value

    def describe(self) -> str:
        return self.name if self.min is None else f"int (>= {self.min})"


class Float(OptionType):
    name = "float"

    def __init__(self, min: float | None = None) -> None:
        self.min = min

    def _expected(self) -> str:
        return "expected a number" + ("" if self.min is None else f" >= {self.min:g}")

    def parse(self, raw: object, home: Path) -> float:
        if isinstance(raw, bool):
            raise ValueError(f"{self._expected()}, {_got(raw)}")
        if isinstance(raw, int | float):
            value = float(raw)
        elif isinstance(raw, str):
            try:
                value = float(raw.strip())
            except ValueError:
                raise ValueError(f"{self._expected()}, {_got(raw)}") from None
        else:
            raise ValueError(f"{self._expected()}, {_got(raw)}")
        if not math.isfinite(value) or (self.min is not None and value < self.min):
            raise ValueError(f"{self._expected()}, {_got(raw)}")
        return value

    def describe(self) -> str:
        return self.name if self.min is None else f"float (>= {self.min:g})"


def parse_bool(raw: object) -> bool:
    """``raw`` as a boolean: a bool, or one of true/false/1/0/yes/no/on/off (any case)."""
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        word = raw.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise ValueError(f"expected a boolean (true/false, 1/0, yes/no, on/off), {_got(raw)}")


class Bool(OptionType):
    name = "bool"

    def parse(self, raw: object, home: Path) -> bool:
        return parse_bool(raw)

    def format(self, value: Any) -> str:
        return "true" if value else "false"


class PathType(OptionType):
    """A filesystem path: ``~`` is expanded, ``{home}`` stands for ``$DOWNWIND_HOME``, and a
    relative path is taken relative to ``$DOWNWIND_HOME`` (not to the working directory,
    which differs between the scheduler, workers and the CLI)."""

    name = "path"

    def parse(self, raw: object, home: Path) -> Path:
        if not isinstance(raw, str) or not raw.strip():
            raise ValueError(f"expected a path, {_got(raw)}")
        path = Path(raw.strip().replace("{home}", str(home))).expanduser()
        return path if path.is_absolute() else home / path


class Choice(OptionType):
    name = "choice"

    def __init__(self, *choices: str) -> None:
        self.choices = choices

    def parse(self, raw: object, home: Path) -> str:
        if isinstance(raw, str):
            word = raw.strip().lower()
            for choice in self.choices:
                if word == choice.lower():
                    return choice
        raise ValueError(f"expected one of {', '.join(self.choices)}, {_got(raw)}")

    def describe(self) -> str:
        return " | ".join(self.choices)


def zone(name: str) -> ZoneInfo:
    """The :class:`~zoneinfo.ZoneInfo` of an IANA time zone name; :class:`ValueError` if unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"expected an IANA time zone name (e.g. 'UTC', 'Europe/Paris'), {_got(name)}"
        ) from None


class Timezone(OptionType):
    """An IANA time zone name, checked with :mod:`zoneinfo`; the value stays the name."""

    name = "timezone"

    def parse(self, raw: object, home: Path) -> str:
        if not isinstance(raw, str) or not raw.strip():
            raise ValueError(
                f"expected an IANA time zone name (e.g. 'UTC', 'Europe/Paris'), {_got(raw)}"
            )
        name = raw.strip()
        zone(name)
        return name


def _is_secret_param(name: str) -> bool:
    return any(word in name.lower() for word in _SECRET_QUERY_WORDS)


def mask_secret(text: str) -> str:
    """``text`` with its secret part replaced by ``***``.

    For a URL only the password (and query values such as ``?password=``) is hidden, so
    ``postgresql://u:pw@h/db`` shows as ``postgresql://u:***@h/db`` and the user can still
    see which database is used; any other non-empty text is hidden entirely.
    """
    if not text:
        return text
    if "://" not in text:
        return MASK
    try:
        parts = urlsplit(text)
    except ValueError:
        return MASK
    userinfo, at, hostinfo = parts.netloc.rpartition("@")
    netloc = parts.netloc
    if at and ":" in userinfo:
        user = userinfo.partition(":")[0]
        netloc = f"{user}:{MASK}@{hostinfo}"
    query = parts.query
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(_is_secret_param(name) for name, _ in pairs):
        query = "&".join(
            f"{name}={MASK if _is_secret_param(name) else value}" for name, value in pairs
        )
    masked = f"{parts.scheme}://{netloc}{parts.path}"
    if query:
        masked += f"?{query}"
    if parts.fragment:
        masked += f"#{parts.fragment}"
    return masked


@dataclass(frozen=True)
class Option:
    """One configuration option, declared once in :mod:`downwind.config.options`.

    ``default`` is written as a user would write it in ``downwind.toml``; a string default
    may say ``{home}`` for ``$DOWNWIND_HOME``. It goes through the same type check as a
    user's value.
    """

    section: str
    name: str
    type: OptionType
    default: object
    doc: str
    secret: bool = False

    @property
    def env_var(self) -> str:
        """The environment variable that overrides this option."""
        return f"DOWNWIND__{self.section.upper()}__{self.name.upper()}"

    def default_value(self, home: Path) -> Any:
        """The typed default for this ``$DOWNWIND_HOME``."""
        raw = self.default
        if isinstance(raw, str):
            raw = raw.replace("{home}", str(home))
        return self.type.parse(raw, home)

    def display(self, value: Any, *, masked: bool = True) -> str:
        """``value`` as text, with secrets masked unless ``masked`` is false."""
        text = self.type.format(value)
        return mask_secret(text) if self.secret and masked else text
