"""Logs, metrics and traces for every builder process (API, worker, CLI, dev stack).

Import the submodules directly (`builder.observability.logging`, `.metrics`, `.tracing`);
this package keeps its import cheap and free of optional dependencies.
"""
