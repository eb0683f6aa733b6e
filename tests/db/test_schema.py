"""The migrations build exactly the schema the ORM models describe, on both databases."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Engine, Integer, MetaData, inspect, select
from sqlalchemy.orm import Session

from downwind.metastore.migrate import downgrade, head_revision, schema_status, upgrade
from downwind.metastore.models import Base, Pool
from downwind.metastore.new_migration import new_migration
from downwind.metastore.revision import HEAD_REVISION, is_at_head


def _differences(engine: Engine, metadata: MetaData) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))


def test_models_equal_the_migrated_schema(migrated_engine: Engine) -> None:
    differences = _differences(migrated_engine, Base.metadata)
    assert differences == [], (
        "the ORM models and the migrations disagree; add a numbered migration "
        f"(python -m downwind.metastore.new_migration 'what changed'): {differences}"
    )


def test_the_schema_comparison_sees_a_difference(migrated_engine: Engine) -> None:
    # Guards the test above against comparing nothing with nothing.
    changed = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.tables.values():
        table.to_metadata(changed)
    changed.tables["variable"].append_column(Column("team", Integer))
    differences = _differences(migrated_engine, changed)
    assert [(d[0], d[2], d[3].name) for d in differences] == [  # type: ignore[index]
        ("add_column", "variable", "team")
    ]


def test_the_scheduler_queries_have_their_indexes(migrated_engine: Engine) -> None:
    inspector = inspect(migrated_engine)

    def indexed(table: str) -> set[tuple[str, ...]]:
        columns = {tuple(ix["column_names"]) for ix in inspector.get_indexes(table)}
        uniques = {tuple(uq["column_names"]) for uq in inspector.get_unique_constraints(table)}
        return columns | uniques  # type: ignore[arg-type]

    task_instance = indexed("task_instance")
    assert ("dag_id", "run_id", "task_id", "map_index") in task_instance  # also (dag_id, run_id)
    assert ("state",) in task_instance
    dag_run = indexed("dag_run")
    assert {("dag_id", "state"), ("dag_id", "logical_date"), ("dag_id", "run_id")} <= dag_run


def test_the_first_migration_creates_the_default_pool(session: Session) -> None:
    pool = session.scalars(select(Pool).where(Pool.pool == "default_pool")).one()
    assert pool.slots == 128


def test_migrating_down_to_nothing_and_up_again(engine: Engine) -> None:
    assert not is_at_head(engine)  # no alembic_version table yet
    upgrade(engine)
    assert schema_status(engine).current == (head_revision(),)
    assert head_revision() == HEAD_REVISION  # the constant follows the newest migration
    assert is_at_head(engine)
    downgrade(engine, "base")
    assert not is_at_head(engine)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    assert not schema_status(engine).is_migrated
    every_revision = [f"{number:04d}" for number in range(1, int(head_revision()) + 1)]
    assert [step.revision for step in upgrade(engine)] == every_revision
    assert _differences(engine, Base.metadata) == []


def test_new_migration_writes_the_next_numbered_revision(tmp_path: Path) -> None:
    path = new_migration("Nothing changed, really!", directory=tmp_path)
    assert path == tmp_path / f"{int(head_revision()) + 1:04d}_nothing_changed_really.py"
    source = path.read_text(encoding="utf-8")
    assert f"revision = '{int(head_revision()) + 1:04d}'" in source
    assert f"down_revision = '{head_revision()}'" in source
    # The models equal the schema, so there is nothing to do in either direction.
    assert source.count("    pass\n") == 2
