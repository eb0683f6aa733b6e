"""How fast is the API server? Prints the figures issue 4 sets targets for.

On a temporary, migrated SQLite home holding 100 DAGs (10 tasks each) and one DAG whose
run has 1,000 task instances:

- **start**: ``downwind standalone`` is started on the migrated home; the time until
  ``GET /api/v2/monitor/health`` first answers 200 (median of 3 starts). Target: < 2 s
  (Apache Airflow 3.3.2's standalone: about 10 s on a 2-core machine).
- **a page of 100 DAGs**: ``GET /api/v2/dags?limit=100`` (median of 30 requests, each
  with a token, over HTTP on loopback, to ``downwind api-server``). Target: < 100 ms.
- **a run of 1,000 task instances**: ``GET .../dagRuns/{run}/taskInstances?limit=1000``,
  the whole run in one answer (the server's ``[api] maximum_page_limit`` is raised to
  1000 for this; the default caps pages at 100), median of 30. Target: < 100 ms. The
  figure for a default page of 100 is printed too.

Usage: ``python benchmarks/api_server.py [--requests 30]``. Progress goes to stderr,
figures to stdout. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy.orm import Session
from support import downwind_command, progress, verdict, warm_byte_code

from downwind import DAG, chain
from downwind.metastore.engine import create_engine_from_url, session_factory, write_transaction
from downwind.metastore.migrate import upgrade
from downwind.operators.empty import EmptyOperator
from downwind.sdk.serialization import serialize_dag
from downwind.services.dag_registry import ParsedDag, record_parsed_file
from downwind.services.runs import trigger_dag_run
from downwind.services.users import create_user

START_TARGET_S = 2.0
PAGE_TARGET_MS = 100.0
DAGS = 100
RUN_TASKS = 1000
NOW = datetime(2026, 3, 1, tzinfo=UTC)
USER, PASSWORD = "bench", "benchmark password"


def seed(home: Path) -> str:
    """Migrate ``home``'s metastore and fill it; returns the big run's id."""
    engine = create_engine_from_url(f"sqlite:///{home / 'downwind.db'}")
    upgrade(engine)
    sessions = session_factory(engine)
    with write_transaction(sessions) as session:
        for number in range(DAGS):
            with DAG(
                f"dag_{number:03d}",
                start_date=datetime(2026, 1, 1),
                schedule="@daily",
                tags=["bench", f"team_{number % 5}"],
            ) as dag:
                chain(*(EmptyOperator(task_id=f"t{i}") for i in range(10)))
            _record(session, dag)
        with DAG("big_run", start_date=datetime(2026, 1, 1), schedule=None) as big:
            root = EmptyOperator(task_id="root")
            root >> [EmptyOperator(task_id=f"t{i:04d}") for i in range(RUN_TASKS - 1)]
        _record(session, big)
        run_id = trigger_dag_run(session, "big_run", run_id="big", now=NOW).run_id
        create_user(session, USER, PASSWORD, "Admin", now=NOW)
    engine.dispose()
    return run_id


def _record(session: Session, dag: DAG) -> None:
    record_parsed_file(
        session,
        fileloc=f"/dags/{dag.dag_id}.py",
        dags=[ParsedDag(serialize_dag(dag), "# generated")],
        import_error=None,
        now=NOW,
        paused_at_creation=False,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def serving(home: Path, port: int, command: str) -> Iterator[float]:
    """``downwind <command>`` (``standalone`` or ``api-server``) on ``home``; yields the
    seconds from its start until its API answered the health check."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOWNWIND")}
    env.update(
        DOWNWIND_HOME=str(home),
        DOWNWIND__CORE__LOAD_EXAMPLES="false",
        DOWNWIND__API__PORT=str(port),
        DOWNWIND__API__ACCESS_LOG="false",
        DOWNWIND__API__MAXIMUM_PAGE_LIMIT=str(RUN_TASKS),
    )
    log_path = home / f"{command}.log"
    log = log_path.open("wb")
    began = time.perf_counter()
    process = subprocess.Popen(
        [*downwind_command(), command],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/api/v2/monitor/health"
        while True:
            if process.poll() is not None:
                raise SystemExit(f"{command} exited: see {log_path}")
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.01)
        yield time.perf_counter() - began
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def median_ms(client: httpx.Client, url: str, requests: int) -> tuple[float, int]:
    """The median time of ``requests`` GETs of ``url``, and the items of the last answer."""
    times, items = [], 0
    client.get(url).raise_for_status()  # warm: first use of each code path
    for _ in range(requests):
        began = time.perf_counter()
        answer = client.get(url)
        times.append((time.perf_counter() - began) * 1000)
        answer.raise_for_status()
        body = answer.json()
        items = len(next(value for value in body.values() if isinstance(value, list)))
    return statistics.median(times), items


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=30, help="requests per figure (30)")
    args = parser.parse_args(argv)
    warm_byte_code()
    with tempfile.TemporaryDirectory(prefix="downwind-api-bench-") as tmp:
        home = Path(tmp)
        progress(f"seeding {DAGS} DAGs and a run of {RUN_TASKS} task instances")
        run_id = seed(home)
        # The requests go to `downwind api-server` alone, before standalone runs: its DAG
        # processor deactivates the generated DAGs, which have no file in the dags folder.
        port = free_port()
        with serving(home, port, "api-server"):
            base = f"http://127.0.0.1:{port}"
            token = httpx.post(
                f"{base}/auth/token", json={"username": USER, "password": PASSWORD}
            ).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
                progress("timing the DAG list")
                dags_ms, dags = median_ms(client, "/api/v2/dags?limit=100", args.requests)
                tis_url = f"/api/v2/dags/big_run/dagRuns/{run_id}/taskInstances"
                progress("timing the run's task instances")
                run_ms, tis = median_ms(client, f"{tis_url}?limit={RUN_TASKS}", args.requests)
                page_ms, page = median_ms(client, f"{tis_url}?limit=100", args.requests)
        progress("starting downwind standalone (3 times)")
        starts = []
        for _ in range(3):
            with serving(home, free_port(), "standalone") as start_s:
                starts.append(start_s)
        start_s = statistics.median(starts)
    print(f"downwind API benchmark: python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print(
        f"  standalone start -> health answered: median {start_s:.2f} s "
        f"(runs: {', '.join(f'{s:.2f}' for s in starts)})   "
        f"target < {START_TARGET_S:g} s {verdict(start_s < START_TARGET_S)}"
    )
    print(
        f"  GET /api/v2/dags?limit=100 ({dags} DAGs): median {dags_ms:.1f} ms   "
        f"target < {PAGE_TARGET_MS:g} ms {verdict(dags_ms < PAGE_TARGET_MS)}"
    )
    print(
        f"  GET .../taskInstances of a {tis}-task-instance run, one answer: median "
        f"{run_ms:.1f} ms   target < {PAGE_TARGET_MS:g} ms {verdict(run_ms < PAGE_TARGET_MS)}"
    )
    print(f"    a page of {page}: median {page_ms:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
