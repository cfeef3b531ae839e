"""Key handling (deid.md section 2): keygen, load_keys, purpose sub-keys, fingerprint, no leaks."""

from __future__ import annotations

import re
import stat
import traceback

import pytest

from transforms.deid.keys import (
    KEY_BYTES,
    KEY_ENV_VAR,
    KEY_FILE_NAME,
    DeidKeys,
    KeyUnavailableError,
    keygen,
    load_keys,
)

from .helpers import MASTER_KEY, OTHER_MASTER_KEY, keyed, sub_key

SUB_KEY_FIELDS = {"pseudonym": "pseudonym", "dateshift": "dateshift", "scan-index": "scan_index"}


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def write_key_file(vault, text: str, file_mode: int = 0o600):
    vault.mkdir(exist_ok=True)
    path = vault / KEY_FILE_NAME
    path.write_text(text)
    path.chmod(file_mode)
    return path


def full_text(exc: BaseException) -> str:
    """Everything a log handler could print for ``exc``: message, chain and traceback."""
    return "".join(traceback.format_exception(exc))


# ------------------------------------------------------------------------------------- keygen


def test_keygen_creates_private_vault_and_key_of_32_random_bytes(tmp_path):
    vault = tmp_path / "vault"
    path = keygen(vault)
    assert path == vault / KEY_FILE_NAME
    assert mode(vault) == 0o700
    assert mode(path) == 0o600
    text = path.read_text()
    assert re.fullmatch(r"[0-9a-f]{64}\n", text)
    assert len(bytes.fromhex(text)) == KEY_BYTES
    assert not list(vault.glob("*.tmp")), "no temporary key file may remain"


def test_keygen_tightens_an_existing_vault_folder(tmp_path):
    vault = tmp_path / "vault"
    vault.mkdir(mode=0o755)
    keygen(vault)
    assert mode(vault) == 0o700


def test_keygen_keys_are_random(tmp_path):
    first = keygen(tmp_path / "a").read_text()
    second = keygen(tmp_path / "b").read_text()
    assert first != second


def test_keygen_refuses_to_overwrite_unless_asked(tmp_path):
    vault = tmp_path / "vault"
    path = keygen(vault)
    original = path.read_text()
    with pytest.raises(FileExistsError) as info:
        keygen(vault)
    assert path.read_text() == original
    assert original.strip() not in full_text(info.value)

    keygen(vault, overwrite=True)
    assert path.read_text() != original
    assert mode(path) == 0o600


def test_keygen_key_loads(tmp_path):
    vault = tmp_path / "vault"
    master = bytes.fromhex(keygen(vault).read_text())
    assert load_keys(vault, environ={}) == DeidKeys.from_master(master)


# ---------------------------------------------------------------------------------- load_keys


def test_environment_variable_wins_over_the_vault(tmp_path):
    vault = tmp_path / "vault"
    write_key_file(vault, MASTER_KEY.hex())
    keys = load_keys(vault, environ={KEY_ENV_VAR: OTHER_MASTER_KEY.hex()})
    assert keys == DeidKeys.from_master(OTHER_MASTER_KEY)
    assert keys != DeidKeys.from_master(MASTER_KEY)


def test_environment_variable_alone_is_enough():
    assert load_keys(None, environ={KEY_ENV_VAR: f"  {MASTER_KEY.hex()}\n"}) == (
        DeidKeys.from_master(MASTER_KEY)
    )


def test_vault_key_file_is_read_when_no_environment_variable(tmp_path):
    vault = tmp_path / "vault"
    write_key_file(vault, MASTER_KEY.hex() + "\n")
    assert load_keys(vault, environ={}) == DeidKeys.from_master(MASTER_KEY)


def test_no_vault_and_no_environment_variable_refuses(tmp_path):
    with pytest.raises(KeyUnavailableError):
        load_keys(None, environ={})


def test_missing_key_file_refuses(tmp_path):
    (tmp_path / "vault").mkdir()
    with pytest.raises(KeyUnavailableError):
        load_keys(tmp_path / "vault", environ={})


