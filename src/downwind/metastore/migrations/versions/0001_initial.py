"""Initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25

Every table of the first metastore, and the ``default_pool`` (128 slots). Datetimes are
``timestamp with time zone`` (PostgreSQL) or naive UTC text (SQLite); values of
downwind's serializer (run conf, rendered fields, audit extras) are text.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID_LEN = 250
STATE_LEN = 20
UUID_LEN = 36


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _id() -> sa.Column:
    return sa.Column("id", sa.Integer(), autoincrement=True, nullable=False)


def _task_instance_columns() -> list[sa.Column]:
    """Columns shared by task_instance and task_instance_history."""
    return [
        sa.Column("dag_id", sa.String(ID_LEN), nullable=False),
        sa.Column("run_id", sa.String(ID_LEN), nullable=False),
        sa.Column("task_id", sa.String(ID_LEN), nullable=False),
        sa.Column("map_index", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(STATE_LEN), nullable=True),
        sa.Column("try_number", sa.Integer(), nullable=False),
        sa.Column("max_tries", sa.Integer(), nullable=False),
        sa.Column("hostname", sa.String(1000), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("pool", sa.String(ID_LEN), nullable=False),
        sa.Column("pool_slots", sa.Integer(), nullable=False),
        sa.Column("queue", sa.String(ID_LEN), nullable=True),
        sa.Column("priority_weight", sa.Integer(), nullable=False),
        sa.Column("operator", sa.String(1000), nullable=True),
        sa.Column("queued_dttm", _utc(), nullable=True),
        sa.Column("start_date", _utc(), nullable=True),
        sa.Column("end_date", _utc(), nullable=True),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.Column("next_retry_at", _utc(), nullable=True),
        sa.Column("last_heartbeat_at", _utc(), nullable=True),
        sa.Column("queued_by_job_id", sa.Integer(), nullable=True),
        sa.Column("external_executor_id", sa.String(ID_LEN), nullable=True),
        sa.Column("rendered_fields", sa.Text(), nullable=True),
        sa.Column("dag_version_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", _utc(), nullable=False),
    ]


def _task_instance_key_fk(name: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["dag_id", "run_id", "task_id", "map_index"],
        [
            "task_instance.dag_id",
            "task_instance.run_id",
            "task_instance.task_id",
            "task_instance.map_index",
        ],
        name=name,
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "dag",
        sa.Column("dag_id", sa.String(ID_LEN), nullable=False),
        sa.Column("is_paused", sa.Boolean(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("fileloc", sa.String(2000), nullable=True),
        sa.Column("owners", sa.String(2000), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("timetable_summary", sa.Text(), nullable=True),
        sa.Column("timetable_description", sa.Text(), nullable=True),
        sa.Column("max_active_runs", sa.Integer(), nullable=True),
        sa.Column("max_active_tasks", sa.Integer(), nullable=True),
        sa.Column("has_import_errors", sa.Boolean(), nullable=False),
        sa.Column("next_dagrun", _utc(), nullable=True),
        sa.Column("next_dagrun_data_interval_start", _utc(), nullable=True),
        sa.Column("next_dagrun_data_interval_end", _utc(), nullable=True),
        sa.Column("next_dagrun_create_after", _utc(), nullable=True),
        sa.Column("last_parsed_time", _utc(), nullable=True),
        sa.PrimaryKeyConstraint("dag_id", name="pk_dag"),
    )
    op.create_index("ix_dag_next_dagrun_create_after", "dag", ["next_dagrun_create_after"])

    op.create_table(
        "dag_tag",
        sa.Column("dag_id", sa.String(ID_LEN), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.ForeignKeyConstraint(
            ["dag_id"], ["dag.dag_id"], name="fk_dag_tag_dag_id_dag", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("dag_id", "name", name="pk_dag_tag"),
    )

    op.create_table(
        "dag_version",
        _id(),
        sa.Column("dag_id", sa.String(ID_LEN), nullable=False),
        sa.Column("version_number", sa.Integer(), nullable=False),
        sa.Column("dag_hash", sa.String(64), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("source_code", sa.Text(), nullable=True),
        sa.Column("fileloc", sa.String(2000), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dag_id"], ["dag.dag_id"], name="fk_dag_version_dag_id_dag", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_dag_version"),
        sa.UniqueConstraint(
            "dag_id", "version_number", name="uq_dag_version_dag_id_version_number"
        ),
    )

    op.create_table(
        "backfill",
        _id(),
        sa.Column("dag_id", sa.String(ID_LEN), nullable=False),
        sa.Column("from_date", _utc(), nullable=False),
        sa.Column("to_date", _utc(), nullable=False),
        sa.Column("dag_run_conf", sa.Text(), nullable=True),
        sa.Column("reprocess_behavior", sa.String(STATE_LEN), nullable=False),
        sa.Column("max_active_runs", sa.Integer(), nullable=False),
        sa.Column("is_paused", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(STATE_LEN), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("completed_at", _utc(), nullable=True),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dag_id"], ["dag.dag_id"], name="fk_backfill_dag_id_dag", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_backfill"),
    )
    op.create_index("ix_backfill_dag_id", "backfill", ["dag_id"])

    op.create_table(
        "dag_run",
        _id(),
        sa.Column("dag_id", sa.String(ID_LEN), nullable=False),
        sa.Column("run_id", sa.String(ID_LEN), nullable=False),
        sa.Column("run_type", sa.String(STATE_LEN), nullable=False),
        sa.Column("logical_date", _utc(), nullable=True),
        sa.Column("data_interval_start", _utc(), nullable=True),
        sa.Column("data_interval_end", _utc(), nullable=True),
        sa.Column("run_after", _utc(), nullable=False),
        sa.Column("conf", sa.Text(), nullable=True),
        sa.Column("state", sa.String(STATE_LEN), nullable=False),
        sa.Column("queued_at", _utc(), nullable=True),
        sa.Column("start_date", _utc(), nullable=True),
        sa.Column("end_date", _utc(), nullable=True),
        sa.Column("dag_version_id", sa.Integer(), nullable=True),
        sa.Column("triggered_by", sa.String(STATE_LEN), nullable=True),
        sa.Column("backfill_id", sa.Integer(), nullable=True),
        sa.Column("clear_number", sa.Integer(), nullable=False),
        sa.Column("last_scheduling_decision", _utc(), nullable=True),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dag_id"], ["dag.dag_id"], name="fk_dag_run_dag_id_dag", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["dag_version_id"],
            ["dag_version.id"],
            name="fk_dag_run_dag_version_id_dag_version",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["backfill_id"],
            ["backfill.id"],
            name="fk_dag_run_backfill_id_backfill",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_dag_run"),
        sa.UniqueConstraint("dag_id", "run_id", name="uq_dag_run_dag_id_run_id"),
    )
    op.create_index("ix_dag_run_dag_id_state", "dag_run", ["dag_id", "state"])
    op.create_index("ix_dag_run_dag_id_logical_date", "dag_run", ["dag_id", "logical_date"])
    op.create_index("ix_dag_run_state_run_after", "dag_run", ["state", "run_after"])

    op.create_table(
        "task_instance",
        sa.Column("id", sa.String(UUID_LEN), nullable=False),
        *_task_instance_columns(),
        sa.ForeignKeyConstraint(
            ["dag_id", "run_id"],
            ["dag_run.dag_id", "dag_run.run_id"],
            name="fk_task_instance_dag_id_dag_run",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["dag_version_id"],
            ["dag_version.id"],
            name="fk_task_instance_dag_version_id_dag_version",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_task_instance"),
        sa.UniqueConstraint(
            "dag_id",
            "run_id",
            "task_id",
            "map_index",
            name="uq_task_instance_dag_id_run_id_task_id_map_index",
        ),
    )
    op.create_index("ix_task_instance_state", "task_instance", ["state"])
    op.create_index("ix_task_instance_dag_id_state", "task_instance", ["dag_id", "state"])

    op.create_table(
        "task_instance_history",
        _id(),
        sa.Column("task_instance_id", sa.String(UUID_LEN), nullable=False),
        *_task_instance_columns(),
        _task_instance_key_fk("fk_task_instance_history_dag_id_task_instance"),
        sa.ForeignKeyConstraint(
            ["dag_version_id"],
            ["dag_version.id"],
            name="fk_task_instance_history_dag_version_id_dag_version",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_task_instance_history"),
        sa.UniqueConstraint(
            "dag_id",
            "run_id",
            "task_id",
            "map_index",
            "try_number",
            name="uq_task_instance_history_key_try_number",
        ),
    )
    op.create_index(
        "ix_task_instance_history_task_instance_id",
        "task_instance_history",
        ["task_instance_id"],
    )

    op.create_table(
        "xcom",
        sa.Column("dag_id", sa.String(ID_LEN), nullable=False),
        sa.Column("run_id", sa.String(ID_LEN), nullable=False),
        sa.Column("task_id", sa.String(ID_LEN), nullable=False),
        sa.Column("map_index", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(512), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("timestamp", _utc(), nullable=False),
        _task_instance_key_fk("fk_xcom_dag_id_task_instance"),
        sa.PrimaryKeyConstraint("dag_id", "run_id", "task_id", "map_index", "key", name="pk_xcom"),
    )

    op.create_table(
        "variable",
        _id(),
        sa.Column("key", sa.String(ID_LEN), nullable=False),
        sa.Column("val", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("is_encrypted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_variable"),
        sa.UniqueConstraint("key", name="uq_variable_key"),
    )

    op.create_table(
        "connection",
        _id(),
        sa.Column("conn_id", sa.String(ID_LEN), nullable=False),
        sa.Column("conn_type", sa.String(500), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("host", sa.String(500), nullable=True),
        sa.Column("schema", sa.String(500), nullable=True),
        sa.Column("login", sa.Text(), nullable=True),
        sa.Column("password", sa.Text(), nullable=True),
        sa.Column("port", sa.Integer(), nullable=True),
        sa.Column("extra", sa.Text(), nullable=True),
        sa.Column("is_encrypted", sa.Boolean(), nullable=False),
        sa.Column("is_extra_encrypted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_connection"),
        sa.UniqueConstraint("conn_id", name="uq_connection_conn_id"),
    )

    slot_pool = op.create_table(
        "slot_pool",
        _id(),
        sa.Column("pool", sa.String(ID_LEN), nullable=False),
        sa.Column("slots", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_slot_pool"),
        sa.UniqueConstraint("pool", name="uq_slot_pool_pool"),
    )
    op.bulk_insert(
        slot_pool,
        [{"pool": "default_pool", "slots": 128, "description": "Default pool"}],
    )

    op.create_table(
        "import_error",
        _id(),
        sa.Column("filename", sa.String(2000), nullable=False),
        sa.Column("stacktrace", sa.Text(), nullable=True),
        sa.Column("timestamp", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_import_error"),
    )
    op.create_index("ix_import_error_filename", "import_error", ["filename"])

    op.create_table(
        "job",
        _id(),
        sa.Column("job_type", sa.String(30), nullable=False),
        sa.Column("state", sa.String(STATE_LEN), nullable=True),
        sa.Column("hostname", sa.String(500), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("start_date", _utc(), nullable=True),
        sa.Column("end_date", _utc(), nullable=True),
        sa.Column("latest_heartbeat", _utc(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_job"),
    )
    op.create_index(
        "ix_job_job_type_state_latest_heartbeat", "job", ["job_type", "state", "latest_heartbeat"]
    )

    op.create_table(
        "log",
        _id(),
        sa.Column("dttm", _utc(), nullable=False),
        sa.Column("event", sa.String(60), nullable=False),
        sa.Column("owner", sa.String(500), nullable=True),
        sa.Column("dag_id", sa.String(ID_LEN), nullable=True),
        sa.Column("task_id", sa.String(ID_LEN), nullable=True),
        sa.Column("run_id", sa.String(ID_LEN), nullable=True),
        sa.Column("map_index", sa.Integer(), nullable=True),
        sa.Column("try_number", sa.Integer(), nullable=True),
        sa.Column("logical_date", _utc(), nullable=True),
        sa.Column("extra", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_log"),
    )
    op.create_index("ix_log_dttm", "log", ["dttm"])
    op.create_index("ix_log_dag_id_dttm", "log", ["dag_id", "dttm"])


def downgrade() -> None:
    for table in (
        "log",
        "job",
        "import_error",
        "slot_pool",
        "connection",
        "variable",
        "xcom",
        "task_instance_history",
        "task_instance",
        "dag_run",
        "backfill",
        "dag_version",
        "dag_tag",
        "dag",
    ):
        op.drop_table(table)
