"""Schema fuzzing: schemathesis generates requests for every operation of
``/openapi.json`` (valid and invalid parameters and bodies) and sends them, as the
admin, to the app on a metastore with a DAG, runs, a variable, a connection and a pool.
No request may get a 5xx: bad input is the client's error (4xx), never the server's.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from downwind.config import load_config

pytestmark = pytest.mark.slow

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _seed(session: Any) -> None:
    """A DAG with runs, a variable, a connection and a pool, so that lookups can hit."""
    from downwind import DAG
    from downwind.operators.bash import BashOperator
    from downwind.sdk.serialization import serialize_dag
    from downwind.services.connections import add_connection, build_connection
    from downwind.services.dag_registry import ParsedDag, record_parsed_file
    from downwind.services.pools import set_pool
    from downwind.services.runs import trigger_dag_run
    from downwind.services.users import create_user
    from downwind.services.variables import set_variable

    with DAG("fuzzed", start_date=datetime(2026, 1, 1), schedule="@daily", tags=["t"]) as dag:
        BashOperator(task_id="a", bash_command="echo a") >> BashOperator(
            task_id="b", bash_command="echo b"
        )
    record_parsed_file(
        session,
        fileloc="/dags/fuzzed.py",
        dags=[ParsedDag(serialize_dag(dag), "# the source")],
        import_error=None,
        now=NOW,
        paused_at_creation=False,
    )
    trigger_dag_run(session, "fuzzed", run_id="r1", now=NOW)
    set_variable(session, "greeting", "hello", now=NOW)
    add_connection(session, build_connection("warehouse", uri="postgresql://u:pw@db/dw"), now=NOW)
    set_pool(session, "small", 2, now=NOW)
    create_user(session, "fuzzer", "fuzzing password", "Admin", now=NOW)
    record_parsed_file(
        session,
        fileloc="/dags/broken.py",
        dags=[],
        import_error="Traceback ...\nSyntaxError: invalid syntax",
        now=NOW,
        paused_at_creation=True,
    )


@pytest.fixture(scope="module")
def fuzzed_app() -> Iterator[tuple[Any, str]]:
    from downwind.api.app import create_app
    from downwind.metastore.engine import (
        create_engine_from_url,
        session_factory,
        write_transaction,
    )
    from downwind.metastore.migrate import upgrade
    from downwind.security.tokens import issue_token, signing_key

    with tempfile.TemporaryDirectory(prefix="downwind-fuzz-") as tmp:
        home = Path(tmp)
        conf = load_config(home, {"DOWNWIND__CORE__LOAD_EXAMPLES": "false"})
        engine = create_engine_from_url(f"sqlite:///{home / 'downwind.db'}")
        upgrade(engine)
        sessions = session_factory(engine)
        with write_transaction(sessions) as session:
            _seed(session)
        token = issue_token(signing_key(conf), "fuzzer", "Admin", 3600, now=datetime.now(UTC))
        try:
            yield create_app(conf, sessions), token
        finally:
            engine.dispose()


def test_no_request_gets_a_server_error(fuzzed_app: tuple[Any, str]) -> None:
    app, token = fuzzed_app
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = {"Authorization": f"Bearer {token}"}
    failures: dict[str, str] = {}
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=[not_a_server_error])

        try:
            check()
        except (Exception, BaseExceptionGroup) as err:  # every operation's failure, then all
            failures[operation.label] = str(err)[:2000]
    assert operations > 20
    assert not failures, "\n\n".join(f"{label}:\n{error}" for label, error in failures.items())
