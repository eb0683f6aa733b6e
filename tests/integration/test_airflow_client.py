"""Apache Airflow's own Python client (apache-airflow-client 3.3.2) drives a live
``downwind standalone``: token, DAGs, trigger with conf, follow the run, task instances,
a log, then clear the failed task and watch only it (and its downstream) run again.

The client's models reject a response that lacks a required field or has a value of the
wrong JSON type, so every call below is also a check of downwind's API shapes.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from standalone_process import running_standalone, wait_for

DAG_FILE = """
from datetime import datetime
from pathlib import Path

from downwind import DAG
from downwind.operators.bash import BashOperator
from downwind.operators.python import PythonOperator

FIXED = Path({fixed!r})


def extract(dag_run):
    print("extracting for", dag_run.conf["source"])


def flaky():
    if not FIXED.exists():
        raise RuntimeError("the source is not ready")


with DAG("client_demo", start_date=datetime(2026, 1, 1), schedule=None, tags=["demo"]) as dag:
    (
        PythonOperator(task_id="extract", python_callable=extract)
        >> PythonOperator(task_id="flaky", python_callable=flaky)
        >> BashOperator(task_id="report", bash_command="echo reported")
    )
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path, str]]:
    """A running ``downwind standalone``: its URL, the marker file that fixes the flaky
    task, and the admin's password."""
    home = tmp_path / "home"
    fixed = tmp_path / "fixed"
    (home / "dags").mkdir(parents=True)
    (home / "dags" / "client_demo.py").write_text(
        textwrap.dedent(DAG_FILE.format(fixed=str(fixed)))
    )
    with running_standalone(home) as standalone:
        yield standalone.url, fixed, standalone.password
    # the password is stored hashed only: no file but its own holds it in clear
    password = standalone.password.encode()
    holders = [path for path in home.rglob("*") if path.is_file() and password in path.read_bytes()]
    assert holders == [home / "standalone_admin_password.txt"]


def test_the_official_client_triggers_follows_reads_and_clears(
    server: tuple[str, Path, str],
) -> None:
    from airflow_client.client import (
        ApiClient,
        ClearTaskInstancesBody,
        Configuration,
        DAGApi,
        DAGPatchBody,
        DagRunApi,
        MonitorApi,
        TaskInstanceApi,
        TriggerDAGRunPostBody,
        VersionApi,
    )

    url, fixed, password = server
    token = httpx.post(
        f"{url}/auth/token", json={"username": "admin", "password": password}
    ).json()["access_token"]
    with ApiClient(Configuration(host=url, access_token=token)) as client:
        assert MonitorApi(client).get_health().metadatabase.status == "healthy"
        assert VersionApi(client).get_version().version

        dags = DAGApi(client)
        wait_for(lambda: dags.get_dags(dag_id_pattern="client_demo").total_entries == 1, "the DAG")
        dags.patch_dag("client_demo", DAGPatchBody(is_paused=False))
        assert dags.get_dag("client_demo").is_paused is False

        runs = DagRunApi(client)
        run = runs.trigger_dag_run(
            "client_demo",
            TriggerDAGRunPostBody(dag_run_id="r1", logical_date=None, conf={"source": "s3"}),
        )
        assert (run.dag_run_id, run.conf) == ("r1", {"source": "s3"})
        wait_for(lambda: runs.get_dag_run("client_demo", "r1").state == "failed", "the run to fail")

        tis = TaskInstanceApi(client)
        states = {
            ti.task_id: ti.state
            for ti in tis.get_task_instances("client_demo", "r1").task_instances
        }
        assert states == {"extract": "success", "flaky": "failed", "report": "upstream_failed"}
        log = tis.get_log("client_demo", "r1", "extract", 1)
        assert "extracting for s3" in str(log.content)

        fixed.touch()
        cleared = tis.post_clear_task_instances(
            "client_demo",
            ClearTaskInstancesBody(
                dry_run=False, dag_run_id="r1", only_failed=True, include_downstream=True
            ),
        )
        assert sorted(ti.task_id for ti in cleared.task_instances) == ["flaky", "report"]
        wait_for(lambda: runs.get_dag_run("client_demo", "r1").state == "success", "the rerun")
        final = {
            ti.task_id: ti for ti in tis.get_task_instances("client_demo", "r1").task_instances
        }
        assert {task: ti.state for task, ti in final.items()} == dict.fromkeys(final, "success")
        assert (final["extract"].try_number, final["flaky"].try_number) == (1, 2)
        tries = tis.get_task_instance_tries("client_demo", "r1", "flaky")
        assert [t.state for t in tries.task_instances] == ["failed", "success"]
