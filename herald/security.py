"""Secrets: random tokens and their hashes, passwords, signatures and encryption at rest.

Every key derives from HERALD_SECRET_KEY with a purpose label: a signature made for one purpose
never verifies for another.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken

from herald.settings import get_settings

_password_hasher = PasswordHasher()


def random_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def hash_token(token: str) -> str:
    """SHA-256 of a high-entropy token. Enough for random keys; passwords use argon2 instead."""
    return hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str) -> str:
    return _password_hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _password_hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# A hash to verify against when the user does not exist, so both answers take the same time.
DUMMY_PASSWORD_HASH = _password_hasher.hash(random_token())


def derive_key(purpose: str) -> bytes:
    return _derive_key(get_settings().resolved_secret_key(), purpose)


@lru_cache(maxsize=256)
def _derive_key(secret: str, purpose: str) -> bytes:
    # Cached by secret and purpose: a campaign signs dozens of links per message.
    return hmac.digest(secret.encode(), f"herald:{purpose}".encode(), "sha256")


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def b64url(data: bytes) -> str:
    """URL-safe base64 without padding (binascii directly: tokens are made per link)."""
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=").decode()


def sign(purpose: str, message: str) -> str:
    return b64url(hmac.digest(derive_key(purpose), message.encode(), "sha256"))


def verify_signature(purpose: str, message: str, signature: str) -> bool:
    return hmac.compare_digest(sign(purpose, message), signature)


@lru_cache(maxsize=4)
def _fernet(key: bytes) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(plaintext: str) -> str:
    """Encrypt a credential for storage (provider API keys, SMTP passwords, DKIM keys)."""
    return _fernet(derive_key("encryption")).encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    try:
        return _fernet(derive_key("encryption")).decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise ValueError(
            "cannot decrypt: the data is corrupt or HERALD_SECRET_KEY changed"
        ) from exc
