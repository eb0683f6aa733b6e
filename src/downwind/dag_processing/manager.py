"""The DAG processor's manager: which DAG files to parse, when, and recording the results.

Each pass of :meth:`DagProcessorManager.poll`:

1. rescans the dags folder (and the shipped examples when ``[core] load_examples``) once
   ``[dag_processor] refresh_interval`` has passed, and marks inactive the DAGs of files
   that are gone;
2. queues the files that are new or changed (modification time, size or content hash)
   and those not parsed for ``[dag_processor] min_file_process_interval``;
3. collects the parses that finished and records each one in its own transaction;
4. starts parses of queued files, at most ``[dag_processor] parsing_processes`` at once.

It never waits for a parse, so the scheduler calls it every loop. :meth:`run_once`
parses everything due and waits; :meth:`run_forever` is ``downwind dag-processor``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import wait as wait_for
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from downwind.config import Config, get_config
from downwind.dag_processing.processes import FileParse, ParseOutcome
from downwind.metastore.engine import session_factory as make_session_factory
from downwind.metastore.engine import write_transaction
from downwind.sdk.discovery import EXAMPLE_DAGS_FOLDER, import_path_folders, list_dag_files
from downwind.services.dag_registry import (
    FileRecord,
    deactivate_missing_files,
    record_parsed_file,
)

__all__ = ["DagProcessorManager", "ParsedFile", "ProcessorSummary"]

log = logging.getLogger("downwind.dag_processor")

SessionFactory = Callable[[], Session]

#: how long run_forever waits at most between two looks at the stop event while parsing
_STOP_CHECK = 0.25
#: the shortest sleep of run_forever when nothing is being parsed
_MIN_SLEEP = 0.05


@dataclass(frozen=True)
class ParsedFile:
    """One file parsed and recorded."""

    outcome: ParseOutcome
    #: what the metastore changed (None: it could not be recorded; parsed again later)
    record: FileRecord | None

    @property
    def fileloc(self) -> str:
        return self.outcome.fileloc

    @property
    def import_error(self) -> str | None:
        """The import error recorded for the file (a duplicate DAG id is one too)."""
        if self.record is not None:
            return self.record.import_error
        return self.outcome.import_error


@dataclass
class ProcessorSummary:
    """What one :meth:`DagProcessorManager.poll` or :meth:`~DagProcessorManager.run_once` did."""

    #: files whose parse finished and was recorded, in the order they finished
    files: list[ParsedFile] = field(default_factory=list)
    #: DAG ids marked inactive because their file is gone
    deactivated: list[str] = field(default_factory=list)
    #: parses started and not finished yet
    running: int = 0
    #: files waiting for a free parsing process
    queued: int = 0

    @property
    def dag_ids(self) -> list[str]:
        """Ids of the DAGs found in the files parsed without error."""
        return [
            dag_id for f in self.files if f.import_error is None for dag_id in f.outcome.dag_ids
        ]

    @property
    def import_errors(self) -> dict[str, str]:
        """``{file: import error}`` of the files that failed."""
        return {f.fileloc: f.import_error for f in self.files if f.import_error is not None}

    @property
    def new_versions(self) -> list[tuple[str, int]]:
        """``(dag_id, version_number)`` of every DAG version stored."""
        return [
            (version.dag_id, version.version_number)
            for f in self.files
            if f.record is not None
            for version in f.record.versions
        ]


@dataclass
class _FileState:
    #: (mtime_ns, size, sha256) when its last recorded parse started
    fingerprint: tuple[int, int, str] | None = None
    #: ``now`` of the pass that started its last recorded parse
    last_parsed: datetime | None = None
    #: fingerprint of the parse under way
    pending: tuple[int, int, str] | None = None


def _fingerprint(path: str) -> tuple[int, int, str] | None:
    try:
        stat = os.stat(path)
        with open(path, "rb") as file:
            digest = hashlib.sha256(file.read()).hexdigest()
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size, digest)


class DagProcessorManager:
    """Keeps the metastore's DAGs in step with the DAG files.

    Build it with :meth:`from_config` (the ``[core]`` and ``[dag_processor]`` options) or
    with explicit arguments. Call :meth:`close` (or use it as a context manager) to stop
    parses under way. Use it from one thread.
    """

    def __init__(
        self,
        *,
        dags_folder: Path,
        include_examples: bool = False,
        safe_mode: bool = True,
        plugins_folder: Path | None = None,
        parsing_processes: int = 2,
        file_process_timeout: float = 50.0,
        min_file_process_interval: float = 30.0,
        refresh_interval: float = 5.0,
        paused_at_creation: bool = True,
    ) -> None:
        if parsing_processes < 1:
            raise ValueError("parsing_processes must be at least 1")
        self.dags_folder = Path(dags_folder)
        self.include_examples = include_examples
        self.safe_mode = safe_mode
        self.plugins_folder = plugins_folder
        self.parsing_processes = parsing_processes
        self.file_process_timeout = file_process_timeout
        self.min_file_process_interval = timedelta(seconds=min_file_process_interval)
        self.refresh_interval = timedelta(seconds=refresh_interval)
        self.paused_at_creation = paused_at_creation
        self._import_folders = [
            str(folder) for folder in import_path_folders(self.dags_folder, plugins_folder)
        ]
        self._files: dict[str, _FileState] = {}
        self._queue: deque[str] = deque()
        self._running: dict[str, FileParse] = {}
        self._last_refresh: datetime | None = None
        #: the earliest time a file not queued nor being parsed is due again
        self._next_due: datetime | None = None
        self._missing_folder_logged = False
        #: dag_id -> files that failed because another file had that DAG id
        self._waiting_for_id: dict[str, set[str]] = {}

    @classmethod
    def from_config(cls, conf: Config | None = None) -> DagProcessorManager:
        """A manager set up from the configuration (default: :func:`get_config`)."""
        conf = get_config() if conf is None else conf
        core, options = conf.core, conf.dag_processor
        return cls(
            dags_folder=core.dags_folder,
            include_examples=core.load_examples,
            safe_mode=core.dag_discovery_safe_mode,
            plugins_folder=core.plugins_folder,
            parsing_processes=options.parsing_processes,
            file_process_timeout=options.dag_file_processor_timeout,
            min_file_process_interval=options.min_file_process_interval,
            refresh_interval=options.refresh_interval,
            paused_at_creation=core.dags_are_paused_at_creation,
        )

    # -- the API the scheduler and the command use -------------------------------------

    def poll(self, session_factory: SessionFactory, now: datetime) -> ProcessorSummary:
        """One non-blocking step: rescan the folder if due, queue the files due, record
        the parses that finished, start queued ones in the free parsing processes."""
        summary = ProcessorSummary()
        refresh = self._last_refresh is None or now - self._last_refresh >= self.refresh_interval
        if refresh:
            summary.deactivated = self._refresh(session_factory, now)
        if refresh or (self._next_due is not None and now >= self._next_due):
            self._queue_due(now, check_changes=refresh)
        self._collect(session_factory, now, summary)
        self._start_queued(now)
        summary.running = len(self._running)
        summary.queued = len(self._queue)
        return summary

    def run_once(self, session_factory: SessionFactory, now: datetime) -> ProcessorSummary:
        """Rescan the folder, parse every file due (new, changed, or not parsed for
        ``min_file_process_interval``) and wait until all of them are recorded."""
        summary = ProcessorSummary()
        summary.deactivated = self._refresh(session_factory, now)
        self._queue_due(now, check_changes=True)
        while True:
            self._collect(session_factory, now, summary)
            self._start_queued(now)
            if not self._running and not self._queue:
                break
            self.wait(self._seconds_to_next_deadline())
        return summary

    def run_forever(
        self,
        stop: threading.Event,
        session_factory: SessionFactory | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """Poll until ``stop`` is set, waiting for parses or the next rescan in between;
        then stop the parses under way. An error (e.g. the metastore unreachable) is
        logged and the loop goes on. Sessions come from ``session_factory`` (default: the
        configured metastore's), the time from ``clock`` (default: the wall clock)."""
        if session_factory is None:
            session_factory = make_session_factory()
        clock = clock or _utcnow
        try:
            while not stop.is_set():
                try:
                    self.poll(session_factory, clock())
                except Exception:
                    log.exception("DAG processor pass failed; trying again")
                    stop.wait(min(self.refresh_interval.total_seconds(), 5.0) or _STOP_CHECK)
                    continue
                if self._running:
                    self.wait(min(_STOP_CHECK, self._seconds_to_next_deadline()))
                else:
                    stop.wait(max(_MIN_SLEEP, self.seconds_until_due(clock())))
        finally:
            self.close()

    def waitables(self) -> list[int]:
        """File descriptors that become readable when a parse under way makes progress
        (for ``select`` or :func:`multiprocessing.connection.wait`); poll then."""
        found = (fd for parse in self._running.values() for fd in parse.waitables())
        return list(dict.fromkeys(found))

    def wait(self, timeout: float) -> None:
        """Block until a parse under way finishes or ``timeout`` seconds pass."""
        objects = self.waitables()
        if objects:
            wait_for(objects, timeout=max(0.0, timeout))

    def seconds_until_due(self, now: datetime) -> float:
        """Seconds until :meth:`poll` has something to do that no parse under way will
        signal: the next rescan, or the next file due again (0 when something is queued)."""
        if self._queue or self._last_refresh is None:
            return 0.0
        due = self._last_refresh + self.refresh_interval
        if self._next_due is not None:
            due = min(due, self._next_due)
        return max(0.0, (due - now).total_seconds())

    @property
    def files(self) -> list[str]:
        """The DAG files found by the latest rescan."""
        return list(self._files)

    def close(self) -> None:
        """Stop every parse under way (their files are parsed again next time)."""
        for fileloc, parse in list(self._running.items()):
            parse.kill()
            state = self._files.get(fileloc)
            if state is not None:
                state.pending = None
        self._running.clear()
        self._queue.clear()
        self._last_refresh = None  # a later poll starts with a rescan

    def __enter__(self) -> DagProcessorManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- inside ------------------------------------------------------------------------

    def _list_files(self) -> list[str]:
        files: list[Path] = []
        if self.dags_folder.exists():
            self._missing_folder_logged = False
            files.extend(list_dag_files(self.dags_folder, safe_mode=self.safe_mode))
        elif not self._missing_folder_logged:
            log.warning(
                "the dags folder %s does not exist: no DAG files to parse", self.dags_folder
            )
            self._missing_folder_logged = True
        if self.include_examples:
            files.extend(list_dag_files(EXAMPLE_DAGS_FOLDER, safe_mode=self.safe_mode))
        return list(dict.fromkeys(str(path) for path in files))

    def _refresh(self, session_factory: SessionFactory, now: datetime) -> list[str]:
        """Rescan the folders; forget files that are gone and deactivate their DAGs."""
        found = self._list_files()
        present = set(found)
        self._last_refresh = now
        for fileloc in list(self._files):
            if fileloc not in present:
                del self._files[fileloc]
                parse = self._running.pop(fileloc, None)
                if parse is not None:
                    parse.kill()
        self._queue = deque(f for f in self._queue if f in present)
        for fileloc in found:
            self._files.setdefault(fileloc, _FileState())
        try:
            with write_transaction(session_factory) as session:
                gone = deactivate_missing_files(session, found)
        except SQLAlchemyError as err:
            log.error("could not mark the DAGs of deleted files inactive: %s", _one_line(err))
            return []
        for dag_id in gone:
            log.info("DAG %s is now inactive: its file is gone", dag_id)
        self._requeue_waiting(gone)
        return gone

    def _queue_due(self, now: datetime, *, check_changes: bool) -> None:
        """Queue the files never parsed, those not parsed for min_file_process_interval,
        those whose result could not be recorded (after refresh_interval), and -- when
        ``check_changes`` (on a rescan only: it reads every file) -- the changed ones."""
        busy = set(self._queue) | set(self._running)
        next_due: datetime | None = None
        for fileloc, state in self._files.items():
            if fileloc in busy:
                continue
            due = self._due_at(state)
            if (
                due is None
                or now >= due
                or (
                    check_changes
                    and state.fingerprint is not None
                    and _fingerprint(fileloc) != state.fingerprint
                )
            ):
                self._queue.append(fileloc)
            elif next_due is None or due < next_due:
                next_due = due
        self._next_due = next_due

    def _due_at(self, state: _FileState) -> datetime | None:
        """When a file is due again whatever happens to it (``None``: now, never parsed)."""
        if state.last_parsed is None:
            return None
        if state.fingerprint is None:  # its result could not be recorded
            return state.last_parsed + self.refresh_interval
        return state.last_parsed + self.min_file_process_interval

    def _note_due(self, state: _FileState) -> None:
        due = self._due_at(state)
        if due is not None and (self._next_due is None or due < self._next_due):
            self._next_due = due

    def _start_queued(self, now: datetime) -> None:
        while self._queue and len(self._running) < self.parsing_processes:
            fileloc = self._queue.popleft()
            state = self._files.get(fileloc)
            fingerprint = _fingerprint(fileloc)
            if state is None or fingerprint is None:  # gone since the rescan
                continue
            state.pending = fingerprint
            try:
                self._running[fileloc] = FileParse(
                    fileloc,
                    timeout=self.file_process_timeout,
                    import_folders=self._import_folders,
                )
            except OSError as err:  # out of processes or file descriptors: try later
                log.error("could not start parsing %s (trying again later): %s", fileloc, err)
                state.pending = None
                state.fingerprint = None
                state.last_parsed = now
                self._note_due(state)

    def _collect(
        self, session_factory: SessionFactory, now: datetime, summary: ProcessorSummary
    ) -> None:
        for fileloc, parse in list(self._running.items()):
            outcome = parse.poll()
            if outcome is None:
                continue
            del self._running[fileloc]
            state = self._files.get(fileloc)
            if state is None:  # deleted while it was being parsed
                continue
            if outcome.problem is not None:
                log.error("could not parse %s (trying again later): %s", fileloc, outcome.problem)
                record = None
            else:
                record = self._record(session_factory, outcome, now)
            state.last_parsed = now
            # Without a fingerprint the file is parsed again once refresh_interval passed.
            state.fingerprint = state.pending if record is not None else None
            state.pending = None
            self._note_due(state)
            if record is not None:
                self._note_duplicates(fileloc, record)
                self._requeue_waiting(record.deactivated)
            if outcome.problem is None:
                parsed = ParsedFile(outcome, record)
                _log_parsed(parsed)
                summary.files.append(parsed)

    def _record(
        self, session_factory: SessionFactory, outcome: ParseOutcome, now: datetime
    ) -> FileRecord | None:
        """Store ``outcome`` in its own transaction; ``None`` if the metastore failed (the
        file is parsed again later). DAGs that cannot be stored (a bug, or data the
        metastore refuses) become the file's import error rather than stopping the loop."""
        dags, import_error = outcome.dags, outcome.import_error
        for attempt in range(2):
            try:
                with write_transaction(session_factory) as session:
                    return record_parsed_file(
                        session,
                        fileloc=outcome.fileloc,
                        dags=dags,
                        import_error=import_error,
                        now=now,
                        paused_at_creation=self.paused_at_creation,
                    )
            except (SQLAlchemyError, OSError) as err:
                log.error(
                    "could not record the DAGs of %s (it will be parsed again): %s",
                    outcome.fileloc,
                    _one_line(err),
                )
                return None
            except Exception as err:
                if attempt:
                    raise
                log.exception("could not store the DAGs of %s", outcome.fileloc)
                dags = []
                import_error = (
                    f'  File "{outcome.fileloc}"\n'
                    f"{type(err).__name__}: the DAGs of this file cannot be stored: {err}\n"
                )
        return None

    def _note_duplicates(self, fileloc: str, record: FileRecord) -> None:
        for waiting in self._waiting_for_id.values():
            waiting.discard(fileloc)
        for dag_id in record.duplicate_ids:
            self._waiting_for_id.setdefault(dag_id, set()).add(fileloc)

    def _requeue_waiting(self, freed_ids: list[str]) -> None:
        """Files that failed on a duplicate DAG id are parsed again once the id is free."""
        for dag_id in freed_ids:
            for fileloc in self._waiting_for_id.pop(dag_id, set()):
                if fileloc in self._files and fileloc not in self._queue:
                    self._queue.append(fileloc)

    def _seconds_to_next_deadline(self) -> float:
        if not self._running:
            return 0.0
        soonest = min(parse.deadline for parse in self._running.values())
        return max(0.0, soonest - time.monotonic()) + 0.01


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _one_line(err: BaseException) -> str:
    text = str(getattr(err, "orig", None) or err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _log_parsed(parsed: ParsedFile) -> None:
    outcome = parsed.outcome
    took = f"{outcome.duration * 1000:.0f} ms"
    error = parsed.import_error
    if error is not None:
        last = [line for line in error.strip().splitlines() if line.strip()]
        log.warning(
            "failed to parse %s in %s: %s",
            outcome.fileloc,
            took,
            last[-1].strip() if last else "unknown error",
        )
    else:
        new = {
            version.dag_id: version.version_number
            for version in (parsed.record.versions if parsed.record else [])
        }
        ids = ", ".join(
            f"{dag_id} (new version {new[dag_id]})" if dag_id in new else dag_id
            for dag_id in outcome.dag_ids
        )
        log.info("parsed %s in %s: %s", outcome.fileloc, took, ids or "no DAGs")
    if outcome.output:
        log.debug("output of %s while it was imported:\n%s", outcome.fileloc, outcome.output)
