"""The trust-on-first-use store of gateway certificate fingerprints."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from enphase_local.config import GatewayConfig
from enphase_local.errors import PrivateFileError
from enphase_local.trust import TrustStore, default_trust_path
from tests.blocking import blocking_calls

FIRST = bytes(range(32))
SECOND = bytes(range(1, 33))


def test_first_use_is_remembered_and_kept(tmp_path: Path) -> None:
    store = TrustStore(tmp_path / "trust.json")
    assert store.get("envoy.local") is None
    assert store.remember("envoy.local", FIRST) == FIRST
    # A later, different certificate does not replace the first one.
    assert store.remember("envoy.local", SECOND) == FIRST
    assert TrustStore(tmp_path / "trust.json").get("envoy.local") == FIRST


async def test_async_methods_do_their_file_io_in_a_thread(tmp_path: Path) -> None:
    store = TrustStore(tmp_path / "trust.json")
    with blocking_calls() as seen:
        assert await store.pinned("envoy.local") is None
        assert await store.record("envoy.local", FIRST) == FIRST
        assert await store.record("envoy.local", SECOND) == FIRST
        assert await store.pinned("envoy.local") == FIRST
    assert seen == []
    assert TrustStore(tmp_path / "trust.json").get("envoy.local") == FIRST


def test_accept_replaces_and_forget_drops(tmp_path: Path) -> None:
    store = TrustStore(tmp_path / "trust.json")
    store.remember("envoy.local", FIRST)
    store.accept("envoy.local", SECOND)
    assert store.get("envoy.local") == SECOND
    assert store.forget("envoy.local")
    assert not store.forget("envoy.local")
    assert store.entries() == {}


def test_file_is_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        path = tmp_path / "sub" / "trust.json"
        TrustStore(path).remember("127.0.0.1:8443", FIRST)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    document = json.loads(path.read_text())
    assert document == {"version": 1, "gateways": {"127.0.0.1:8443": FIRST.hex()}}


@pytest.mark.parametrize(
    "content",
    [b"not json", b"[]", b'{"version": 2, "gateways": {}}', b'{"version": 1, "gateways": 3}'],
)
def test_unreadable_store_counts_as_empty(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "trust.json"
    path.write_bytes(content)
    store = TrustStore(path)
    assert store.entries() == {}
    store.remember("envoy.local", FIRST)
    assert TrustStore(path).get("envoy.local") == FIRST


@pytest.mark.parametrize("where", ["a folder", "under a file", "a NUL byte"])
def test_an_unusable_path_is_a_private_file_error(tmp_path: Path, where: str) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    path = {
        "a folder": tmp_path,
        "under a file": blocker / "trust.json",
        "a NUL byte": tmp_path / "tr\0ust.json",
    }[where]
    store = TrustStore(path)
    with pytest.raises(PrivateFileError, match="cannot read") as caught:
        store.get("envoy.local")
    assert isinstance(caught.value.__cause__, OSError | ValueError)
    for change in (store.remember, store.accept):
        with pytest.raises(PrivateFileError):
            change("envoy.local", FIRST)
    with pytest.raises(PrivateFileError):
        store.forget("envoy.local")


def test_a_failed_write_is_a_private_file_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(PrivateFileError, match=r"cannot write .*trust\.json: No space"):
        TrustStore(tmp_path / "trust.json").remember("envoy.local", FIRST)
    assert os.listdir(tmp_path) == []


def test_bad_entries_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "trust.json"
    path.write_text(
        json.dumps({"version": 1, "gateways": {"a": "zz", "b": "00", "c": FIRST.hex()}})
    )
    assert TrustStore(path).entries() == {"c": FIRST}


def test_default_path_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert default_trust_path() == tmp_path / "enphase-local" / "trusted-gateways.json"
    assert TrustStore().path == default_trust_path()


def test_poll_configuration_passes_the_store_unless_a_fingerprint_is_pinned(
    tmp_path: Path,
) -> None:
    options = GatewayConfig(host="envoy.local", trust_store=tmp_path / "t.json").session_options()
    assert isinstance(options["trust"], TrustStore)
    assert options["trust"].path == tmp_path / "t.json"
    pinned = GatewayConfig(
        host="envoy.local", trust_store=tmp_path / "t.json", fingerprint="00" * 32
    )
    assert "trust" not in pinned.session_options()
