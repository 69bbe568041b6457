"""Parsers for the reports test runs write: JUnit XML and coverage (Cobertura, JSON)."""
