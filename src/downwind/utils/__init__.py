"""Airflow-compatible helper modules (``downwind.utils.dates``)."""
