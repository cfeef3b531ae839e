"""Orchestration: the Prefect flows and the chartetl command line."""

import os

# Before Prefect is imported anywhere: no usage analytics leave this machine, and no task result
# is persisted unless a task asks for it (tasks that see identified data never do).
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_RESULTS_PERSIST_BY_DEFAULT", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
