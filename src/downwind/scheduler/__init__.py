"""The scheduler loop: load state, decide (scheduling/), apply (metastore/), dispatch."""
