"""The `spec` change engine: declared operations applied deterministically, offline."""

from activities.codegen.spec.engine import SpecEngine

__all__ = ["SpecEngine"]
