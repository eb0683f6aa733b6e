"""Branching: choose a path by the weekday of the run's logical date.

``choose_path`` (a ``@task.branch``) returns the task id of the path to follow; the other
direct downstream task is skipped. The paths join in ``report``, whose trigger rule
``none_failed_min_one_success`` lets it run when one path succeeded and the other was
skipped (under the default ``all_success`` a skipped upstream would skip it too).

Try it: ``downwind dags test example_branching 2026-01-03`` (a Saturday: the weekend path
runs) and ``downwind dags test example_branching 2026-01-05`` (a Monday: the weekday path).
"""

from datetime import datetime

from downwind import DAG, task
from downwind.operators.bash import BashOperator
from downwind.operators.empty import EmptyOperator

with DAG(
    dag_id="example_branching",
    description="Take the weekday or the weekend path depending on the logical date.",
    start_date=datetime(2026, 1, 1),
    schedule="@daily",
    catchup=False,
    tags=["example", "branching"],
) as dag:
    start = EmptyOperator(task_id="start")

    @task.branch()
    def choose_path(logical_date=None) -> str:
        """Return the task id to follow: Monday-Friday -> weekday, else weekend."""
        day = logical_date.strftime("%A")
        path = "weekday_report" if logical_date.weekday() < 5 else "weekend_report"
        print(f"{day}: following {path}")
        return path

    weekday_report = BashOperator(
        task_id="weekday_report",
        bash_command='echo "Weekday {{ ds }}: full report"',
    )
    weekend_report = BashOperator(
        task_id="weekend_report",
        bash_command='echo "Weekend {{ ds }}: short report"',
    )
    report = BashOperator(
        task_id="report",
        bash_command='echo "Report for {{ ds }} done"',
        trigger_rule="none_failed_min_one_success",
    )

    start >> choose_path() >> [weekday_report, weekend_report] >> report
