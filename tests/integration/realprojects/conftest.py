"""Real projects from the package registries (fetched once, cached between runs)."""

from tests.fixtures.real_projects import (
    fastify_error_source,
    itoa_source,
    more_itertools_source,
    packaging_source,
    packaging_test_python,
)

__all__ = [
    "fastify_error_source",
    "itoa_source",
    "more_itertools_source",
    "packaging_source",
    "packaging_test_python",
]
