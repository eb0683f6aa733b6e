"""The classic rocket-launch pipeline: download upcoming launches, fetch their pictures,
and report how many there are.

Variables (set them as environment variables ``DOWNWIND_VAR_<NAME>`` or later in the UI):

- ``launches_url``: the launch API (default: The Space Devs' upcoming launches);
- ``rocket_data_dir``: where to write (default: ``$DOWNWIND_HOME/data/rockets``).

Each run writes under ``<rocket_data_dir>/<ds>/`` so runs of different days never
overwrite each other.
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

DEFAULT_DATA_DIR = os.path.join(
    os.environ.get("DOWNWIND_HOME", os.path.expanduser("~/downwind")), "data", "rockets"
)
LAUNCHES_URL = "https://ll.thespacedevs.com/2.0.0/launch/upcoming"
RUN_DIR = "{{ var.value.get('rocket_data_dir', '" + DEFAULT_DATA_DIR + "') }}/{{ ds }}"

dag = DAG(
    dag_id="download_rocket_launches",
    description="Download rocket pictures of recently launched rockets.",
    start_date=days_ago(14),
    schedule_interval="@daily",
    catchup=True,
    tags=["example"],
)

download_launches = BashOperator(
    task_id="download_launches",
    bash_command=(
        f"mkdir -p {RUN_DIR} && "
        f"curl --fail --silent --show-error -o {RUN_DIR}/launches.json -L "
        '\'{{ var.value.get("launches_url", "' + LAUNCHES_URL + "\") }}'"
    ),
    dag=dag,
)


def _get_pictures(run_dir: str) -> int:
    """Download the picture of every launch listed in launches.json; return the count."""
    images_dir = pathlib.Path(run_dir, "images")
    images_dir.mkdir(parents=True, exist_ok=True)
    with open(pathlib.Path(run_dir, "launches.json")) as fh:
        launches = json.load(fh)
    image_urls = [launch["image"] for launch in launches["results"] if launch.get("image")]
    saved = 0
    for image_url in image_urls:
        name = pathlib.PurePosixPath(urllib.parse.urlparse(image_url).path).name
        try:
            with urllib.request.urlopen(image_url, timeout=30) as response:
                images_dir.joinpath(name).write_bytes(response.read())
        except OSError as err:
            print(f"Could not download {image_url}: {err}")
            continue
        saved += 1
        print(f"Downloaded {image_url} to {images_dir / name}")
    return saved


get_pictures = PythonOperator(
    task_id="get_pictures",
    python_callable=_get_pictures,
    op_kwargs={"run_dir": RUN_DIR},
    dag=dag,
)

notify = BashOperator(
    task_id="notify",
    bash_command=f'echo "There are now $(ls {RUN_DIR}/images/ | wc -l) images."',
    dag=dag,
)

download_launches >> get_pictures >> notify
