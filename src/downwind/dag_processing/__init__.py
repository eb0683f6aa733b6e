"""The DAG processor: parse DAG files in child processes and record the result.

- :mod:`downwind.dag_processing.manager`: :class:`~downwind.dag_processing.manager.
  DagProcessorManager` finds the DAG files, decides which are due, parses them a few at a
  time and records each result in the metastore (``services.dag_registry``). The
  scheduler calls its non-blocking :meth:`poll` every loop; ``downwind dag-processor``
  runs :meth:`run_forever`.
- :mod:`downwind.dag_processing.processes`: one file parsed in one child process, with a
  time limit.
- :mod:`downwind.dag_processing.child`: what runs in that child; it imports authoring code
  only, so the fork server that makes the children stays small.

This package imports nothing at import time, so that the child module loads fast.
"""
