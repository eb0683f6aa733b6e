"""Loading the configuration: defaults < ``$DOWNWIND_HOME/downwind.toml`` < environment.

:func:`load_config` is pure: it reads only the environment mapping and the TOML file it is
given and creates nothing. :func:`get_config` caches one :class:`Config` per process.
"""

from __future__ import annotations

import difflib
import os
import threading
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from downwind.config.options import OPTIONS, SECTIONS
from downwind.config.schema import Option, zone
from downwind.exceptions import ConfigError

HOME_ENV_VAR = "DOWNWIND_HOME"
DEFAULT_HOME = "~/downwind"
CONFIG_FILE_NAME = "downwind.toml"
ENV_PREFIX = "DOWNWIND__"
DEFAULT_SOURCE = "default"

_BY_KEY: dict[tuple[str, str], Option] = {(o.section, o.name): o for o in OPTIONS}


class ConfigItem(NamedTuple):
    """One option's effective value, as yielded by iterating a :class:`Config`."""

    section: str
    key: str
    value: Any
    source: str
    secret: bool

    def display(self, *, masked: bool = True) -> str:
        """The value as text (``true``, not ``True``); secrets masked unless ``masked`` is false."""
        return _BY_KEY[self.section, self.key].display(self.value, masked=masked)


def _closest(word: str, candidates: list[str]) -> str | None:
    matches = difflib.get_close_matches(word.lower(), candidates, n=1, cutoff=0.6)
    return matches[0] if matches else None


def _suggest(section: str, key: str) -> str | None:
    key = key.lower()
    near = section if section in SECTIONS else _closest(section, list(SECTIONS))
    if near and (near, key) in _BY_KEY:
        return f"[{near}] {key}"
    owners = [s for s in SECTIONS if (s, key) in _BY_KEY]
    if owners:  # right key, wrong section
        return f"[{owners[0]}] {key}"
    if near:
        name = _closest(key, [name for (s, name) in _BY_KEY if s == near])
        if name:
            return f"[{near}] {name}"
        if near != section:
            return f"[{near}]"
    return None


def unknown_option_message(section: str, key: str) -> str:
    """``unknown option [section] key`` with a suggestion of the closest known option."""
    if section in SECTIONS:
        message = f"unknown option [{section}] {key}"
    else:
        message = f"unknown section [{section}] (known: {', '.join(SECTIONS)})"
    suggestion = _suggest(section, key)
    return f"{message}; did you mean {suggestion}?" if suggestion else message


def check_section(section: str) -> str:
    """``section`` if it is a known section; :class:`ConfigError` (with a suggestion) if not."""
    if section not in SECTIONS:
        message = f"unknown section [{section}] (known: {', '.join(SECTIONS)})"
        near = _closest(section, list(SECTIONS))
        raise ConfigError(f"{message}; did you mean [{near}]?" if near else message)
    return section


def find_option(section: str, key: str) -> Option:
    """The declared option ``[section] key``; :class:`ConfigError` (with a suggestion) if none."""
    try:
        return _BY_KEY[section, key]
    except KeyError:
        raise ConfigError(unknown_option_message(section, key)) from None


def downwind_home(environ: Mapping[str, str] | None = None) -> Path:
    """``$DOWNWIND_HOME`` (default ``~/downwind``) as an absolute path, ``~`` expanded."""
    env = os.environ if environ is None else environ
    raw = env.get(HOME_ENV_VAR) or DEFAULT_HOME
    return Path(raw).expanduser().absolute()


class Section:
    """The options of one section, read as attributes: ``conf.core.parallelism``."""

    __slots__ = ("_name", "_values")

    def __init__(self, name: str, values: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_values", MappingProxyType(dict(values)))

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):  # an unset slot (mid-unpickling): no recursion into _values
            raise AttributeError(key)
        try:
            return self._values[key]
        except KeyError:
            raise AttributeError(unknown_option_message(self._name, key)) from None

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError("the configuration is read-only")

    def __delattr__(self, key: str) -> None:
        raise AttributeError("the configuration is read-only")

    def __dir__(self) -> list[str]:
        return list(self._values)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Section, (self._name, dict(self._values)))

    def __repr__(self) -> str:
        return f"<config section [{self._name}]>"


