"""Authoring model: DAG, operators, TaskFlow, params, graph checks."""
