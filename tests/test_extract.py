"""``imagefs extract``: the destination contract, clean-up, root-only options, rootless runs.

The hostile corpus (tests/test_hostile.py) covers what images can do to the extractor;
these tests cover what the extractor promises its user.
"""

from __future__ import annotations

import logging
import os
import stat
import sys

import pytest
from fixtures import D, F, H, L, layer, oci_image
from imagefs.errors import DigestMismatchError, UsageError
from imagefs.oci_writer import TarMember

CAP = b"\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"  # cap_net_raw+ep


def _image(tmp_path):
    l0 = layer(
        D("etc"),
        F("etc/passwd", b"root\n"),
        D("bin"),
        F("bin/su", b"su", mode=0o4755, uid=0, gid=0),
        D("tmp", mode=0o1777),
        F(
            "bin/ping",
            b"ping",
            mode=0o755,
            xattrs={"security.capability": CAP.decode("latin-1")},
        ),
        D("home"),
        D("home/user", uid=1000, gid=1000, mode=0o700),
        F("home/user/f", b"u", uid=1000, gid=1000),
    )
    l1 = layer(
        H("bin/su2", "bin/su"),
        L("bin/sh", "busybox"),
        D("locked", mode=0),
        F("locked/x", b"x", mode=0),
    )
    return oci_image(tmp_path / "img", l0, l1)[0]


def test_extracts_the_listing(tmp_path):
    from imagefs.extract import extract_image

    ref = _image(tmp_path)
    res = extract_image(ref, tmp_path / "out")
    out = tmp_path / "out"
    assert (out / "etc/passwd").read_bytes() == b"root\n"
    assert os.readlink(out / "bin/sh") == "busybox"
    assert os.stat(out / "bin/su").st_ino == os.stat(out / "bin/su2").st_ino
    assert (
        stat.S_IMODE(os.stat(out / "bin/su").st_mode) == 0o755
    )  # setuid cleared by default
    assert stat.S_IMODE(os.stat(out / "tmp").st_mode) == 0o777  # sticky cleared
    assert stat.S_IMODE(os.stat(out / "locked").st_mode) == 0
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o755
    assert (res.files, res.hardlinks, res.symlinks) == (5, 1, 1)
    assert os.listxattr(out / "bin/ping") == []


def test_dest_must_be_empty(tmp_path):
    from imagefs.extract import extract_image

    ref = _image(tmp_path)
    dest = tmp_path / "full"
    dest.mkdir()
    (dest / "keep").write_text("mine")
    with pytest.raises(UsageError, match="full.*not empty"):
        extract_image(ref, dest)
    assert (dest / "keep").read_text() == "mine"


def test_dest_that_is_a_file_is_a_usage_error(tmp_path):
    from imagefs.extract import extract_image

    ref = _image(tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="not a directory"):
        extract_image(ref, tmp_path / "file")


def test_existing_empty_dest_is_used_and_kept_on_failure(tmp_path):
    from imagefs.extract import extract_image

    good = layer(D("a"), F("a/big", b"x" * 100_000))
    bad = layer(F("b", b"b"))
    ref, _ = oci_image(
        tmp_path / "img",
        good,
        bad,
        mutate_config=lambda c: c["rootfs"]["diff_ids"].__setitem__(
            1, "sha256:" + "0" * 64
        ),
    )
    dest = tmp_path / "empty"
    dest.mkdir()
    with pytest.raises(DigestMismatchError) as info:
        extract_image(ref, dest, cache=False)
    assert "layer 1" in str(info.value)
    assert dest.is_dir() and os.listdir(dest) == []  # layer 0 was written, then removed


