"""Credential vault crypto: a keyring of master keys and envelope encryption.

Each credential gets a fresh 256-bit data key; the plaintext is sealed with AES-256-GCM
under that data key with the (tenant, repository, credential) ids as associated data, so a
ciphertext copied into another row or tenant does not open. The data key is wrapped by a
master key of the keyring; rotating master keys only re-wraps data keys and never touches
the plaintext. Nothing in this module logs, and no repr or message shows key material.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain.enums import ErrorCode
from domain.errors import DomainError

KEY_BYTES = 32
_NONCE_BYTES = 12
_WRAPPED_KEY_BYTES = KEY_BYTES + 16  # AES-GCM appends a 16-byte tag
_BLOB_PREFIX = "v1:"
_FORMAT_VERSION = 1
_MAX_KEY_ID_LENGTH = 64  # credentials.encryption_key_id is VARCHAR(64)


class VaultError(DomainError):
    """A vault failure; messages name ids, never keys or secrets."""

    code = ErrorCode.INTERNAL


class KeyringInvalid(VaultError):
    """The configured keyring cannot be parsed or is inconsistent."""


class UnknownVaultKey(VaultError):
    """A ciphertext names a master key that is not in the keyring."""

    def __init__(self, key_id: str, *, context: str = "") -> None:
        suffix = f" ({context})" if context else ""
        super().__init__(
            f"vault master key {key_id!r} is not in the keyring{suffix}; "
            "add it to BUILDER_VAULT_KEYS or the key file to decrypt or rotate it",
            details={"key_id": key_id},
        )
        self.key_id = key_id


class CredentialUndecryptable(VaultError):
    """The ciphertext is damaged or bound to another tenant, repository or credential."""

    def __init__(self, credential_id: object = None) -> None:
        which = f" {credential_id}" if credential_id is not None else ""
        super().__init__(
            f"credential{which} cannot be decrypted (wrong tenant, repository or tampered data)",
            details={"credential_id": str(credential_id)} if credential_id else None,
        )


def _check_key_id(key_id: str) -> str:
    if not key_id or len(key_id) > _MAX_KEY_ID_LENGTH or not key_id.isprintable():
        raise KeyringInvalid(
            f"vault key id {key_id!r} must be 1..{_MAX_KEY_ID_LENGTH} printable characters"
        )
    if any(c in key_id for c in ":, "):
        raise KeyringInvalid(f"vault key id {key_id!r} must not contain ':', ',' or spaces")
    return key_id


def _decode_key(key_id: str, encoded: str) -> bytes:
    try:
        raw = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyringInvalid(f"vault key {key_id!r} is not valid base64") from None
    if len(raw) != KEY_BYTES:
        raise KeyringInvalid(
            f"vault key {key_id!r} must decode to {KEY_BYTES} bytes, got {len(raw)}"
        )
    return raw


class Keyring:
    """Master keys by id, one of them primary (the one new envelopes are wrapped with)."""

    __slots__ = ("_keys", "_primary")

    def __init__(self, keys: Mapping[str, bytes], primary: str) -> None:
        if not keys:
            raise KeyringInvalid("the vault keyring holds no keys")
        for key_id, key in keys.items():
            _check_key_id(key_id)
            if len(key) != KEY_BYTES:
                raise KeyringInvalid(f"vault key {key_id!r} must be {KEY_BYTES} bytes")
        if primary not in keys:
            raise KeyringInvalid(f"primary vault key {primary!r} is not in the keyring")
        self._keys = dict(keys)
        self._primary = primary

    @classmethod
    def parse(cls, spec: str, primary: str | None = None) -> Keyring:
        """From `"id1:base64,id2:base64"`; the primary defaults to the last key listed."""
        keys: dict[str, bytes] = {}
        for position, entry in enumerate((part.strip() for part in spec.split(",")), 1):
            if not entry:
                continue
            key_id, sep, encoded = entry.partition(":")
            key_id = key_id.strip()
            if not sep:
                # the entry may be a bare key: name it by position only
                raise KeyringInvalid(f"vault key entry #{position} is not of the form id:base64")
            _check_key_id(key_id)
            if key_id in keys:
                raise KeyringInvalid(f"vault key {key_id!r} is listed twice")
            keys[key_id] = _decode_key(key_id, encoded)
        if not keys:
            raise KeyringInvalid("the vault keyring specification lists no keys")
        return cls(keys, primary or list(keys)[-1])

    @classmethod
    def from_file(cls, path: Path, primary: str | None = None) -> Keyring:
        """From a JSON key file `{"primary": id, "keys": {id: base64}}`."""
        try:
            document = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise KeyringInvalid(f"vault key file {path} does not exist") from None
        except (OSError, ValueError):
            raise KeyringInvalid(f"vault key file {path} is not readable JSON") from None
        if not isinstance(document, dict) or not isinstance(document.get("keys"), dict):
            raise KeyringInvalid(f"vault key file {path} must hold an object with 'keys'")
        keys = {
            _check_key_id(str(key_id)): _decode_key(str(key_id), str(encoded))
            for key_id, encoded in document["keys"].items()
        }
        chosen = primary or document.get("primary")
        if not isinstance(chosen, str):
            raise KeyringInvalid(f"vault key file {path} names no primary key")
        return cls(keys, chosen)

    @classmethod
    def from_config(
        cls, keys: str | None, key_file: Path | None, primary: str | None = None
    ) -> Keyring:
        """From settings: the key string when given, else the key file."""
        if keys:
            return cls.parse(keys, primary)
        if key_file is not None:
            return cls.from_file(key_file, primary)
        raise KeyringInvalid("no vault keys configured: set BUILDER_VAULT_KEYS or a key file")

    @property
    def primary_key_id(self) -> str:
        return self._primary

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._keys)

    def key(self, key_id: str) -> bytes:
        """The master key `key_id`; UnknownVaultKey names the id when it is missing."""
        try:
            return self._keys[key_id]
        except KeyError:
            raise UnknownVaultKey(key_id) from None

    def with_primary(self, key_id: str) -> Keyring:
        return Keyring(self._keys, key_id)

    def with_new_primary(self, key_id: str) -> Keyring:
        """A copy with a freshly generated key `key_id` as primary (for rotation)."""
        if key_id in self._keys:
            raise KeyringInvalid(f"vault key {key_id!r} already exists")
        return Keyring({**self._keys, key_id: secrets.token_bytes(KEY_BYTES)}, key_id)

    def without(self, key_id: str) -> Keyring:
        """A copy with the retired key `key_id` removed."""
        return Keyring({k: v for k, v in self._keys.items() if k != key_id}, self._primary)

    def to_json(self) -> str:
        """The key file document (contains key material: write it only to a 0600 file)."""
        encoded = {k: base64.b64encode(v).decode() for k, v in self._keys.items()}
        return json.dumps({"primary": self._primary, "keys": encoded}, indent=2)

    def __repr__(self) -> str:
        return f"Keyring(key_ids={sorted(self._keys)!r}, primary={self._primary!r})"

    __str__ = __repr__


def new_key_id() -> str:
    """A fresh, sortable-enough key id such as `k-3f9a1c2e`."""
    return f"k-{secrets.token_hex(4)}"


def generate_key_file(path: Path, key_id: str | None = None) -> Keyring:
    """Create a key file with one fresh primary key, readable by the owner only (0600).

    Refuses to overwrite an existing file: losing the key loses every credential.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    chosen = key_id or new_key_id()
    keyring = Keyring({chosen: secrets.token_bytes(KEY_BYTES)}, chosen)
    try:
        # O_EXCL + mode at creation so the key is never readable by others, not even briefly
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyringInvalid(f"vault key file {path} already exists; not overwriting") from None
    with os.fdopen(fd, "w") as handle:
        handle.write(keyring.to_json())
    os.chmod(path, 0o600)
    return keyring


