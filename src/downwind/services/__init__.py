"""Use cases shared by the CLI, the API and the UI: register DAGs, trigger, clear, pause..."""
