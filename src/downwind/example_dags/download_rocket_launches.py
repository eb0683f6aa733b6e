"""The classic rocket-launch pipeline: download upcoming launches, fetch their pictures,
and report how many there are.

Variables (set them as environment variables ``DOWNWIND_VAR_<NAME>``):

- ``launches_url``: the launch API (default: The Space Devs' upcoming launches);
- ``rocket_data_dir``: where to write (default: ``$DOWNWIND_HOME/data/rockets``).

Each run writes under ``<rocket_data_dir>/<ds>/`` (``launches.json`` and ``images/``), so
runs of different days never overwrite each other.

Try it: ``downwind dags test download_rocket_launches 2026-01-01``.
"""

import json
import os
import pathlib
import urllib.parse
import urllib.request

from downwind import DAG
from downwind.operators.bash import BashOperator
from downwind.operators.python import PythonOperator
from downwind.utils.dates import days_ago

LAUNCHES_URL = "https://ll.thespacedevs.com/2.0.0/launch/upcoming"
DEFAULT_DATA_DIR = os.path.join(
    os.environ.get("DOWNWIND_HOME") or os.path.expanduser("~/downwind"), "data", "rockets"
)
# This run's folder, rendered by Jinja at run time. json.dumps quotes the default path
# as a Jinja string literal, whatever characters it holds.
RUN_DIR = "{{ var.value.get('rocket_data_dir', " + json.dumps(DEFAULT_DATA_DIR) + ") }}/{{ ds }}"

dag = DAG(
    dag_id="download_rocket_launches",
    description="Download the pictures of upcoming rocket launches.",
    start_date=days_ago(14),
    schedule_interval="@daily",
    catchup=True,  # the default, stated: switched on, the DAG gets 14 daily catch-up runs
    tags=["example"],
)

download_launches = BashOperator(
    task_id="download_launches",
    bash_command=(
        'mkdir -p "$RUN_DIR" && '
        'curl --fail --silent --show-error -o "$RUN_DIR/launches.json" -L '
        '\'{{ var.value.get("launches_url", "' + LAUNCHES_URL + "\") }}'"
    ),
    # The folder goes through the environment, so that no path needs shell quoting.
    env={"RUN_DIR": RUN_DIR},
    append_env=True,
    dag=dag,
)


def _get_pictures(run_dir: str) -> int:
    """Download the picture of every launch listed in launches.json; return the count."""
    images_dir = pathlib.Path(run_dir, "images")
    images_dir.mkdir(parents=True, exist_ok=True)
    with open(pathlib.Path(run_dir, "launches.json"), encoding="utf-8") as fh:
        launches = json.load(fh)
    image_urls = [launch["image"] for launch in launches["results"] if launch.get("image")]
    saved = 0
    for image_url in image_urls:
        name = pathlib.PurePosixPath(urllib.parse.urlparse(image_url).path).name
        target = images_dir / name
        try:
            with urllib.request.urlopen(image_url, timeout=30) as response:
                target.write_bytes(response.read())
        except OSError as err:
            print(f"Could not download {image_url}: {err}")
            continue
        saved += 1
        print(f"Downloaded {image_url} to {target}")
    return saved


get_pictures = PythonOperator(
    task_id="get_pictures",
    python_callable=_get_pictures,
    op_kwargs={"run_dir": RUN_DIR},
    dag=dag,
)

notify = BashOperator(
    task_id="notify",
    bash_command='echo "There are now $(ls "$RUN_DIR/images/" | wc -l) images."',
    env={"RUN_DIR": RUN_DIR},
    append_env=True,
    dag=dag,
)

download_launches >> get_pictures >> notify