def load_or_create_key_file(path: Path) -> tuple[Keyring, bool]:
    """The keyring of `path`, creating the file first when missing; True when created."""
    path = Path(path)
    if path.exists():
        return Keyring.from_file(path), False
    return generate_key_file(path), True


@dataclass(frozen=True)
class Binding:
    """What a ciphertext belongs to; it is the AEAD associated data."""

    tenant_id: uuid.UUID
    repository_id: uuid.UUID
    credential_id: uuid.UUID

    def associated_data(self) -> bytes:
        return (
            f"builder/credential/v{_FORMAT_VERSION}"
            f"|tenant={self.tenant_id}|repository={self.repository_id}"
            f"|credential={self.credential_id}"
        ).encode()


@dataclass(frozen=True)
class WebhookSecretBinding:
    """What a webhook signing secret's ciphertext belongs to (its AEAD associated data)."""

    tenant_id: uuid.UUID
    subscription_id: uuid.UUID
    secret_id: uuid.UUID

    @property
    def credential_id(self) -> uuid.UUID:
        # the id vault errors name
        return self.secret_id

    def associated_data(self) -> bytes:
        return (
            f"builder/webhook-secret/v{_FORMAT_VERSION}"
            f"|tenant={self.tenant_id}|subscription={self.subscription_id}"
            f"|secret={self.secret_id}"
        ).encode()


@dataclass(frozen=True)
class SetupSecretBinding:
    """What a setup secret's ciphertext belongs to (its AEAD associated data)."""

    tenant_id: uuid.UUID
    repository_id: uuid.UUID
    secret_id: uuid.UUID

    @property
    def credential_id(self) -> uuid.UUID:
        # the id vault errors name
        return self.secret_id

    def associated_data(self) -> bytes:
        return (
            f"builder/setup-secret/v{_FORMAT_VERSION}"
            f"|tenant={self.tenant_id}|repository={self.repository_id}"
            f"|secret={self.secret_id}"
        ).encode()


