"""A small ETL pipeline written with TaskFlow: ``@dag`` and ``@task``.

``extract`` returns raw orders; ``transform`` returns several values at once
(``multiple_outputs=True`` pushes each key as its own XCom); ``load`` receives two of them.
Return values travel between tasks through XCom: passing one task's result to another
task both hands over the value and makes the first task upstream of the second.

Try it: ``downwind dags test example_taskflow_etl 2026-01-01``.
"""

import json
from datetime import datetime

from downwind import dag, task


@dag(
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "taskflow"],
    default_args={"retries": 1},
)
def example_taskflow_etl():
    """Extract orders, total them, and load the summary."""

    @task()
    def extract():
        """Pretend to read orders from an API: order id -> amount."""
        data = '{"1001": 301.27, "1002": 433.21, "1003": 502.22}'
        return json.loads(data)

    @task(multiple_outputs=True)
    def transform(orders: dict[str, float]) -> dict[str, float]:
        """Total the orders; each key of the result becomes its own XCom."""
        total = round(sum(orders.values()), 2)
        return {"total_order_value": total, "order_count": len(orders)}

    @task()
    def load(total_order_value: float, order_count: int, ds=None) -> str:
        """Pretend to store the summary; ``ds`` comes from the run context."""
        summary = f"{ds}: {order_count} orders, total {total_order_value:.2f}"
        print(summary)
        return summary

    order_data = extract()
    order_summary = transform(order_data)
    load(order_summary["total_order_value"], order_summary["order_count"])


example_taskflow_etl()
