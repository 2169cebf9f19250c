"""API keys: the key file keeps hashes only, and a keyring knows who a key belongs to."""

import stat
from pathlib import Path

import pytest

from retailpulse.keys import (
    KeyFileError,
    KeyringHolder,
    Principal,
    add_key,
    hash_key,
    read_keyring,
    revoke_key,
)


def test_a_new_key_is_random_and_only_its_hash_is_written(tmp_path: Path) -> None:
    path = tmp_path / "keys"

    first = add_key(path, "alice")
    second = add_key(path, "bob", admin=True)

    text = path.read_text()
    assert first.startswith("rp_")
    assert len(first) > 40
    assert first != second
    assert first not in text
    assert second not in text
    assert hash_key(first) in text
    assert hash_key(second) in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_keyring_names_the_principal_of_each_key_and_no_one_else(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    alice = add_key(path, "alice")
    admin = add_key(path, "ops", admin=True)

    keyring = read_keyring(path)

    assert keyring.authenticate(alice) == Principal("alice", admin=False)
    assert keyring.authenticate(admin) == Principal("ops", admin=True)
    assert keyring.authenticate(alice + "x") is None
    assert keyring.authenticate("") is None


def test_a_name_is_used_once(tmp_path: Path) -> None:
    add_key(tmp_path / "keys", "alice")

    with pytest.raises(KeyFileError, match="alice"):
        add_key(tmp_path / "keys", "alice")


@pytest.mark.parametrize("name", ["", "has space", "-dash-first", "x" * 65, "tab\t"])
def test_a_bad_name_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(KeyFileError, match="key name"):
        add_key(tmp_path / "keys", name)


def test_a_revoked_key_stops_working_once_the_holder_reloads(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    key = add_key(path, "alice")
    holder = KeyringHolder(path)

    assert revoke_key(path, "alice")
    before = holder.current.authenticate(key)
    holder.reload()

    assert before == Principal("alice")
    assert holder.current.authenticate(key) is None
    assert not revoke_key(path, "alice")


def test_a_reload_that_fails_keeps_the_keys_in_use(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    key = add_key(path, "alice")
    holder = KeyringHolder(path)
    path.write_text("garbage line\n")

    with pytest.raises(KeyFileError, match=":1:"):
        holder.reload()

    assert holder.current.authenticate(key) == Principal("alice")


def test_a_missing_key_file_is_an_error_not_an_open_service(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="cannot read"):
        KeyringHolder(tmp_path / "nope")
