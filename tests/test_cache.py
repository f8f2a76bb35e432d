"""The per-layer index cache: location, round-trip, corrupt and outdated files, atomic writes."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest
from fixtures import F, H, L, layer
from imagefs.cache import LayerCache, default_cache_dir
from imagefs.layer_index import INDEX_VERSION, index_layer

KEY = "sha256:" + "ab" * 32


def sample():
    return index_layer(io.BytesIO(layer(F("a", b"1"), L("l", "a"), H("h", "a"), F("d/.wh.x"), F("\udcff\n<b>"))), where="l")


@pytest.mark.parametrize(
    "env, expected",
    [
        pytest.param({"IMAGEFS_CACHE_DIR": "/c/imagefs", "XDG_CACHE_HOME": "/x"}, "/c/imagefs", id="IMAGEFS_CACHE_DIR-wins"),
        pytest.param({"XDG_CACHE_HOME": "/x"}, "/x/imagefs", id="XDG_CACHE_HOME"),
        pytest.param({"XDG_CACHE_HOME": "relative"}, "/home/u/.cache/imagefs", id="relative-XDG-ignored"),
        pytest.param({}, "/home/u/.cache/imagefs", id="home-default"),
    ],
)
def test_default_cache_dir(monkeypatch, env, expected):
    for k in ("IMAGEFS_CACHE_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("HOME", "/home/u")
    assert default_cache_dir() == Path(expected)


def test_round_trip(tmp_path):
    c = LayerCache(tmp_path)
    assert c.get(KEY) is None
    ix = sample()
    c.put(KEY, ix)
    assert c.path(KEY) == tmp_path / "layers" / "sha256" / f"{'ab' * 32}.json"
    back = c.get(KEY)
    assert back == ix and list(back.entries) == list(ix.entries)
    assert [p.name for p in c.path(KEY).parent.iterdir()] == [c.path(KEY).name]  # no temp files left


CORRUPT = [
    pytest.param(b"{not json", "corrupt", id="not-json"),
    pytest.param(b'{"version": 1, "key": "' + KEY.encode() + b'", "entries": [[1]]', "corrupt", id="truncated"),
    pytest.param(json.dumps({"version": INDEX_VERSION, "key": KEY, "entries": [["/a"]]}).encode(), "corrupt", id="bad-shape"),
    pytest.param(json.dumps({"version": INDEX_VERSION, "key": "sha256:" + "cd" * 32}).encode(), "corrupt", id="other-key"),
    pytest.param(json.dumps({"version": INDEX_VERSION - 1, "key": KEY}).encode(), "format version", id="old-version"),
    pytest.param(b"[]", "corrupt", id="not-an-object"),
    pytest.param(
        json.dumps({"version": INDEX_VERSION, "key": KEY, "members": 1, "size": 0, "whiteouts": [], "opaque": [], "entries": [["/a", "socket", 0, 0, 0, 0, 0]]}).encode(),
        "corrupt",
        id="unknown-entry-type",
    ),
]


@pytest.mark.parametrize("content, message", CORRUPT)
def test_bad_entries_are_ignored_with_a_warning(tmp_path, caplog, content, message):
    c = LayerCache(tmp_path)
    c.path(KEY).parent.mkdir(parents=True)
    c.path(KEY).write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="imagefs.cache"):
        assert c.get(KEY) is None
    assert message in caplog.text
    c.put(KEY, sample())  # and rebuilt over
    assert c.get(KEY) == sample()


@pytest.mark.parametrize("key", ["sha256:../../x", "latest", None, "sha256:" + "AB" * 32], ids=["traversal", "tag", "none", "uppercase"])
def test_keys_must_be_digests(tmp_path, key):
    with pytest.raises(ValueError):
        LayerCache(tmp_path).path(key)


def test_unwritable_cache_only_warns(tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    c = LayerCache(blocker / "cache")
    with caplog.at_level(logging.WARNING, logger="imagefs.cache"):
        c.put(KEY, sample())
    assert "cannot write" in caplog.text
    assert c.get(KEY) is None


def test_clear(tmp_path):
    c = LayerCache(tmp_path)
    c.put(KEY, sample())
    c.put("sha256:" + "cd" * 32, sample())
    assert c.clear() == 2
    assert c.get(KEY) is None
    assert LayerCache(tmp_path / "nothing").clear() == 0
