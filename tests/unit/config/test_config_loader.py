"""Loading the configuration: defaults, downwind.toml, environment, errors, provenance."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from downwind.config import (
    downwind_home,
    get_config,
    load_config,
    reset_config_cache,
)
from downwind.config.options import OPTIONS
from downwind.exceptions import ConfigError

WriteToml = Callable[[str], Path]


def test_home_defaults_to_downwind_in_the_user_directory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOME", "/users/ann")
    assert downwind_home({}) == Path("/users/ann/downwind")
    assert downwind_home({"DOWNWIND_HOME": ""}) == Path("/users/ann/downwind")
    assert downwind_home({"DOWNWIND_HOME": "~/dw"}) == Path("/users/ann/dw")
    assert downwind_home({"DOWNWIND_HOME": "/srv/dw"}) == Path("/srv/dw")


def test_home_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOWNWIND_HOME", str(tmp_path))
    assert downwind_home() == tmp_path


def test_defaults(home: Path) -> None:
    conf = load_config(home, {})
    assert conf.home == home
    assert conf.core.dags_folder == home / "dags"
    assert conf.core.plugins_folder == home / "plugins"
    assert conf.core.load_examples is True
    assert conf.core.executor == "local"
    assert conf.core.parallelism == 32
    assert conf.core.default_timezone == "UTC"
    assert conf.core.max_active_runs_per_dag == 16
    assert conf.core.max_active_tasks_per_dag == 16
    assert conf.core.dags_are_paused_at_creation is True
    assert conf.core.default_task_retries == 0
    assert conf.core.default_task_retry_delay == 300
    assert conf.core.dag_discovery_safe_mode is True
    assert conf.scheduler.catchup_by_default is True
    assert conf.logging.base_log_folder == home / "logs"
    assert conf.logging.colored_console is True
    assert conf.database.url == f"sqlite:///{home}/downwind.db"
    assert all(item.source == "default" for item in conf)


def test_every_declared_default_is_valid(home: Path) -> None:
    for option in OPTIONS:
        option.default_value(home)  # raises if a default breaks its own type


def test_options_are_unique_and_documented() -> None:
    keys = [(o.section, o.name) for o in OPTIONS]
    assert len(keys) == len(set(keys))
    for option in OPTIONS:
        assert option.doc.strip()
        assert option.section.islower() and option.name.islower()
        assert "__" not in option.name and "__" not in option.section


def test_loading_creates_nothing(tmp_path: Path) -> None:
    home = tmp_path / "not-yet"
    conf = load_config(home, {})
    assert conf.core.dags_folder == home / "dags"
    assert not home.exists()


def test_toml_overrides_defaults(home: Path, write_toml: WriteToml) -> None:
    path = write_toml(
        """
[core]
parallelism = 4
executor = "sequential"
load_examples = false
default_timezone = "Europe/Paris"
dags_folder = "/opt/dags"

[scheduler]
catchup_by_default = false

