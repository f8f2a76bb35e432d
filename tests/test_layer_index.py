"""One layer's index: entries, whiteouts, opaque dirs, AUFS metadata, cache round-trip."""

from __future__ import annotations

import io
import json

import pytest
from fixtures import D, F, H, L, layer
from imagefs.errors import InvalidImageError
from imagefs.layer_index import INDEX_VERSION, LayerIndex, index_layer
from imagefs.oci_writer import TarMember
from tarbytes import END, header, member


def idx(*members) -> LayerIndex:
    return index_layer(io.BytesIO(layer(*members)), where="layer 1 (test)")


def summary(ix: LayerIndex) -> tuple:
    return (sorted(ix.entries), sorted(ix.whiteouts), sorted(ix.opaque))


CASES = [
    pytest.param([F("a/.wh.b")], ([], ["/a/b"], []), id="whiteout-file"),
    pytest.param([F(".wh.top")], ([], ["/top"], []), id="whiteout-at-root"),
    pytest.param([D("a"), F("a/.wh..wh..opq")], (["/a"], [], ["/a"]), id="opaque-marker"),
    pytest.param([F(".wh..wh..opq")], ([], [], ["/"]), id="opaque-marker-at-root"),
    pytest.param([F("a/.wh.x"), F("a/x", b"new")], (["/a/x"], ["/a/x"], []), id="whiteout-and-entry-same-layer-whiteout-first"),
    pytest.param([F("a/x", b"new"), F("a/.wh.x")], (["/a/x"], ["/a/x"], []), id="whiteout-and-entry-same-layer-entry-first"),
    pytest.param([F(".wh..wh.aufs"), D(".wh..wh.orph"), F("ok")], (["/ok"], [], []), id="aufs-metadata-hidden"),
    pytest.param([D(".wh..wh.plnk"), F(".wh..wh.plnk/1.2", b"x"), F("ok")], (["/ok"], [], []), id="aufs-plnk-dir-hidden"),
    pytest.param([F("d/.wh..wh.other")], ([], [], []), id="aufs-metadata-in-subdir-hidden"),
    pytest.param([F("a/.wh.x", b"content is ignored")], ([], ["/a/x"], []), id="whiteout-with-content-tolerated"),
    pytest.param([D("a/.wh.x")], ([], ["/a/x"], []), id="whiteout-of-type-dir-is-a-whiteout"),
    pytest.param([F("./x"), D("./"), D(".")], (["/x"], [], []), id="root-dir-entry-skipped"),
    pytest.param([F("a.wh.b"), F("x/y.wh.")], (["/a.wh.b", "/x/y.wh."], [], []), id="wh-inside-name-is-ordinary"),
]


@pytest.mark.parametrize("members, expected", CASES)
def test_index_classification(members, expected):
    assert summary(idx(*members)) == expected


HOSTILE = [
    pytest.param([F("a/.wh.")], "names no file", id="bare-wh"),
    pytest.param([F("a/.wh..")], "names no file", id="wh-dot"),
    pytest.param([F("a/.wh...")], "names no file", id="wh-dotdot"),
    pytest.param([F(".wh.")], "names no file", id="bare-wh-at-root"),
    pytest.param([F(".wh.d/file")], "inside a whiteout name", id="wh-dir-with-children"),
    pytest.param([F("x/.wh.d/y/z")], "inside a whiteout name", id="wh-component-deep"),
    pytest.param([F("./")], "root must be a directory", id="root-is-a-file"),
    pytest.param([L(".", "/etc")], "root must be a directory", id="root-is-a-symlink"),
    pytest.param([H("h", ".wh..wh.plnk/missing")], "AUFS link directory", id="aufs-link-to-missing"),
]


@pytest.mark.parametrize("members, message", HOSTILE)
def test_hostile_layers_raise_typed_errors(members, message):
    with pytest.raises(InvalidImageError, match=message) as info:
        idx(*members)
    assert str(info.value).startswith("layer 1 (test): ")


def test_duplicates_last_wins_at_last_position():
    ix = idx(F("a", b"1"), F("b"), D("a", mode=0o700), F("c"))
    assert list(ix.entries) == ["/b", "/a", "/c"]
    assert (ix.entries["/a"].type, ix.entries["/a"].mode) == ("dir", 0o700)


def test_entry_fields():
    ix = idx(
        F("bin/su", b"12345", mode=0o4755, uid=1, gid=2, mtime=99, xattrs={"security.capability": "x", "user.a": "b"}),
        L("lib", "usr/lib"),
        H("bin/su2", "./bin/su"),
        TarMember("dev/null", "char", devmajor=1, devminor=3, mode=0o666),
        TarMember("p", "fifo", mode=0o600),
    )
    e = ix.entries
    assert (e["/bin/su"].size, e["/bin/su"].mode, e["/bin/su"].uid, e["/bin/su"].gid, e["/bin/su"].mtime) == (5, 0o4755, 1, 2, 99)
    assert e["/bin/su"].xattrs == ("security.capability", "user.a") and e["/bin/su"].has_capabilities
    assert (e["/lib"].type, e["/lib"].target, e["/lib"].size) == ("symlink", "usr/lib", 7)
    assert (e["/bin/su2"].type, e["/bin/su2"].target) == ("hardlink", "/bin/su")
    assert (e["/dev/null"].type, e["/dev/null"].devmajor, e["/dev/null"].devminor) == ("char", 1, 3)
    assert e["/p"].type == "fifo"
    assert all(x.layer == -1 for x in e.values())


def test_aufs_plnk_hardlink_becomes_file_with_moved_bytes():
    ix = idx(
        D(".wh..wh.plnk"),
        F(".wh..wh.plnk/123.456", b"shared", mode=0o751),
        H("a/link1", ".wh..wh.plnk/123.456"),
        H("b/link2", ".wh..wh.plnk/123.456"),
    )
    for p in ("/a/link1", "/b/link2"):
        assert (ix.entries[p].type, ix.entries[p].size, ix.entries[p].mode) == ("file", 6, 0o751)
        assert ix.moved[p] == "/.wh..wh.plnk/123.456"


def test_members_and_size_are_recorded():
    raw = layer(D("a"), F("a/x", b"data"), F("a/.wh.y"), F(".wh..wh.plnk/z"))
    ix = index_layer(io.BytesIO(raw + b"trailing junk"), where="l")
    assert ix.members == 4
    assert ix.size == len(raw) + len(b"trailing junk")


def test_json_round_trip_is_lossless():
    raw = (
        member(b"caf\xe9/\xff\n<script>", b"abc", mode=0o4755, uid=7, gid=8, mtime=5)
        + header(b"l", type=b"2", linkname=b"\xfe/target")
        + header(b"c", type=b"3", devmajor=4, devminor=64)
        + header(b"h", type=b"1", linkname=b"l")
        + member(b"d/.wh.gone")
        + member(b"o/.wh..wh..opq")
        + END
    )
    ix = index_layer(io.BytesIO(raw), where="l")
    ix.entries["/l"].xattrs = ("user.\udcff",)
    text = json.dumps(ix.to_json())
    back = LayerIndex.from_json(json.loads(text))
    assert back == ix
    assert list(back.entries) == list(ix.entries)
    assert json.loads(text)["version"] == INDEX_VERSION


@pytest.mark.parametrize("doc", [{"version": INDEX_VERSION + 1}, {"version": None}, []], ids=["newer-version", "no-version", "not-an-object"])
def test_from_json_refuses_other_versions(doc):
    with pytest.raises(ValueError):
        LayerIndex.from_json(doc)
