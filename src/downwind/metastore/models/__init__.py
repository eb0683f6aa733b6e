"""The metastore's ORM models (SQLAlchemy 2, typed), one module per table or pair of tables.

Importing this package registers every model on :data:`Base.metadata`, the schema that the
Alembic migrations build (a test checks that the two are equal).
"""

from __future__ import annotations

from downwind.metastore.models.audit_log import AuditLog
from downwind.metastore.models.backfill import Backfill
from downwind.metastore.models.base import Base
from downwind.metastore.models.connection import ConnectionModel
from downwind.metastore.models.dag import DagModel, DagTag
from downwind.metastore.models.dag_run import DagRun
from downwind.metastore.models.dag_version import DagVersion
from downwind.metastore.models.import_error import ParseImportError
from downwind.metastore.models.job import Job
from downwind.metastore.models.pool import Pool
from downwind.metastore.models.task_instance import TaskInstance, TaskInstanceHistory
from downwind.metastore.models.user import UserModel
from downwind.metastore.models.variable import VariableModel
from downwind.metastore.models.xcom import XComModel

__all__ = [
    "AuditLog",
    "Backfill",
    "Base",
    "ConnectionModel",
    "DagModel",
    "DagRun",
    "DagTag",
    "DagVersion",
    "Job",
    "ParseImportError",
    "Pool",
    "TaskInstance",
    "TaskInstanceHistory",
    "UserModel",
    "VariableModel",
    "XComModel",
]
