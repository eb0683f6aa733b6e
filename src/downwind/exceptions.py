"""Every public exception downwind raises, including the ones task code uses for control flow."""

from __future__ import annotations


class DownwindException(Exception):
    """Base class of every downwind error."""


# Authoring errors: raised while a DAG file is being built.


class DagDefinitionError(DownwindException):
    """A DAG or task was declared in a way that cannot work (bad argument, bad schedule...)."""


class DuplicateTaskIdFound(DagDefinitionError):
    """Two tasks of one DAG share a task id."""


class DagCycleError(DagDefinitionError):
    """The task dependencies form a cycle; the message names it (``a -> b -> a``)."""


class ParamValidationError(DownwindException):
    """A DAG param (or the run conf that sets it) breaks its declared schema."""


class ConfigError(DownwindException):
    """The configuration holds an unknown key or a value of the wrong type."""


class SerializationError(DownwindException, TypeError):
    """A value (an XCom, a run conf) cannot be stored by downwind's serializer."""


class TemplateRenderError(DownwindException):
    """A templated field could not be rendered; the message names the field and template line."""


class DagNotFound(DownwindException):
    """No DAG with the given id is known."""


class TaskNotFound(DownwindException):
    """No task with the given id exists in the DAG."""


class VariableNotFound(DownwindException, KeyError):
    """A variable was asked for without a default and is not defined anywhere."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ConnectionNotFound(DownwindException, KeyError):
    """A connection id is not defined anywhere."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class MigrationError(DownwindException):
    """A metastore migration left the database inconsistent (it was rolled back)."""


class IllegalStateTransition(DownwindException):
    """A state change that the state machine (``downwind.states``) does not allow."""


# Task control flow: raised by task code, mapped to a state in one runner function.


class TaskException(DownwindException):
    """Base of the exceptions a task may raise on purpose; also a task failure in general."""


class TaskSkipped(TaskException):
    """Raise inside a task to mark it ``skipped`` (Airflow: ``AirflowSkipException``)."""


class TaskFailedNoRetry(TaskException):
    """Raise inside a task to fail it at once, without using its retries
    (Airflow: ``AirflowFailException``)."""


class TaskTimeout(TaskException):
    """The task ran longer than its ``execution_timeout``."""


class TaskTerminated(TaskException):
    """The task process was asked to stop (SIGTERM), e.g. by its executor."""


class TaskLoadError(TaskException):
    """A try's task could not be loaded: its DAG file failed to import, or it holds no
    such DAG or task."""


# Airflow's names, so code written for Airflow reads the same.
AirflowException = TaskException
AirflowSkipException = TaskSkipped
AirflowFailException = TaskFailedNoRetry
AirflowTaskTimeout = TaskTimeout
AirflowTaskTerminated = TaskTerminated
