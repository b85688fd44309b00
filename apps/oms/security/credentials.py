"""Exchange credentials at rest: `enc:v1:<Fernet token>` under the master key.

`MultiFernet` encrypts with the current key and still decrypts tokens of previous keys, which is
what master-key rotation needs. Plaintext values are refused where encryption is required.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from apps.oms.errors import ConfigError, ValidationFailed

ENC_PREFIX = "enc:v1:"


def generate_master_key() -> str:
    return Fernet.generate_key().decode()


def is_encrypted(value: str) -> bool:
    return value.startswith(ENC_PREFIX)


class CredentialCipher:
    """Encrypts and decrypts credential values; never logs or returns them anywhere else."""

    def __init__(self, master_key: str | None, previous_keys: list[str] | None = None) -> None:
        keys = [k for k in [master_key, *(previous_keys or [])] if k]
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in keys]) if keys else None
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                "encryption master key is not a valid Fernet key; "
                "make one with `ccxt-oms generate-master-key`"
            ) from exc

    @property
    def available(self) -> bool:
        return self._fernet is not None

    def _require(self) -> MultiFernet:
        if self._fernet is None:
            raise ConfigError(
                "no encryption master key: set ENCRYPTION_MASTER_KEY "
                "(make one with `ccxt-oms generate-master-key`)"
            )
        return self._fernet

    def encrypt(self, plain: str) -> str:
        return ENC_PREFIX + self._require().encrypt(plain.encode()).decode()

    def decrypt(self, stored: str) -> str:
        if not is_encrypted(stored):
            return stored
        try:
            return self._require().decrypt(stored[len(ENC_PREFIX) :].encode()).decode()
        except InvalidToken as exc:
            raise ConfigError("stored credential cannot be decrypted with the master key") from exc

    def rotate(self, stored: str) -> str:
        """Re-encrypt a stored value under the current master key."""
        if not is_encrypted(stored):
            return self.encrypt(stored)
        token = self._require().rotate(stored[len(ENC_PREFIX) :].encode())
        return ENC_PREFIX + token.decode()

    def prepare_for_storage(
        self, value: str, *, encrypt_input: bool, require_encrypted: bool
    ) -> str:
        """What to store for a credential given the input flags and the encryption policy."""
        if encrypt_input:
            return self.encrypt(value)
        if is_encrypted(value):
            self.decrypt(value)  # refuse tokens our keys cannot read
            return value
        if require_encrypted:
            raise ValidationFailed(
                "plaintext credentials are refused (security.require_encrypted_credentials); "
                "pass --encrypt-input or an enc:v1: value"
            )
        return value
