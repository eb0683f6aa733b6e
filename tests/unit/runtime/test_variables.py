"""Variables from DOWNWIND_VAR_<KEY> environment variables."""

from __future__ import annotations

from downwind.runtime.variables import VAR_ENV_PREFIX, variable_from_env


def test_reads_the_upper_cased_key():
    environ = {"DOWNWIND_VAR_API_URL": "https://example.com"}
    assert variable_from_env("api_url", environ) == "https://example.com"
    assert variable_from_env("API_URL", environ) == "https://example.com"


def test_unset_is_none_and_empty_is_a_value():
    assert variable_from_env("missing", {}) is None
    assert variable_from_env("empty", {"DOWNWIND_VAR_EMPTY": ""}) == ""


def test_value_is_returned_verbatim():
    value = ' {"a": 1}\n'
    assert variable_from_env("conf", {"DOWNWIND_VAR_CONF": value}) == value


def test_other_prefixes_are_ignored():
    environ = {"AIRFLOW_VAR_X": "a", "DOWNWIND__CORE__X": "b", "downwind_var_x": "c"}
    assert variable_from_env("x", environ) is None


def test_defaults_to_the_process_environment(monkeypatch):
    monkeypatch.setenv(VAR_ENV_PREFIX + "FROM_OS", "yes")
    assert variable_from_env("from_os") == "yes"
