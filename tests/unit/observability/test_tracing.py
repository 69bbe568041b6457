"""Where traces go: OTLP/HTTP URLs derived from the configured endpoint, or nowhere."""

from __future__ import annotations

import pytest

from builder.observability.tracing import configure_tracing, otlp_traces_url
from domain.errors import ValidationFailed


def test_collector_base_url_gets_the_otlp_traces_path() -> None:
    assert otlp_traces_url("http://collector:4318") == "http://collector:4318/v1/traces"
    assert otlp_traces_url("http://collector:4318/") == "http://collector:4318/v1/traces"
    assert otlp_traces_url("https://otel.example/custom/traces") == (
        "https://otel.example/custom/traces"
    )


@pytest.mark.parametrize("endpoint", ["collector:4318", "grpc://collector:4317", "http://"])
def test_endpoint_that_is_not_an_http_url_is_refused_by_name(endpoint: str) -> None:
    with pytest.raises(ValidationFailed) as error:
        configure_tracing(endpoint)
    assert "BUILDER_OTLP_ENDPOINT" in str(error.value)


def test_empty_endpoint_disables_tracing() -> None:
    assert configure_tracing("").plugins == []
