"""Secrets the practice gives us to reach its systems (CalDAV app passwords), encrypted at rest.

Fernet (from `cryptography`) with the CREDENTIALS_KEY from the environment.
The embedded default, which has no environment to speak of, generates a key
once and keeps it in `instance/credentials.key`, next to the SQLite
database. A stored secret is decrypted only to make a request with it; it is
never shown, and never put in a log line or an error message.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken


class CredentialsError(Exception):
    """The key is missing or wrong; the message is meant for whoever runs the server."""


class Cipher:
    """Encrypts and decrypts with one key; a missing or malformed key is reported when it is used."""

    def __init__(self, key: str | None) -> None:
        self._key = (key or "").strip()

    def _fernet(self) -> Fernet:
        if not self._key:
            raise CredentialsError("CREDENTIALS_KEY is not set, so passwords cannot be stored or used; see the README")
        try:
            return Fernet(self._key.encode())
        except ValueError:
            raise CredentialsError(
                "CREDENTIALS_KEY is not a valid key (32 url-safe base64-encoded bytes; `outreach credentials-key` "
                "prints a new one)"
            ) from None

    def encrypt(self, secret: str) -> str:
        return self._fernet().encrypt(secret.encode()).decode()

    def decrypt(self, token: str, ttl_seconds: int | None = None) -> str:
        fernet = self._fernet()
        try:
            return fernet.decrypt(token.encode(), ttl=ttl_seconds).decode()
        except InvalidToken:
            raise CredentialsError(
                "a stored password cannot be decrypted with this CREDENTIALS_KEY (was the key changed?); "
                "enter the password again"
            ) from None


def new_key() -> str:
    return Fernet.generate_key().decode()


def cipher(config: Mapping[str, Any]) -> Cipher:
    """The cipher of this installation: CREDENTIALS_KEY, else the embedded default's key file."""
    if key := config.get("CREDENTIALS_KEY"):
        return Cipher(key)
    if key_file := config.get("CREDENTIALS_KEY_FILE"):
        return Cipher(_local_key(Path(key_file)))
    return Cipher(None)


def _local_key(path: Path) -> str:
    """Reads the embedded default's key, creating it (readable by this user only) the first time."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = new_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return path.read_text().strip()
    with os.fdopen(fd, "w") as file:
        file.write(key + "\n")
    return key
