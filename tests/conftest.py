"""Shared test configuration: service fixtures live in tests/fixtures as pytest plugins."""

pytest_plugins = [
    "tests.fixtures.services",
    "tests.fixtures.postgres",
    "tests.fixtures.git_servers",
    "tests.fixtures.s3",
    "tests.fixtures.temporal",
]
