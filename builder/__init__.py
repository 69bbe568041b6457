"""Composition root of builder: settings, CLI, embedded dev stack, worker and API entrypoints."""
