"""The declarative base of every model, and the sizes shared by several tables."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

__all__ = ["ID_LEN", "STATE_LEN", "Base"]

#: longest dag_id, task_id, run_id, pool or conn_id (as in Airflow)
ID_LEN = 250
#: longest state or type name stored as text
STATE_LEN = 20

# Deterministic constraint names: identical on SQLite and PostgreSQL, so later migrations
# (and SQLite's batch mode, which recreates tables) can refer to them by name.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base class of the metastore models; ``Base.metadata`` is the schema the migrations build."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
