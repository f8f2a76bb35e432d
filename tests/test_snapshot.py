"""The snapshot store: deterministic, atomic, round-trips hostile names, clear errors."""

from __future__ import annotations

import json
import os
import sys
import types

import pytest
import site_trees as st

from imagefs import cli
from imagefs.errors import ImagefsError, NotFoundError, UsageError
from imagefs.snapshot import list_snapshots, load_snapshot, write_snapshot


def _write(tmp_path, tree, name="img", epoch="1700000000", monkeypatch=None):
    if monkeypatch:
        monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch)
    return write_snapshot(tmp_path, name, tree, reference=tree.image.reference, platform="linux/amd64")


def test_round_trip_keeps_tree_and_metadata(tmp_path, monkeypatch):
    path = _write(tmp_path, st.small_tree(), monkeypatch=monkeypatch)
    snap = load_snapshot(tmp_path, "img")
    assert path == tmp_path / "img.json"
    assert [e.to_json() for e in snap.tree.entries()] == [e.to_json() for e in st.small_tree().entries()]
    assert (snap.name, snap.reference, snap.manifest_digest, snap.platform, snap.generated_at) == (
        "img", "oci:fixture:latest", st.DIGEST_A, "linux/amd64", "2023-11-14T22:13:20Z")
    doc = json.loads(path.read_text())
    assert doc["generator"] == {"name": "imagefs", "version": "0.1.0"}
    assert doc["schema"] == 1 and doc["image"]["manifest_digest"] == st.DIGEST_A


def test_layout_is_sorted_with_one_entry_per_line(tmp_path, monkeypatch):
    text = _write(tmp_path, st.small_tree(), monkeypatch=monkeypatch).read_text()
    lines = text.splitlines()
    entry_lines = [ln for ln in lines if ln.startswith('    {"')]
    assert len(entry_lines) == len(st.small_tree())
    paths = [json.loads(ln.rstrip(","))["path"] for ln in entry_lines]
    assert paths == sorted(paths)
    top = [ln.split('"')[1] for ln in lines if ln.startswith('  "')]
    assert top == sorted(top)
    assert text.endswith("}\n")


def test_unchanged_image_changes_no_byte_and_keeps_generated_at(tmp_path, monkeypatch):
    path = _write(tmp_path, st.small_tree(), epoch="1700000000", monkeypatch=monkeypatch)
    before = path.read_bytes()
    mtime = path.stat().st_mtime_ns
    _write(tmp_path, st.small_tree(), epoch="1800000000", monkeypatch=monkeypatch)
    assert path.read_bytes() == before
    assert path.stat().st_mtime_ns == mtime  # not even rewritten


def test_same_digest_keeps_generated_at_even_if_content_differs(tmp_path, monkeypatch):
    path = _write(tmp_path, st.small_tree(), epoch="1700000000", monkeypatch=monkeypatch)
    tree = st.small_tree()
    tree.image.layers[0].created_by = "new tool, same image"
    _write(tmp_path, tree, epoch="1800000000", monkeypatch=monkeypatch)
    assert json.loads(path.read_text())["generated_at"] == "2023-11-14T22:13:20Z"


@pytest.mark.parametrize("digest, change, expect_new_time", [
    pytest.param(st.DIGEST_B, False, True, id="new-digest-new-time"),
    pytest.param(None, False, False, id="no-digest-unchanged-keeps-time"),
    pytest.param(None, True, True, id="no-digest-changed-new-time"),
])
def test_generated_at_rules(tmp_path, monkeypatch, digest, change, expect_new_time):
    first = st.small_tree(digest=None) if digest is None else st.small_tree()
    _write(tmp_path, first, epoch="1700000000", monkeypatch=monkeypatch)
    second = st.small_tree(digest=digest)
    if change:
        second.get("/etc/passwd").size += 1
    path = _write(tmp_path, second, epoch="1800000000", monkeypatch=monkeypatch)
    stamp = json.loads(path.read_text())["generated_at"]
    assert stamp == ("2027-01-15T08:00:00Z" if expect_new_time else "2023-11-14T22:13:20Z")