@dataclass(frozen=True)
class Envelope:
    """A sealed credential: the text stored in `encrypted_data` and its master key id."""

    blob: str
    key_id: str

    def __repr__(self) -> str:
        return f"Envelope(key_id={self.key_id!r}, blob=<{len(self.blob)} chars>)"


def _wrap_ad(key_id: str) -> bytes:
    # binds the wrapped data key to its master key id, so a swapped id column fails cleanly
    return f"builder/data-key/v{_FORMAT_VERSION}|master={key_id}".encode()


def _pack(wrap_nonce: bytes, wrapped_key: bytes, data_nonce: bytes, ciphertext: bytes) -> str:
    raw = bytes([_FORMAT_VERSION]) + wrap_nonce + wrapped_key + data_nonce + ciphertext
    return _BLOB_PREFIX + base64.b64encode(raw).decode()


def _unpack(blob: str, credential_id: object) -> tuple[bytes, bytes, bytes, bytes]:
    if not blob.startswith(_BLOB_PREFIX):
        raise CredentialUndecryptable(credential_id)
    try:
        raw = base64.b64decode(blob[len(_BLOB_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise CredentialUndecryptable(credential_id) from None
    header = 1 + _NONCE_BYTES + _WRAPPED_KEY_BYTES + _NONCE_BYTES
    if len(raw) < header + 16 or raw[0] != _FORMAT_VERSION:
        raise CredentialUndecryptable(credential_id)
    at = 1
    wrap_nonce = raw[at : at + _NONCE_BYTES]
    at += _NONCE_BYTES
    wrapped_key = raw[at : at + _WRAPPED_KEY_BYTES]
    at += _WRAPPED_KEY_BYTES
    data_nonce = raw[at : at + _NONCE_BYTES]
    at += _NONCE_BYTES
    return wrap_nonce, wrapped_key, data_nonce, raw[at:]


def _unwrap(
    keyring: Keyring, key_id: str, wrap_nonce: bytes, wrapped: bytes, cred: object
) -> bytes:
    master = keyring.key(key_id)
    try:
        return AESGCM(master).decrypt(wrap_nonce, wrapped, _wrap_ad(key_id))
    except InvalidTag:
        raise CredentialUndecryptable(cred) from None


def _wrap(keyring: Keyring, data_key: bytes) -> tuple[str, bytes, bytes]:
    key_id = keyring.primary_key_id
    nonce = os.urandom(_NONCE_BYTES)
    return key_id, nonce, AESGCM(keyring.key(key_id)).encrypt(nonce, data_key, _wrap_ad(key_id))


def seal(
    keyring: Keyring, binding: Binding | WebhookSecretBinding | SetupSecretBinding, plaintext: bytes
) -> Envelope:
    """Encrypt `plaintext` under a fresh data key wrapped by the primary master key."""
    data_key = AESGCM.generate_key(bit_length=256)
    data_nonce = os.urandom(_NONCE_BYTES)
    ciphertext = AESGCM(data_key).encrypt(data_nonce, plaintext, binding.associated_data())
    key_id, wrap_nonce, wrapped = _wrap(keyring, data_key)
    return Envelope(_pack(wrap_nonce, wrapped, data_nonce, ciphertext), key_id)


def open_envelope(
    keyring: Keyring,
    binding: Binding | WebhookSecretBinding | SetupSecretBinding,
    envelope: Envelope,
) -> bytes:
    """The plaintext of `envelope`, or CredentialUndecryptable / UnknownVaultKey."""
    cred = binding.credential_id
    wrap_nonce, wrapped, data_nonce, ciphertext = _unpack(envelope.blob, cred)
    data_key = _unwrap(keyring, envelope.key_id, wrap_nonce, wrapped, cred)
    try:
        return AESGCM(data_key).decrypt(data_nonce, ciphertext, binding.associated_data())
    except InvalidTag:
        raise CredentialUndecryptable(cred) from None


def rewrap(keyring: Keyring, envelope: Envelope, credential_id: object = None) -> Envelope:
    """The same ciphertext with its data key re-wrapped under the primary master key.

    Only the data key is unwrapped; the credential plaintext is never decrypted.
    """
    wrap_nonce, wrapped, data_nonce, ciphertext = _unpack(envelope.blob, credential_id)
    data_key = _unwrap(keyring, envelope.key_id, wrap_nonce, wrapped, credential_id)
    key_id, new_nonce, new_wrapped = _wrap(keyring, data_key)
    return Envelope(_pack(new_nonce, new_wrapped, data_nonce, ciphertext), key_id)
