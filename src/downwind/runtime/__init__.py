"""The runtime-client interface a running task talks through, and its in-memory implementation."""
