"""Fernet `enc:v1:` credentials: round trip, rotation, plaintext policy, bad keys."""

import pytest

from apps.oms.errors import ConfigError, ValidationFailed
from apps.oms.security.credentials import CredentialCipher, generate_master_key, is_encrypted
from apps.oms.security.keys import generate_api_key, hash_api_key, is_acceptable_custom_key


def test_round_trip_and_prefix() -> None:
    cipher = CredentialCipher(generate_master_key())
    token = cipher.encrypt("my-secret")
    assert token.startswith("enc:v1:")
    assert "my-secret" not in token
    assert cipher.decrypt(token) == "my-secret"
    assert cipher.decrypt("plain") == "plain"


def test_rotation_keeps_old_tokens_readable() -> None:
    old_key, new_key = generate_master_key(), generate_master_key()
    old_token = CredentialCipher(old_key).encrypt("s")
    rotating = CredentialCipher(new_key, [old_key])
    assert rotating.decrypt(old_token) == "s"
    rotated = rotating.rotate(old_token)
    assert CredentialCipher(new_key).decrypt(rotated) == "s"
    with pytest.raises(ConfigError):
        CredentialCipher(old_key).decrypt(rotated)
    assert CredentialCipher(new_key).decrypt(rotating.rotate("plain")) == "plain"


def test_policy_for_storage() -> None:
    cipher = CredentialCipher(generate_master_key())
    with pytest.raises(ValidationFailed):
        cipher.prepare_for_storage("plain", encrypt_input=False, require_encrypted=True)
    assert (
        cipher.prepare_for_storage("plain", encrypt_input=False, require_encrypted=False) == "plain"
    )
    stored = cipher.prepare_for_storage("plain", encrypt_input=True, require_encrypted=True)
    assert is_encrypted(stored)
    assert cipher.prepare_for_storage(stored, encrypt_input=False, require_encrypted=True) == stored
    foreign = CredentialCipher(generate_master_key()).encrypt("x")
    with pytest.raises(ConfigError):
        cipher.prepare_for_storage(foreign, encrypt_input=False, require_encrypted=True)


def test_missing_or_bad_master_key() -> None:
    with pytest.raises(ConfigError, match="generate-master-key"):
        CredentialCipher(None).encrypt("x")
    with pytest.raises(ConfigError, match="not a valid Fernet key"):
        CredentialCipher("short")
    assert not CredentialCipher(None).available


def test_api_keys_are_random_and_hashed_with_pepper() -> None:
    a, b = generate_api_key(), generate_api_key()
    assert a != b
    assert len(a) >= 43
    assert hash_api_key(a, "p1") != hash_api_key(a, "p2")
    assert len(hash_api_key(a, "p1")) == 64
    assert is_acceptable_custom_key("x" * 32)
    assert not is_acceptable_custom_key("short")
    assert not is_acceptable_custom_key("x" * 20 + " " + "y" * 20)