class Config:
    """The effective configuration: a frozen value built by :func:`load_config`.

    Read options per section as attributes (``conf.core.parallelism``) or with
    :meth:`get`; :meth:`source` says where a value came from; iterating yields a
    :class:`ConfigItem` for every option, in declaration order.
    """

    __slots__ = ("_sections", "_sources", "_values", "home")

    home: Path

    def __init__(
        self,
        home: Path,
        values: Mapping[tuple[str, str], Any],
        sources: Mapping[tuple[str, str], str],
    ) -> None:
        object.__setattr__(self, "home", home)
        object.__setattr__(self, "_values", MappingProxyType(dict(values)))
        object.__setattr__(self, "_sources", MappingProxyType(dict(sources)))
        sections = {
            name: Section(name, {k: v for (s, k), v in values.items() if s == name})
            for name in SECTIONS
        }
        object.__setattr__(self, "_sections", MappingProxyType(sections))

    def __getattr__(self, section: str) -> Section:
        if section.startswith("_"):
            raise AttributeError(section)
        try:
            return self._sections[section]
        except KeyError:
            raise AttributeError(f"unknown config section {section!r}") from None

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError("the configuration is read-only")

    def __delattr__(self, key: str) -> None:
        raise AttributeError("the configuration is read-only")

    def __dir__(self) -> list[str]:
        return ["get", "home", "source", "timezone", *SECTIONS]

    def get(self, section: str, key: str) -> Any:
        """The value of ``[section] key``; :class:`ConfigError` if there is no such option."""
        find_option(section, key)
        return self._values[section, key]

    def source(self, section: str, key: str) -> str:
        """Where ``[section] key`` came from: ``default``, the path of ``downwind.toml``, or
        ``env DOWNWIND__SECTION__KEY``."""
        find_option(section, key)
        return self._sources[section, key]

    @property
    def timezone(self) -> ZoneInfo:
        """The :class:`~zoneinfo.ZoneInfo` of ``[core] default_timezone``."""
        return zone(self._values["core", "default_timezone"])

    def __iter__(self) -> Iterator[ConfigItem]:
        for option in OPTIONS:
            key = (option.section, option.name)
            yield ConfigItem(
                option.section, option.name, self._values[key], self._sources[key], option.secret
            )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Config):
            return NotImplemented
        return (self.home, dict(self._values), dict(self._sources)) == (
            other.home,
            dict(other._values),
            dict(other._sources),
        )

    def __hash__(self) -> int:
        return hash((self.home, tuple(self._values.items())))

    def __reduce__(self) -> tuple[Any, ...]:
        return (Config, (self.home, dict(self._values), dict(self._sources)))

    def __repr__(self) -> str:  # no values: some are secret
        return f"<Config home={str(self.home)!r}>"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: invalid TOML: {err}") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: invalid TOML: not UTF-8 text ({err.reason})") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror or err}") from None


def _toml_values(path: Path) -> dict[tuple[str, str], object]:
    raw: dict[tuple[str, str], object] = {}
    for section, table in _read_toml(path).items():
        if not isinstance(table, dict):
            owners = [s for s in SECTIONS if (s, section.lower()) in _BY_KEY]
            hint = f"; put it under [{owners[0]}]" if owners else ""
            raise ConfigError(f"{path}: '{section} = ...' is not inside a [section]{hint}")
        for key, value in table.items():
            if (section, key) not in _BY_KEY:
                raise ConfigError(f"{unknown_option_message(section, key)} (from {path})")
            raw[section, key] = value
    return raw


def _env_values(environ: Mapping[str, str]) -> dict[tuple[str, str], tuple[str, str]]:
    """``(section, key) -> (raw value, variable name)`` for every ``DOWNWIND__*`` variable."""
    raw: dict[tuple[str, str], tuple[str, str]] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        parts = name[len(ENV_PREFIX) :].split("__")
        if len(parts) != 2 or not all(parts):
            raise ConfigError(
                f"environment variable {name}: not a config option; "
                f"expected DOWNWIND__SECTION__KEY, e.g. DOWNWIND__CORE__PARALLELISM"
            )
        section, key = parts[0].lower(), parts[1].lower()
        if (section, key) not in _BY_KEY:
            raise ConfigError(
                f"{unknown_option_message(section, key)} (from environment variable {name})"
            )
        raw[section, key] = (value, name)
    return raw


def load_config(home: Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """The configuration of ``home`` (default: :func:`downwind_home`) under ``environ``
    (default: ``os.environ``).

    Each option takes, in order of precedence, its ``DOWNWIND__SECTION__KEY`` environment
    variable, its value in ``home/downwind.toml``, or its default. Raises
    :class:`ConfigError` naming the option and the value's origin for an unknown option,
    a bad value or malformed TOML.
    """
    env = os.environ if environ is None else environ
    home = downwind_home(env) if home is None else Path(home).expanduser().absolute()
    toml_path = home / CONFIG_FILE_NAME
    from_toml = _toml_values(toml_path)
    from_env = _env_values(env)

    values: dict[tuple[str, str], Any] = {}
    sources: dict[tuple[str, str], str] = {}
    for option in OPTIONS:
        key = (option.section, option.name)
        try:
            if key in from_env:
                raw, var = from_env[key]
                origin = f"environment variable {var}"
                sources[key] = f"env {var}"
                values[key] = option.type.parse(raw, home)
            elif key in from_toml:
                origin = str(toml_path)
                sources[key] = str(toml_path)
                values[key] = option.type.parse(from_toml[key], home)
            else:
                origin = "default"
                sources[key] = DEFAULT_SOURCE
                values[key] = option.default_value(home)
        except ValueError as err:
            raise ConfigError(f"[{option.section}] {option.name}: {err} (from {origin})") from None
    return Config(home, values, sources)


_cache_lock = threading.Lock()
_cached: Config | None = None


def get_config() -> Config:
    """The process-wide configuration, loaded from ``os.environ`` on first use."""
    global _cached
    with _cache_lock:
        if _cached is None:
            _cached = load_config()
        return _cached


def reset_config_cache() -> None:
    """Forget the cached configuration, so the next :func:`get_config` loads it again."""
    global _cached
    with _cache_lock:
        _cached = None