SHORT_KEY = bytes(range(200, 231)).hex()  # 31 bytes
NOT_HEX_KEY = "zz" + MASTER_KEY.hex()[2:]


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (SHORT_KEY, SHORT_KEY),
        ("", None),
        (NOT_HEX_KEY, NOT_HEX_KEY),
        (MASTER_KEY.hex()[:-1], MASTER_KEY.hex()[:-1]),  # odd number of hex digits
    ],
    ids=["31-bytes", "empty", "not-hex", "odd-length"],
)
def test_bad_key_file_refuses_without_key_material(tmp_path, text, secret):
    vault = tmp_path / "vault"
    write_key_file(vault, text)
    with pytest.raises(KeyUnavailableError) as info:
        load_keys(vault, environ={})
    if secret:
        assert_no_key_material(info.value, secret)


@pytest.mark.parametrize(
    "text", [SHORT_KEY, NOT_HEX_KEY, MASTER_KEY.hex()[:-1]], ids=["31-bytes", "not-hex", "odd"]
)
def test_bad_environment_key_refuses_without_key_material(tmp_path, text):
    vault = tmp_path / "vault"
    write_key_file(vault, MASTER_KEY.hex())  # a good vault key does not rescue a bad env key
    with pytest.raises(KeyUnavailableError) as info:
        load_keys(vault, environ={KEY_ENV_VAR: text})
    assert_no_key_material(info.value, text)


@pytest.mark.parametrize("file_mode", [0o640, 0o604, 0o644, 0o660, 0o606, 0o610])
def test_key_file_readable_by_others_refuses_without_key_material(tmp_path, file_mode):
    vault = tmp_path / "vault"
    write_key_file(vault, MASTER_KEY.hex(), file_mode)
    with pytest.raises(KeyUnavailableError) as info:
        load_keys(vault, environ={})
    assert_no_key_material(info.value, MASTER_KEY.hex())


def assert_no_key_material(exc: BaseException, secret: str) -> None:
    text = full_text(exc)
    for start in range(0, max(len(secret) - 8, 1), 4):  # no 8-character piece of the key
        assert secret[start : start + 8].lower() not in text.lower()


# ------------------------------------------------------------------------ sub-keys, fingerprint


def test_sub_keys_are_hmac_of_the_master_per_purpose():
    keys = DeidKeys.from_master(MASTER_KEY)
    for purpose, field_name in SUB_KEY_FIELDS.items():
        assert getattr(keys, field_name) == sub_key(MASTER_KEY, purpose)
    derived = [getattr(keys, f) for f in SUB_KEY_FIELDS.values()]
    assert len(set(derived)) == len(derived)
    assert MASTER_KEY not in derived


def test_fingerprint_is_16_hex_of_hmac_key_check():
    keys = DeidKeys.from_master(MASTER_KEY)
    assert re.fullmatch(r"[0-9a-f]{16}", keys.fingerprint)
    assert keys.fingerprint == keyed(sub_key(MASTER_KEY, "fingerprint"), "key-check")[:16]


def test_a_different_master_key_changes_every_sub_key_and_the_fingerprint():
    first, second = DeidKeys.from_master(MASTER_KEY), DeidKeys.from_master(OTHER_MASTER_KEY)
    for field_name in [*SUB_KEY_FIELDS.values(), "fingerprint"]:
        assert getattr(first, field_name) != getattr(second, field_name)


def test_master_shorter_than_32_bytes_is_refused():
    with pytest.raises(KeyUnavailableError):
        DeidKeys.from_master(bytes(31))


def test_repr_shows_no_key_bytes():
    keys = DeidKeys.from_master(MASTER_KEY)
    for text in (repr(keys), str(keys), f"{keys}"):
        assert keys.fingerprint in text
        for secret in [MASTER_KEY, *(getattr(keys, f) for f in SUB_KEY_FIELDS.values())]:
            assert secret.hex() not in text
            assert repr(secret) not in text
            assert repr(secret)[2:12] not in text


def test_keygen_key_is_private_even_with_a_stale_temporary_file(tmp_path):
    vault = tmp_path / "vault"
    vault.mkdir()
    stale = vault / "deid.tmp"
    stale.write_text("")
    stale.chmod(0o644)
    assert mode(keygen(vault)) == 0o600