def test_hostile_names_round_trip_as_lone_surrogate_escapes(tmp_path, monkeypatch):
    path = _write(tmp_path, st.hostile_tree(), monkeypatch=monkeypatch)
    raw = path.read_bytes()
    raw.decode("utf-8")  # valid UTF-8 even though a name holds byte 0xff
    assert b"bad\\udcffbyte" in raw
    assert b"rtl\\u202eexe.txt" in raw  # a bidi override cannot hide text from a reviewer
    assert b"\xe2\x80\xae" not in raw
    back = load_snapshot(tmp_path, "img").tree
    assert "/h/bad\udcffbyte" in back and "/h/new\nline" in back
    assert [e.path for e in back.entries()] == [e.path for e in st.hostile_tree().entries()]


@pytest.mark.parametrize("name", ["", "Upper", "-dash", ".dot", "a/b", "../x", "a b", "x\n", "é"],
                         ids=["empty", "uppercase", "leading-dash", "leading-dot", "slash", "dotdot", "space",
                              "newline", "non-ascii"])
def test_invalid_names_are_usage_errors(tmp_path, name):
    with pytest.raises(UsageError, match="snapshot name"):
        write_snapshot(tmp_path, name, st.small_tree(), reference="x", platform=None)
    with pytest.raises(UsageError):
        load_snapshot(tmp_path, name)


def test_missing_snapshot_names_the_command_to_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NotFoundError, match=r"`imagefs snapshot alpine-3 IMAGE --dir /elsewhere`"):
        load_snapshot("/elsewhere", "alpine-3")
    (tmp_path / "docs" / "snapshots").mkdir(parents=True)
    with pytest.raises(NotFoundError, match=r"`imagefs snapshot alpine-3 IMAGE` "):
        load_snapshot("docs/snapshots", "alpine-3")


def test_corrupt_snapshot_is_a_one_line_error_naming_the_file(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ImagefsError, match=r"bad\.json is not a valid imagefs listing") as info:
        load_snapshot(tmp_path, "bad")
    assert "\n" not in str(info.value)


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    path = _write(tmp_path, st.small_tree(), monkeypatch=monkeypatch)
    before = path.read_bytes()

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(ImagefsError, match="writing snapshot .*img.json: .*No space left"):
        _write(tmp_path, st.other_tree(), monkeypatch=monkeypatch)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img.json"]


def test_list_snapshots_ignores_other_files(tmp_path):
    for n in ("b.json", "a.json", "listings.yml", "Bad.json", ".a.tmp"):
        (tmp_path / n).write_text("{}")
    assert list_snapshots(tmp_path) == ["a", "b"]
    assert list_snapshots(tmp_path / "missing") == []


def test_cli_snapshot_writes_through_the_engine(tmp_path, monkeypatch, capsys):
    seen = {}

    def open_image(ref, platform=None, **kw):
        seen["open"] = (ref, platform)
        return "IMAGE"

    def list_image(image, **kw):
        seen["list"] = image
        return st.small_tree()

    monkeypatch.setitem(sys.modules, "imagefs.listing", types.SimpleNamespace(list_image=list_image))
    monkeypatch.setattr("imagefs.sources.open_image", open_image)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    rc = cli.main(["snapshot", "fixture", "oci:/x:latest", "--platform", "linux/arm64", "--dir", str(tmp_path)])
    assert rc == 0
    assert seen == {"open": ("oci:/x:latest", "linux/arm64"), "list": "IMAGE"}
    snap = load_snapshot(tmp_path, "fixture")
    assert (snap.reference, snap.platform) == ("oci:/x:latest", "linux/arm64")
    assert capsys.readouterr().out.strip() == str(tmp_path / "fixture.json")


def test_cli_snapshot_rejects_a_bad_name(tmp_path, capsys):
    assert cli.main(["snapshot", "Bad Name", "oci:/x", "--dir", str(tmp_path)]) == 2
    assert "snapshot name 'Bad Name' is invalid" in capsys.readouterr().err


@pytest.mark.parametrize("mutate", [
    pytest.param(lambda doc: doc["entries"].reverse(), id="children-before-parents"),
    pytest.param(lambda doc: doc["entries"][0].update(future_key=1), id="unknown-entry-key"),
])
def test_load_accepts_documents_off_the_fast_path(tmp_path, monkeypatch, mutate):
    path = _write(tmp_path, st.small_tree(), monkeypatch=monkeypatch)
    doc = json.loads(path.read_text())
    mutate(doc)
    path.write_text(json.dumps(doc))
    back = load_snapshot(tmp_path, "img").tree
    assert [e.to_json() for e in back.entries()] == [e.to_json() for e in st.small_tree().entries()]
