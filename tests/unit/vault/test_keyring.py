"""Keyrings from the environment string and from key files; key material never shows."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest

from persistence.vault import Keyring, KeyringInvalid, generate_key_file, load_or_create_key_file

KEY_A = base64.b64encode(b"A" * 32).decode()
KEY_B = base64.b64encode(b"B" * 32).decode()


def test_parse_reads_several_keys_and_defaults_primary_to_the_last() -> None:
    keyring = Keyring.parse(f"old:{KEY_A}, new:{KEY_B}")
    assert keyring.key_ids == {"old", "new"}
    assert keyring.primary_key_id == "new"
    assert keyring.key("old") == b"A" * 32


def test_parse_honours_an_explicit_primary() -> None:
    assert Keyring.parse(f"old:{KEY_A},new:{KEY_B}", primary="old").primary_key_id == "old"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "lists no keys"),
        (f"k1{KEY_A}", "not of the form id:base64"),
        ("k1:%%%notbase64", "'k1' is not valid base64"),
        (f"k1:{base64.b64encode(b'short').decode()}", "'k1' must decode to 32 bytes"),
        (f"k1:{KEY_A},k1:{KEY_B}", "'k1' is listed twice"),
    ],
)
def test_parse_rejects_bad_specs_with_a_message_naming_the_problem(spec: str, message: str) -> None:
    with pytest.raises(KeyringInvalid, match=message) as caught:
        Keyring.parse(spec)
    assert KEY_A[:6] not in str(caught.value) and KEY_B[:6] not in str(caught.value)


def test_unknown_primary_is_refused() -> None:
    with pytest.raises(KeyringInvalid, match="primary vault key 'nope'"):
        Keyring.parse(f"k1:{KEY_A}", primary="nope")


def test_generated_key_file_is_private_and_loads_back(tmp_path: Path) -> None:
    path = tmp_path / "state" / "vault-keys.json"
    created = generate_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = Keyring.from_file(path)
    assert loaded.primary_key_id == created.primary_key_id
    assert loaded.key(loaded.primary_key_id) == created.key(created.primary_key_id)
    document = json.loads(path.read_text())
    assert set(document) == {"primary", "keys"}


def test_generate_key_file_never_overwrites_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    first = generate_key_file(path)
    with pytest.raises(KeyringInvalid, match="already exists"):
        generate_key_file(path)
    assert Keyring.from_file(path).key(first.primary_key_id) == first.key(first.primary_key_id)


def test_load_or_create_creates_once_then_reuses(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    first, created = load_or_create_key_file(path)
    again, created_again = load_or_create_key_file(path)
    assert (created, created_again) == (True, False)
    assert again.primary_key_id == first.primary_key_id


def test_from_config_prefers_the_key_string_over_the_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    generate_key_file(path, key_id="from-file")
    assert Keyring.from_config(f"env:{KEY_A}", path).primary_key_id == "env"
    assert Keyring.from_config(None, path).primary_key_id == "from-file"
    with pytest.raises(KeyringInvalid, match="no vault keys configured"):
        Keyring.from_config(None, None)


def test_missing_or_broken_key_file_is_reported_by_path(tmp_path: Path) -> None:
    with pytest.raises(KeyringInvalid, match="does not exist"):
        Keyring.from_file(tmp_path / "absent.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(KeyringInvalid, match="not readable JSON"):
        Keyring.from_file(broken)


def test_keyring_repr_lists_ids_but_no_key_material() -> None:
    keyring = Keyring.parse(f"k1:{KEY_A},k2:{KEY_B}")
    text = repr(keyring) + str(keyring)
    assert "k1" in text and "k2" in text
    assert KEY_A not in text and KEY_B not in text and "AAAA" not in text
