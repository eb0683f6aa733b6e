"""Example pipelines shipped with downwind (loaded when [core] load_examples is on)."""
