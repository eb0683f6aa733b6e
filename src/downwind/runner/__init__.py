"""Runs one task try: build the context, render templates, execute, map the outcome to a state."""
