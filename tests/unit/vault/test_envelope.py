"""Envelope encryption: round trips, bindings, tampering, unknown keys, re-wrapping."""

from __future__ import annotations

import base64
import uuid

import pytest

from persistence.vault import (
    Binding,
    CredentialUndecryptable,
    Envelope,
    Keyring,
    UnknownVaultKey,
    open_envelope,
    rewrap,
    seal,
)

PLAINTEXT = b'{"token": "planted-token-7c1d"}'


def _binding() -> Binding:
    return Binding(uuid.uuid4(), uuid.uuid4(), uuid.uuid4())


def _keyring(*ids: str) -> Keyring:
    keyring = Keyring.parse(
        ",".join(
            f"{i}:{base64.b64encode(bytes([n]) * 32).decode()}" for n, i in enumerate(ids, start=1)
        )
    )
    return keyring


def test_sealed_plaintext_opens_with_the_same_binding() -> None:
    keyring, binding = _keyring("k1"), _binding()
    envelope = seal(keyring, binding, PLAINTEXT)
    assert envelope.key_id == "k1"
    assert envelope.blob.startswith("v1:")
    assert b"planted-token" not in base64.b64decode(envelope.blob[3:])
    assert open_envelope(keyring, binding, envelope) == PLAINTEXT


def test_each_seal_uses_a_fresh_data_key_and_nonce() -> None:
    keyring, binding = _keyring("k1"), _binding()
    assert seal(keyring, binding, PLAINTEXT).blob != seal(keyring, binding, PLAINTEXT).blob


@pytest.mark.parametrize("field", ["tenant_id", "repository_id", "credential_id"])
def test_ciphertext_does_not_open_under_another_binding(field: str) -> None:
    keyring, binding = _keyring("k1"), _binding()
    envelope = seal(keyring, binding, PLAINTEXT)
    moved = Binding(**{**binding.__dict__, field: uuid.uuid4()})
    with pytest.raises(CredentialUndecryptable, match="wrong tenant, repository or tampered"):
        open_envelope(keyring, moved, envelope)


def test_every_flipped_byte_is_detected() -> None:
    keyring, binding = _keyring("k1"), _binding()
    envelope = seal(keyring, binding, PLAINTEXT)
    raw = base64.b64decode(envelope.blob[3:])
    # the version byte, the wrapped key, the nonces and the ciphertext are all covered
    for index in range(len(raw)):
        flipped = bytearray(raw)
        flipped[index] ^= 0x01
        tampered = Envelope("v1:" + base64.b64encode(bytes(flipped)).decode(), envelope.key_id)
        with pytest.raises(CredentialUndecryptable):
            open_envelope(keyring, binding, tampered)


def test_truncated_or_garbled_blob_is_undecryptable() -> None:
    keyring, binding = _keyring("k1"), _binding()
    envelope = seal(keyring, binding, PLAINTEXT)
    for blob in (envelope.blob[:20], "v1:not base64!", "v9:" + envelope.blob[3:], ""):
        with pytest.raises(CredentialUndecryptable):
            open_envelope(keyring, binding, Envelope(blob, "k1"))


def test_swapped_key_id_column_is_undecryptable() -> None:
    keyring, binding = _keyring("k1", "k2"), _binding()
    envelope = seal(keyring, binding, PLAINTEXT)
    with pytest.raises(CredentialUndecryptable):
        open_envelope(keyring, binding, Envelope(envelope.blob, "k1"))


def test_unknown_key_id_error_names_the_id_but_not_any_key() -> None:
    old = _keyring("retired-2023")
    envelope = seal(old, _binding(), PLAINTEXT)
    current = _keyring("current")
    with pytest.raises(UnknownVaultKey) as caught:
        open_envelope(current, _binding(), envelope)
    message = str(caught.value)
    assert "retired-2023" in message
    for key_id in ("retired-2023", "current"):
        for keyring in (old, current):
            if key_id in keyring.key_ids:
                assert base64.b64encode(keyring.key(key_id)).decode() not in message


def test_rewrap_moves_the_data_key_to_the_primary_and_keeps_the_ciphertext() -> None:
    old = _keyring("k1")
    binding = _binding()
    envelope = seal(old, binding, PLAINTEXT)
    rotated = old.with_new_primary("k2")
    moved = rewrap(rotated, envelope)
    assert moved.key_id == "k2"
    old_raw, new_raw = (base64.b64decode(e.blob[3:]) for e in (envelope, moved))
    # header is 1 + 12 + 48 bytes; everything after it (data nonce + ciphertext) is untouched
    assert old_raw[61:] == new_raw[61:]
    assert open_envelope(rotated.without("k1"), binding, moved) == PLAINTEXT


def test_envelope_repr_shows_no_ciphertext() -> None:
    envelope = seal(_keyring("k1"), _binding(), PLAINTEXT)
    assert envelope.blob not in repr(envelope)