[database]
url = "postgresql://dw:pw@db/dw"
"""
    )
    conf = load_config(home, {})
    assert conf.core.parallelism == 4
    assert conf.core.executor == "sequential"
    assert conf.core.load_examples is False
    assert conf.core.default_timezone == "Europe/Paris"
    assert conf.timezone == ZoneInfo("Europe/Paris")
    assert conf.core.dags_folder == Path("/opt/dags")
    assert conf.scheduler.catchup_by_default is False
    assert conf.database.url == "postgresql://dw:pw@db/dw"
    assert conf.source("core", "parallelism") == str(path)
    assert conf.source("core", "max_active_runs_per_dag") == "default"


def test_toml_booleans_may_also_be_strings(home: Path, write_toml: WriteToml) -> None:
    write_toml('[core]\nload_examples = "no"\n[logging]\ncolored_console = "OFF"\n')
    conf = load_config(home, {})
    assert conf.core.load_examples is False
    assert conf.logging.colored_console is False


def test_toml_paths_may_use_home_and_be_relative(home: Path, write_toml: WriteToml) -> None:
    write_toml('[core]\ndags_folder = "{home}/pipelines"\n[logging]\nbase_log_folder = "var/log"\n')
    conf = load_config(home, {})
    assert conf.core.dags_folder == home / "pipelines"
    assert conf.logging.base_log_folder == home / "var" / "log"


def test_env_overrides_defaults(home: Path) -> None:
    conf = load_config(
        home,
        {
            "DOWNWIND__CORE__PARALLELISM": "4",
            "DOWNWIND__SCHEDULER__CATCHUP_BY_DEFAULT": "no",
            "DOWNWIND__CORE__MAX_ACTIVE_RUNS_PER_DAG": "3",
        },
    )
    assert conf.core.parallelism == 4
    assert conf.scheduler.catchup_by_default is False
    assert conf.core.max_active_runs_per_dag == 3
    assert conf.source("core", "parallelism") == "env DOWNWIND__CORE__PARALLELISM"
    assert conf.source("core", "executor") == "default"


def test_precedence_env_over_toml_over_default(home: Path, write_toml: WriteToml) -> None:
    path = write_toml("[core]\nparallelism = 4\nexecutor = 'sequential'\n")
    conf = load_config(home, {"DOWNWIND__CORE__PARALLELISM": "8"})
    assert conf.core.parallelism == 8
    assert conf.source("core", "parallelism") == "env DOWNWIND__CORE__PARALLELISM"
    assert conf.core.executor == "sequential"
    assert conf.source("core", "executor") == str(path)
    assert conf.core.max_active_tasks_per_dag == 16
    assert conf.source("core", "max_active_tasks_per_dag") == "default"


def test_env_wins_even_over_a_bad_toml_value(home: Path, write_toml: WriteToml) -> None:
    # An env override is how an operator fixes a bad file without editing it.
    write_toml("[core]\nparallelism = 'abc'\n")
    assert load_config(home, {"DOWNWIND__CORE__PARALLELISM": "2"}).core.parallelism == 2


def test_variables_and_connections_are_not_config(home: Path) -> None:
    environ = {
        "DOWNWIND_VAR_FOO": "1",
        "DOWNWIND_CONN_MY_DB": "postgresql://x",
        "DOWNWIND_HOME": "/elsewhere",
        "DOWNWIND_SOMETHING": "x",
        "PATH": "/bin",
    }
    conf = load_config(home, environ)
    assert all(item.source == "default" for item in conf)


def test_load_config_uses_downwind_home_of_the_given_environ(home: Path) -> None:
    conf = load_config(environ={"DOWNWIND_HOME": str(home), "DOWNWIND__CORE__PARALLELISM": "5"})
    assert conf.home == home
    assert conf.core.parallelism == 5


def test_get_and_source(home: Path) -> None:
    conf = load_config(home, {"DOWNWIND__CORE__EXECUTOR": "celery"})
    assert conf.get("core", "executor") == "celery"
    assert conf.get("scheduler", "catchup_by_default") is True
    with pytest.raises(ConfigError, match=r"unknown option \[core\] paralelism; did you mean"):
        conf.get("core", "paralelism")
    with pytest.raises(ConfigError, match=r"unknown section \[nope\]"):
        conf.source("nope", "x")


def test_iteration_lists_every_option_once_in_declaration_order(home: Path) -> None:
    items = list(load_config(home, {"DOWNWIND__DATABASE__URL": "postgresql://u:pw@h/db"}))
    assert [(i.section, i.key) for i in items] == [(o.section, o.name) for o in OPTIONS]
    (url,) = [i for i in items if (i.section, i.key) == ("database", "url")]
    assert (url.value, url.source, url.secret) == (
        "postgresql://u:pw@h/db",
        "env DOWNWIND__DATABASE__URL",
        True,
    )
    assert url.display() == "postgresql://u:***@h/db"
    assert url.display(masked=False) == "postgresql://u:pw@h/db"
    secrets = {(i.section, i.key) for i in items if i.secret}
    assert secrets == {("database", "url"), ("core", "fernet_key"), ("api_auth", "jwt_secret")}


def test_config_is_frozen(home: Path) -> None:
    conf = load_config(home, {})
    with pytest.raises(AttributeError):
        conf.core = None  # type: ignore[misc]
    with pytest.raises(AttributeError):
        conf.core.parallelism = 1
    with pytest.raises(AttributeError):
        conf.home = home
    with pytest.raises(AttributeError, match=r"did you mean \[core\] parallelism"):
        _ = conf.core.paralelism
    with pytest.raises(AttributeError):
        _ = conf.nosuchsection


def test_repr_shows_no_secret(home: Path) -> None:
    conf = load_config(home, {"DOWNWIND__DATABASE__URL": "postgresql://u:topsecret@h/db"})
    assert "topsecret" not in repr(conf)


def test_config_pickles_and_compares(home: Path) -> None:
    conf = load_config(home, {"DOWNWIND__CORE__PARALLELISM": "3"})
    copy = pickle.loads(pickle.dumps(conf))
    assert copy == conf
    assert copy.core.parallelism == 3
    assert copy.source("core", "parallelism") == "env DOWNWIND__CORE__PARALLELISM"
    assert conf != load_config(home, {})


def test_timezone_helper(home: Path) -> None:
    assert load_config(home, {}).timezone == ZoneInfo("UTC")
    conf = load_config(home, {"DOWNWIND__CORE__DEFAULT_TIMEZONE": "America/New_York"})
    assert conf.core.default_timezone == "America/New_York"
    assert conf.timezone == ZoneInfo("America/New_York")


def test_get_config_is_cached_until_reset(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    monkeypatch.setenv("DOWNWIND_HOME", str(home))
    monkeypatch.setenv("DOWNWIND__CORE__PARALLELISM", "3")
    first = get_config()
    assert first.core.parallelism == 3
    monkeypatch.setenv("DOWNWIND__CORE__PARALLELISM", "5")
    assert get_config() is first
    reset_config_cache()
    assert get_config().core.parallelism == 5


# Errors: each names the option (or file) and where the value came from.


@pytest.mark.parametrize(
    ("var", "value", "message"),
    [
        (
            "DOWNWIND__CORE__PARALLELISM",
            "abc",
            "[core] parallelism: expected an integer >= 1, got 'abc' "
            "(from environment variable DOWNWIND__CORE__PARALLELISM)",
        ),
        (
            "DOWNWIND__CORE__PARALLELISM",
            "0",
            "[core] parallelism: expected an integer >= 1, got '0' "
            "(from environment variable DOWNWIND__CORE__PARALLELISM)",
        ),
        (
            "DOWNWIND__CORE__DEFAULT_TASK_RETRIES",
            "-1",
            "[core] default_task_retries: expected an integer >= 0, got '-1' "
            "(from environment variable DOWNWIND__CORE__DEFAULT_TASK_RETRIES)",
        ),
        (
            "DOWNWIND__CORE__EXECUTOR",
            "foo",
            "[core] executor: expected one of sequential, local, celery, got 'foo' "
            "(from environment variable DOWNWIND__CORE__EXECUTOR)",
        ),
        (
            "DOWNWIND__CORE__DEFAULT_TIMEZONE",
            "Mars/Olympus",
            "[core] default_timezone: expected an IANA time zone name (e.g. 'UTC', "
            "'Europe/Paris'), got 'Mars/Olympus' "
            "(from environment variable DOWNWIND__CORE__DEFAULT_TIMEZONE)",
        ),
        (
            "DOWNWIND__SCHEDULER__CATCHUP_BY_DEFAULT",
            "maybe",
            "[scheduler] catchup_by_default: expected a boolean (true/false, 1/0, yes/no, "
            "on/off), got 'maybe' (from environment variable "
            "DOWNWIND__SCHEDULER__CATCHUP_BY_DEFAULT)",
        ),
    ],
)
def test_bad_env_values(home: Path, var: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(home, {var: value})
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            "[core]\nparallelism = 'abc'\n",
            "[core] parallelism: expected an integer >= 1, got 'abc'",
        ),
        ("[core]\nparallelism = 0\n", "[core] parallelism: expected an integer >= 1, got 0"),
        ("[core]\nparallelism = true\n", "[core] parallelism: expected an integer >= 1, got True"),
        (
            "[core]\nexecutor = 'foo'\n",
            "[core] executor: expected one of sequential, local, celery",
        ),
        (
            "[core]\ndefault_timezone = 'Mars/Olympus'\n",
            "[core] default_timezone: expected an IANA time zone name",
        ),
        ("[core]\nload_examples = 2\n", "[core] load_examples: expected a boolean"),
        ("[database]\nurl = 5\n", "[database] url: expected a string, got 5"),
        ("[core]\ndags_folder = ''\n", "[core] dags_folder: expected a path, got ''"),
    ],
)
def test_bad_toml_values(home: Path, write_toml: WriteToml, toml: str, message: str) -> None:
    path = write_toml(toml)
    with pytest.raises(ConfigError) as info:
        load_config(home, {})
    assert str(info.value).startswith(message)
    assert str(info.value).endswith(f"(from {path})")


def test_unknown_env_option_suggests_the_closest(home: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(home, {"DOWNWIND__CORE__PARALELISM": "4"})
    assert str(info.value) == (
        "unknown option [core] paralelism; did you mean [core] parallelism? "
        "(from environment variable DOWNWIND__CORE__PARALELISM)"
    )


def test_unknown_env_section(home: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(home, {"DOWNWIND__COR__PARALLELISM": "4"})
    message = str(info.value)
    assert message.startswith("unknown section [cor]")
    assert "did you mean [core] parallelism?" in message
    assert message.endswith("(from environment variable DOWNWIND__COR__PARALLELISM)")


def test_option_in_the_wrong_section_points_to_the_right_one(home: Path) -> None:
    with pytest.raises(ConfigError, match=r"did you mean \[scheduler\] catchup_by_default\?"):
        load_config(home, {"DOWNWIND__CORE__CATCHUP_BY_DEFAULT": "false"})


@pytest.mark.parametrize("var", ["DOWNWIND__PARALLELISM", "DOWNWIND__CORE__X__Y", "DOWNWIND__"])
def test_malformed_env_names(home: Path, var: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(home, {var: "1"})
    assert str(info.value).startswith(f"environment variable {var}: not a config option")
    assert "DOWNWIND__SECTION__KEY" in str(info.value)


def test_unknown_toml_key_suggests_the_closest(home: Path, write_toml: WriteToml) -> None:
    path = write_toml("[core]\nmax_active_run_per_dag = 3\n")
    with pytest.raises(ConfigError) as info:
        load_config(home, {})
    assert str(info.value) == (
        "unknown option [core] max_active_run_per_dag; "
        f"did you mean [core] max_active_runs_per_dag? (from {path})"
    )


def test_unknown_toml_section(home: Path, write_toml: WriteToml) -> None:
    path = write_toml("[shceduler]\ncatchup_by_default = false\n")
    with pytest.raises(ConfigError) as info:
        load_config(home, {})
    message = str(info.value)
    assert message.startswith("unknown section [shceduler]")
    assert "did you mean [scheduler] catchup_by_default?" in message
    assert message.endswith(f"(from {path})")


def test_unknown_key_without_a_close_match(home: Path, write_toml: WriteToml) -> None:
    path = write_toml("[core]\nzzz = 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(home, {})
    assert str(info.value) == f"unknown option [core] zzz (from {path})"


def test_top_level_key_outside_any_section(home: Path, write_toml: WriteToml) -> None:
    path = write_toml("parallelism = 4\n")
    with pytest.raises(ConfigError) as info:
        load_config(home, {})
    assert str(info.value) == (
        f"{path}: 'parallelism = ...' is not inside a [section]; put it under [core]"
    )


def test_malformed_toml_names_the_file_and_line(home: Path, write_toml: WriteToml) -> None:
    path = write_toml("[core]\nparallelism = 4\nexecutor = \n")
    with pytest.raises(ConfigError) as info:
        load_config(home, {})
    message = str(info.value)
    assert message.startswith(f"{path}: invalid TOML: ")
    assert "line 3" in message


def test_toml_that_is_not_utf8(home: Path) -> None:
    (home / "downwind.toml").write_bytes(b"[core]\nexecutor = '\xff'\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(home, {})


def test_unreadable_toml(home: Path) -> None:
    (home / "downwind.toml").mkdir()  # a directory where the file should be
    with pytest.raises(ConfigError, match=r"downwind\.toml: cannot read"):
        load_config(home, {})