def test_cli_extract_and_one_line_error(tmp_path, capsys):
    from imagefs.cli import main

    ref = _image(tmp_path)
    assert main(["extract", ref, str(tmp_path / "out")]) == 0
    assert (tmp_path / "out/etc/passwd").exists()
    capsys.readouterr()
    assert main(["extract", ref, str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("imagefs: error: ")
        and err.count("\n") == 1
        and "not empty" in err
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_root_can_preserve_special_bits_owners_and_xattrs(tmp_path):
    from imagefs.extract import extract_image

    ref = _image(tmp_path)
    out = tmp_path / "out"
    extract_image(
        ref, out, preserve_special_bits=True, preserve_owners=True, preserve_xattrs=True
    )
    assert stat.S_IMODE(os.stat(out / "bin/su").st_mode) == 0o4755
    assert stat.S_IMODE(os.stat(out / "tmp").st_mode) == 0o1777
    st = os.stat(out / "home/user/f")
    assert (st.st_uid, st.st_gid) == (1000, 1000)
    assert (
        os.stat(out / "home/user").st_uid,
        stat.S_IMODE(os.stat(out / "home/user").st_mode),
    ) == (1000, 0o700)
    assert os.getxattr(out / "bin/ping", "security.capability") == CAP


@pytest.mark.skipif(
    os.geteuid() != 0, reason="drops privileges from root to test the rootless path"
)
def test_rootless_extraction_as_nobody(request):
    """Fork, become uid/gid 65534, extract (0000 modes, setuid asked for) and fail cleanly."""
    import shutil
    import tempfile
    from pathlib import Path

    import imagefs.extract as ex
    import imagefs.listing
    import imagefs.sources.oci_layout
    import imagefs.tarstream  # noqa: F401

    base = Path(
        tempfile.mkdtemp(prefix="imagefs-rootless-")
    )  # tmp_path's parents are 0700
    request.addfinalizer(lambda: shutil.rmtree(base, ignore_errors=True))
    os.chmod(base, 0o755)
    ref = _image(base)
    work = base / "rootless"
    work.mkdir()
    os.chown(work, 65534, 65534)
    for p in (base / "img").rglob("*"):
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    os.chmod(base / "img", 0o755)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 1
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            res = ex.extract_image(
                ref,
                work / "out",
                preserve_special_bits=True,
                preserve_owners=True,
                cache=False,
            )
            modes = (
                stat.S_IMODE(os.stat(work / "out/bin/su").st_mode),
                stat.S_IMODE(os.stat(work / "out/locked").st_mode),
                os.stat(work / "out/etc/passwd").st_uid,
                res.files,
            )
            os.write(w, repr(modes).encode())
            # Clean-up of a tree holding a 0000 directory, as the owner but not root.
            fd = os.open(work / "out", os.O_RDONLY | os.O_DIRECTORY)
            ex.remove_contents(fd)
            os.close(fd)
            os.write(w, b";" + repr(os.listdir(work / "out")).encode())
            code = 0
        except BaseException as err:  # noqa: BLE001 - the child reports everything to the parent
            import traceback

            os.write(w, f"error {err!r} {traceback.format_exc()}".encode())
        finally:
            os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        out = f.read().decode()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, out
    assert out == "(493, 0, 65534, 5);[]"


def test_remove_contents_handles_depth_links_and_locked_dirs(tmp_path):
    import shutil

    from hostile.harness import fast_tmp_dir
    from imagefs.extract import remove_contents

    fast = fast_tmp_dir()  # thousands of mkdir/rmdir: tmpfs when there is one
    if fast is not None:
        tmp_path = fast
    top = tmp_path / "t"
    top.mkdir()
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(3000):  # deeper than PATH_MAX as a string; os.makedirs would recurse
        os.mkdir("d", dir_fd=fd)
        new = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = new
    os.close(fd)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("keep")
    os.symlink(outside, top / "link")
    (top / "locked").mkdir()
    (top / "locked" / "f").write_text("x")
    os.chmod(top / "locked", 0)
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        remove_contents(fd)
    finally:
        os.close(fd)
    assert os.listdir(top) == []
    assert (outside / "keep").read_text() == "keep"
    if fast is not None:
        shutil.rmtree(fast)


def test_cursor_never_holds_more_than_a_window_of_fds(tmp_path):
    from imagefs.extract import _Cursor

    p = tmp_path
    names = ["n"] * 500
    os.makedirs(os.path.join(tmp_path, *names))
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    before = len(os.listdir("/proc/self/fd"))
    cur = _Cursor(fd)
    cur.goto("/" + "/".join(names))
    assert len(os.listdir("/proc/self/fd")) - before <= _Cursor.MAX_OPEN + 1
    cur.goto("/n/n")  # back up through directories whose fds were closed
    assert os.path.samestat(os.fstat(cur.fd), os.stat(os.path.join(p, "n", "n")))
    cur.close()
    assert len(os.listdir("/proc/self/fd")) == before
    os.close(fd)


def test_cursor_refuses_symlinked_components(tmp_path):
    from imagefs.extract import _Cursor

    (tmp_path / "real").mkdir()
    os.symlink("real", tmp_path / "link")
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    cur = _Cursor(fd)
    with pytest.raises(OSError):
        cur.goto("/link")
    cur.close()
    os.close(fd)


def test_special_files_one_summary_warning(tmp_path, caplog):
    from imagefs.extract import extract_image

    members = [
        TarMember(f"dev/tty{i}", "char", devmajor=4, devminor=i) for i in range(10)
    ]
    ref, _ = oci_image(
        tmp_path / "img", layer(D("dev"), *members, TarMember("fifo", "fifo"))
    )
    caplog.set_level(logging.WARNING, logger="imagefs")
    res = extract_image(ref, tmp_path / "out")
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert (
        len(warnings) == 1
        and "11 device nodes" in warnings[0]
        and "6 more" in warnings[0]
    )
    assert len(res.skipped_special) == 11
    assert os.listdir(tmp_path / "out/dev") == []


if sys.platform != "linux":  # pragma: no cover
    pytest.skip(
        "the extractor is Linux-only (openat, O_NOFOLLOW, /proc/self/fd)",
        allow_module_level=True,
    )


@pytest.mark.parametrize(
    "evil", ["/../escaped", "/a/../../escaped", "/a//b", "/a/./b", "relative", "/a/.."]
)
def test_poisoned_cache_paths_never_reach_the_disk(tmp_path, evil, caplog):
    """Defence in depth: a tampered layer-index cache (it lives in a user-writable
    directory) cannot make the extractor write outside dest, whatever path it holds: the
    cache refuses the entry (and the layer is read again), or the extractor refuses it."""
    import json

    from imagefs.cache import LayerCache
    from imagefs.errors import ImagefsError
    from imagefs.extract import extract_image
    from imagefs.listing import list_image

    ref = oci_image(tmp_path / "img", layer(D("a"), F("a/f", b"x")))[0]
    cache = LayerCache(tmp_path / "cache")
    list_image(ref, cache=cache)
    (entry,) = (tmp_path / "cache").rglob("*.json")
    doc = json.loads(entry.read_text())
    rows = doc["entries"]
    rows.append([evil, "file", 0o644, 0, 0, 1, 0])
    entry.write_text(json.dumps(doc))
    root = tmp_path / "root"
    root.mkdir()
    try:
        res = extract_image(ref, root / "dest", cache=cache)
    except ImagefsError:
        assert os.listdir(root) == []
    else:
        assert sorted(e.path for e in res.tree.entries()) == ["/a", "/a/f"]
        assert "corrupt" in caplog.text
    assert not (tmp_path / "escaped").exists()


def test_listing_and_layers_that_disagree_fail_cleanly(tmp_path):
    """If the listing names a file whose member the layer does not hold (a cache entry from
    another layer, a blob that changed), extraction fails and removes what it wrote."""
    import json

    from imagefs.cache import LayerCache
    from imagefs.errors import InvalidImageError
    from imagefs.extract import extract_image
    from imagefs.listing import list_image

    ref = oci_image(tmp_path / "img", layer(D("a"), F("a/f", b"x")))[0]
    cache = LayerCache(tmp_path / "cache")
    list_image(ref, cache=cache)
    (entry,) = (tmp_path / "cache").rglob("*.json")
    doc = json.loads(entry.read_text())
    doc["entries"].append(["/a/ghost", "file", 0o644, 0, 0, 1, 0])
    entry.write_text(json.dumps(doc))
    with pytest.raises(InvalidImageError, match="ghost.*not found"):
        extract_image(ref, tmp_path / "dest", cache=cache)
    assert not (tmp_path / "dest").exists()
