"""downwind's configuration: every option declared once, loaded once into a frozen object.

Options live in ``$DOWNWIND_HOME/downwind.toml`` (default home ``~/downwind``), one
``[section]`` each; the environment variable ``DOWNWIND__SECTION__KEY`` overrides any of
them. Precedence: environment > ``downwind.toml`` > default. Code reads the configuration
through :func:`get_config` when it needs it, never at import time::

    from downwind.config import get_config

    parallelism = get_config().core.parallelism

Importing this package only imports the standard library.
"""

from __future__ import annotations

from downwind.config.loader import (
    Config,
    ConfigItem,
    Section,
    check_section,
    downwind_home,
    find_option,
    get_config,
    load_config,
    reset_config_cache,
)
from downwind.config.schema import Option, mask_secret, parse_bool

__all__ = [
    "Config",
    "ConfigItem",
    "Option",
    "Section",
    "check_section",
    "downwind_home",
    "find_option",
    "get_config",
    "load_config",
    "mask_secret",
    "parse_bool",
    "reset_config_cache",
]
