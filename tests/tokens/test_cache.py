"""The token cache file: keyed by serial, atomic, 0600 whatever the umask, survives restarts."""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from enphase_local.auth.cache import TokenCache, default_cache_path
from enphase_local.auth.token import Token
from enphase_local.errors import PrivateFileError
from tests.tokens.jwt import OTHER_SERIAL, SERIAL, make_jwt


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=[0o000, 0o022, 0o077], ids=["umask000", "umask022", "umask077"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def test_round_trip_is_private_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    path = tmp_path / "sub" / "dir" / "tokens.json"
    token = Token.parse(make_jwt())
    TokenCache(path).put(SERIAL, token)
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    assert TokenCache(path).get(SERIAL) == token
    assert os.listdir(path.parent) == ["tokens.json"]


def test_survives_a_new_instance_and_is_keyed_by_serial(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    first, second = Token.parse(make_jwt(SERIAL)), Token.parse(make_jwt(OTHER_SERIAL))
    TokenCache(path).put(SERIAL, first)
    TokenCache(path).put(OTHER_SERIAL, second)
    reopened = TokenCache(path)
    assert reopened.load() == {SERIAL: first, OTHER_SERIAL: second}
    assert reopened.get("000000000000") is None
    document = json.loads(path.read_text())
    assert document == {
        "version": 1,
        "tokens": {SERIAL: first.secret(), OTHER_SERIAL: second.secret()},
    }


def test_put_replaces_the_entry(tmp_path: Path) -> None:
    cache = TokenCache(tmp_path / "tokens.json")
    old, new = Token.parse(make_jwt()), Token.parse(make_jwt())
    cache.put(SERIAL, old)
    cache.put(SERIAL, new)
    assert cache.get(SERIAL) == new


def test_a_too_open_file_is_made_private_on_save(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "tokens.json"
    path.write_text('{"version": 1, "tokens": {}}')
    path.chmod(0o644)
    cache = TokenCache(path)
    with caplog.at_level(logging.WARNING):
        cache.put(SERIAL, Token.parse(make_jwt()))
    assert "readable by other users" in caplog.text
    assert mode(path) == 0o600


def test_failed_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "tokens.json"
    cache = TokenCache(path)
    old = Token.parse(make_jwt())
    cache.put(SERIAL, old)
    before = path.read_bytes()

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(PrivateFileError, match=r"cannot write .*tokens\.json: No space"):
        cache.put(SERIAL, Token.parse(make_jwt()))
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["tokens.json"]


@pytest.mark.parametrize(
    "content",
    [b"not json", b"[]", b'{"tokens": {}}', b'{"version": 2, "tokens": {}}', b'{"version": 1}'],
)
def test_unreadable_cache_counts_as_empty(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "tokens.json"
    path.write_bytes(content)
    path.chmod(0o600)
    with caplog.at_level(logging.WARNING):
        assert TokenCache(path).load() == {}
    assert "ignoring it" in caplog.text
    token = Token.parse(make_jwt())
    TokenCache(path).put(SERIAL, token)
    assert TokenCache(path).load() == {SERIAL: token}


def test_invalid_entries_are_skipped_without_echoing_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "tokens.json"
    good = make_jwt()
    broken = make_jwt(OTHER_SERIAL).rsplit(".", 1)[0]
    path.write_text(
        json.dumps({"version": 1, "tokens": {SERIAL: good, OTHER_SERIAL: broken, "x": 5}})
    )
    with caplog.at_level(logging.WARNING):
        assert TokenCache(path).load() == {SERIAL: Token.parse(good)}
    assert OTHER_SERIAL in caplog.text
    assert broken not in caplog.text


def test_missing_file_is_empty(tmp_path: Path) -> None:
    assert TokenCache(tmp_path / "absent.json").load() == {}
    assert not TokenCache(tmp_path / "absent.json").remove(SERIAL)


def test_remove_only_the_given_token(tmp_path: Path) -> None:
    cache = TokenCache(tmp_path / "tokens.json")
    token, other = Token.parse(make_jwt()), Token.parse(make_jwt())
    cache.put(SERIAL, token)
    assert not cache.remove(SERIAL, other)
    assert cache.get(SERIAL) == token
    assert cache.remove(SERIAL, token)
    assert cache.get(SERIAL) is None
    cache.put(SERIAL, token)
    assert cache.remove(SERIAL)
    assert cache.load() == {}


def test_writers_keep_each_others_entries(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    one, two = TokenCache(path), TokenCache(path)
    one.load()
    two.put(OTHER_SERIAL, Token.parse(make_jwt(OTHER_SERIAL)))
    one.put(SERIAL, Token.parse(make_jwt()))
    assert set(TokenCache(path).load()) == {SERIAL, OTHER_SERIAL}


@pytest.mark.parametrize("where", ["a folder", "under a file", "a NUL byte"])
def test_an_unusable_path_is_a_private_file_error(tmp_path: Path, where: str) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    path = {
        "a folder": tmp_path,
        "under a file": blocker / "tokens.json",
        "a NUL byte": tmp_path / "tok\0ens.json",
    }[where]
    cache = TokenCache(path)
    with pytest.raises(PrivateFileError, match="cannot read") as caught:
        cache.load()
    assert isinstance(caught.value.__cause__, OSError | ValueError)
    with pytest.raises(PrivateFileError):
        cache.put(SERIAL, Token.parse(make_jwt()))
    with pytest.raises(PrivateFileError):
        cache.remove(SERIAL)


def test_default_path_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_path() == tmp_path / "xdg" / "enphase-local" / "tokens.json"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_path() == tmp_path / "home" / ".cache" / "enphase-local" / "tokens.json"


def test_repr_names_the_file_only(tmp_path: Path) -> None:
    cache = TokenCache(tmp_path / "tokens.json")
    token = Token.parse(make_jwt())
    cache.put(SERIAL, token)
    assert token.secret() not in repr(cache)
    assert cache.path == tmp_path / "tokens.json"
