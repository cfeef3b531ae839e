"""The de-identification key: a 32-byte secret in the vault or the environment, and its sub-keys."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

KEY_FILE_NAME = "deid.key"
KEY_ENV_VAR = "CHARTETL_DEID_KEY"  # 64 hex characters; takes precedence over the vault file
KEY_BYTES = 32
PURPOSES = ("pseudonym", "dateshift", "scan-index", "fingerprint", "file-name")


class KeyUnavailableError(RuntimeError):
    """No usable key: the run refuses to start (the message never contains key material)."""


@dataclass(frozen=True)
class DeidKeys:
    """Purpose sub-keys ``K_p = HMAC-SHA256(K, "deid/v1/" + purpose)`` of the master key.

    The master key itself is not kept. ``repr`` shows only the fingerprint.
    """

    pseudonym: bytes = field(repr=False)
    dateshift: bytes = field(repr=False)
    scan_index: bytes = field(repr=False)
    file_name: bytes = field(repr=False)  # hashes input file names (they can hold PHI)
    fingerprint: str

    @classmethod
    def from_master(cls, master: bytes) -> DeidKeys:
        if len(master) < KEY_BYTES:
            raise KeyUnavailableError(
                f"the de-identification key must be at least {KEY_BYTES} bytes"
            )
        sub = {
            p: hmac.new(master, f"deid/v1/{p}".encode(), hashlib.sha256).digest() for p in PURPOSES
        }
        fingerprint = hmac.new(sub["fingerprint"], b"key-check", hashlib.sha256).hexdigest()[:16]
        return cls(
            sub["pseudonym"], sub["dateshift"], sub["scan-index"], sub["file-name"], fingerprint
        )


def keygen(vault: Path, overwrite: bool = False) -> Path:
    """Create the vault folder (mode 0700) and a fresh random key file in it (mode 0600).

    Args:
        vault: the vault folder, outside the warehouse and the reports.
        overwrite: replace an existing key (a new key epoch: every pseudonym and shift changes).

    Returns:
        The key file's path.
    """
    vault.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = vault / KEY_FILE_NAME
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite to start a new key epoch")
    vault.chmod(0o700)
    temporary = vault / f".{KEY_FILE_NAME}.{secrets.token_hex(8)}.tmp"
    # O_EXCL | O_NOFOLLOW: a planted file or symlink can neither lend its mode nor redirect the key
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(KEY_BYTES) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            temporary.replace(path)
        else:
            os.link(temporary, path)  # fails if a key appeared meanwhile: never replaced silently
    finally:
        temporary.unlink(missing_ok=True)
    return path


def _decode(text: str, where: str) -> bytes:
    text = text.strip()
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise KeyUnavailableError(f"the key in {where} is not hexadecimal") from None


def load_keys(vault: Path | None, environ: dict[str, str] | None = None) -> DeidKeys:
    """Load the master key from ``$CHARTETL_DEID_KEY`` or ``<vault>/deid.key`` and derive sub-keys.

    Raises:
        KeyUnavailableError: no key, a key shorter than 32 bytes, or a key file readable by others.
    """
    environ = os.environ if environ is None else environ
    if environ.get(KEY_ENV_VAR):
        return DeidKeys.from_master(_decode(environ[KEY_ENV_VAR], f"${KEY_ENV_VAR}"))
    if vault is None:
        raise KeyUnavailableError(
            f"no key: set ${KEY_ENV_VAR} or pass a vault (chartetl keygen --vault DIR)"
        )
    path = vault / KEY_FILE_NAME
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise KeyUnavailableError(
            f"no key file {path}: create one with `chartetl keygen --vault {vault}`"
        ) from None
    except OSError:
        raise KeyUnavailableError(f"{path} cannot be opened as a regular file (symlink?)") from None
    with os.fdopen(descriptor) as handle:
        # check the file we read, not a name that could be swapped in between
        if os.fstat(handle.fileno()).st_mode & 0o077:
            raise KeyUnavailableError(f"{path} is readable by other users; chmod 600 it")
        text = handle.read()
    return DeidKeys.from_master(_decode(text, str(path)))


def keyed_hex(key: bytes, message: str, length: int = 32) -> str:
    """``hex(HMAC-SHA256(key, message))[:length]``."""
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()[:length]
