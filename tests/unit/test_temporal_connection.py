"""Where builder connects to Temporal: envconfig profile, TEMPORAL_* and BUILDER_* settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.service import TLSConfig

from builder.settings import Settings
from builder.temporal_connection import TemporalConfigError, resolve_connection
from domain.redaction import redact

PROFILE = """
[profile.default]
address = "temporal.internal:7233"
namespace = "from-profile"

[profile.cloud]
address = "builder.a1b2c.tmprl.cloud:7233"
namespace = "builder.a1b2c"
api_key = "cloud-api-key-0123456789"
"""


@pytest.fixture
def profile_file(tmp_path: Path) -> Path:
    path = tmp_path / "temporal.toml"
    path.write_text(PROFILE)
    return path


def test_nothing_configured_is_a_plaintext_local_server(tmp_path: Path) -> None:
    conn = resolve_connection(Settings(), {"HOME": str(tmp_path)})
    assert (conn.address, conn.namespace, conn.tls, conn.api_key) == (
        "127.0.0.1:7233", "default", False, None,
    )  # fmt: skip


def test_the_default_profile_of_the_config_file_gives_address_and_namespace(
    profile_file: Path,
) -> None:
    conn = resolve_connection(Settings(), {"TEMPORAL_CONFIG_FILE": str(profile_file)})
    assert (conn.address, conn.namespace) == ("temporal.internal:7233", "from-profile")


def test_temporal_variables_override_the_profile(profile_file: Path) -> None:
    conn = resolve_connection(
        Settings(),
        {
            "TEMPORAL_CONFIG_FILE": str(profile_file),
            "TEMPORAL_ADDRESS": "other:7233",
            "TEMPORAL_NAMESPACE": "from-env",
        },
    )
    assert (conn.address, conn.namespace) == ("other:7233", "from-env")


def test_builder_settings_set_explicitly_win_over_profile_and_variables(
    profile_file: Path,
) -> None:
    settings = Settings(temporal_address="explicit:7233", temporal_namespace="explicit")
    env = {"TEMPORAL_CONFIG_FILE": str(profile_file), "TEMPORAL_ADDRESS": "other:7233"}
    conn = resolve_connection(settings, env)
    assert (conn.address, conn.namespace) == ("explicit:7233", "explicit")


def test_a_named_profile_with_an_api_key_turns_tls_on_and_hides_the_key(
    profile_file: Path,
) -> None:
    settings = Settings(temporal_profile="cloud", temporal_config_file=profile_file)
    conn = resolve_connection(settings, {})
    assert conn.address == "builder.a1b2c.tmprl.cloud:7233"
    assert conn.namespace == "builder.a1b2c"
    assert conn.api_key == "cloud-api-key-0123456789"
    assert conn.tls is True
    assert "cloud-api-key" not in repr(conn)
    assert conn.describe() == (
        "builder.a1b2c.tmprl.cloud:7233 (namespace builder.a1b2c, TLS with an API key)"
    )
    assert "cloud-api-key-0123456789" not in redact("key=cloud-api-key-0123456789 in a log")


def test_tls_client_certificate_and_server_ca_are_read_from_the_variables(
    tmp_path: Path,
) -> None:
    files = {}
    for name in ("client.pem", "client.key", "ca.pem"):
        files[name] = tmp_path / name
        files[name].write_bytes(f"-----BEGIN {name}-----\n".encode())
    conn = resolve_connection(
        Settings(),
        {
            "HOME": str(tmp_path),
            "TEMPORAL_ADDRESS": "temporal.internal:7233",
            "TEMPORAL_TLS_CLIENT_CERT_PATH": str(files["client.pem"]),
            "TEMPORAL_TLS_CLIENT_KEY_PATH": str(files["client.key"]),
            "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(files["ca.pem"]),
            "TEMPORAL_TLS_SERVER_NAME": "temporal.internal",
        },
    )
    assert isinstance(conn.tls, TLSConfig)
    assert conn.tls.client_cert == b"-----BEGIN client.pem-----\n"
    assert conn.tls.client_private_key == b"-----BEGIN client.key-----\n"
    assert conn.tls.server_root_ca_cert == b"-----BEGIN ca.pem-----\n"
    assert conn.tls.domain == "temporal.internal"
    assert conn.describe().endswith("(namespace default, TLS with a client certificate)")


def test_turned_off_envconfig_ignores_profile_and_variables(profile_file: Path) -> None:
    settings = Settings(temporal_envconfig=False)
    env = {"TEMPORAL_CONFIG_FILE": str(profile_file), "TEMPORAL_API_KEY": "k-0123456789"}
    conn = resolve_connection(settings, env)
    assert (conn.address, conn.api_key, conn.tls) == ("127.0.0.1:7233", None, False)


def test_a_missing_config_file_is_named_in_the_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(TemporalConfigError, match=f"from the file {missing}"):
        resolve_connection(Settings(), {"TEMPORAL_CONFIG_FILE": str(missing)})


def test_a_config_file_that_is_not_toml_is_named_in_the_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[profile.default\naddress = ")
    with pytest.raises(TemporalConfigError, match=f"from the file {broken}"):
        resolve_connection(Settings(), {"TEMPORAL_CONFIG_FILE": str(broken)})
