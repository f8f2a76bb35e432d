"""imagefs against real peers, on a real image: umoci and skopeo (Debian's packages).

tests/peers/umoci_image.py builds a three-layer image with umoci from Debian package
content (busybox-static, hostname, netbase, tzdata, libcap2-bin): two layers made by
``umoci repack`` (umoci computes the changeset and writes the whiteouts) and one hand-made
layer added with ``umoci raw add-layer``. Together they delete files and directories,
replace a directory by a file and by a symlink, make a directory opaque, whiteout and
re-create in one layer, hardlink within and across layers, delete a hardlinked file,
carry setuid, setgid and sticky bits, other owners, a fifo, a device and a capability.

The oracle is ``umoci unpack --rootless``: the merged filesystem it writes to disk, read
back with ``os.lstat``. The test asserts that the entry set of ``imagefs list --format json``
(path, type, mode, uid, gid, size, target), the hardlink groups and the xattr names equal
the disk's, with these documented exceptions only:

1. Owners: a rootless unpack cannot chown, so the disk owner is the caller; umoci keeps
   the image's owner in the ``user.rootlesscontainers`` xattr (protobuf uid/gid), which
   is what is compared (absent = 0:0). That xattr is not an image xattr and is ignored.
2. Devices: a rootless unpack writes an empty regular file in place of a char or block
   device ("creating empty file in place of device"); a device in the listing is
   compared as a regular file of the same mode and size 0.
3. Hardlinks: on disk, every name of an inode is a regular file (nlink > 1); in the
   listing, one name is the file and the others are ``hardlink`` entries naming it. Both
   are compared as regular files with the inode's size, and the groups of names sharing
   an inode must be equal.
4. Sizes are compared for regular files only: a directory's size on disk is the file
   system's, a symlink's is its target's length (the target itself is compared).
5. Writes below a symlinked directory: an upper ``lib64/ld-peer.so`` with no ``lib64/``
   entry, over a lower ``lib64 -> usr/lib``. umoci, a flattening applier, writes through
   the link (``/usr/lib/ld-peer.so``; ``/lib64`` stays a symlink); imagefs's default
   overlay model (Docker's overlay2, containerd's overlayfs) makes ``/lib64`` an implicit
   directory (0755, 0:0) holding ``ld-peer.so``. Under the overlay model exactly these
   three paths differ, as computed by ``overlay_view``; nothing else may. With
   ``--symlinks follow`` (umoci's model) the listing equals the disk with no exception 5.
6. The root directory is not an entry (umoci's layers carry a ``./`` entry; it is the
   rootfs directory itself). Modification times are not compared.

skopeo is the second peer: ``skopeo copy`` of the same image to a ``docker-archive`` (the
classic ``docker save`` layout, uncompressed layers), to an OCI layout recompressed with
zstd, to an ``oci-archive``, and from that docker-archive to skopeo's ``dir:`` format,
where skopeo 1.9 writes uncompressed layers labelled ``tar.gzip`` (wrapped unchanged as an
OCI layout, since imagefs does not read ``dir:``). imagefs must list each copy exactly as
it lists the original (every field, layer attribution included).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, require_tool
from peers.fixtures import peer_image, unpacked  # noqa: F401  (fixtures)
from peers.rootfs import Record, from_listing

pytestmark = pytest.mark.slow


def imagefs_json(ref: str, env: dict[str, str], *extra: str) -> dict:
    cmd = [sys.executable, "-m", "imagefs", "list", "--format", "json", *extra, ref]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr}"
    return json.loads(proc.stdout)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "plugins")
    return env


@pytest.fixture(scope="module")
def listing(peer_image):
    """The default listing (overlay symlink model)."""
    return imagefs_json(peer_image.ref, _env(), "--no-cache")


@pytest.fixture(scope="module")
def listing_follow(peer_image):
    """The listing under ``--symlinks follow``: write through lower symlinks, as umoci does."""
    return imagefs_json(peer_image.ref, _env(), "--no-cache", "--symlinks", "follow")


def overlay_view(disk: dict[str, Record]) -> dict[str, Record]:
    """Exception 5: what the overlay model makes of umoci's write-through of /lib64."""
    view = dict(disk)
    written = view.pop("/usr/lib/ld-peer.so")
    assert view["/lib64"] == Record("symlink", 0o777, 0, 0, 0, "usr/lib"), "the builder's /lib64 symlink changed"
    view["/lib64"] = Record("dir", 0o755, 0, 0, 0, None)
    view["/lib64/ld-peer.so"] = written
    return view


def device_as_file(records: dict[str, Record]) -> dict[str, Record]:
    """Exception 2: a device in the listing compares as an empty regular file."""
    return {
        p: Record("file", r.mode, r.uid, r.gid, 0, None) if r.type in ("char", "block") else r
        for p, r in records.items()
    }


def diff(expected: dict[str, Record], got: dict[str, Record]) -> list[str]:
    lines = []
    for p in sorted(expected.keys() | got.keys()):
        if expected.get(p) != got.get(p):
            lines.append(f"{p}: umoci {expected.get(p)} imagefs {got.get(p)}")
    return lines


# The builder really made what the cases say (read from umoci's unpack): if umoci changed
# how it writes these, the comparison below would prove less than it claims.
DISK_CASES = [
    pytest.param("/etc/rpc", None, id="file-deleted"),
    pytest.param("/var/gone", None, id="dir-deleted"),
    pytest.param("/opt/app/sub", Record("file", 0o644, 0, 0, 11, None), id="dir-replaced-by-file"),
    pytest.param("/opt/redo/old", None, id="whiteout-hides-lower"),
    pytest.param("/opt/redo", Record("dir", 0o750, 0, 0, 0, None), id="whiteout-then-recreate-dir-same-layer"),
    pytest.param("/opt/redo/new", Record("file", 0o644, 0, 0, 4, None), id="whiteout-then-recreate-file-same-layer"),
    pytest.param("/srv/data", Record("symlink", 0o777, 0, 0, 0, "../opt/app"), id="dir-replaced-by-symlink"),
    pytest.param("/etc/conf.d/one", None, id="opaque-hides-lower"),
    pytest.param("/etc/conf.d/three", Record("file", 0o644, 0, 0, 6, None), id="opaque-keeps-same-layer"),
    pytest.param("/bin/ypdomainname", None, id="symlink-whited-out"),
    pytest.param("/bin/domainname", Record("symlink", 0o777, 0, 0, 0, "hostname"), id="symlink-kept"),
    pytest.param("/usr/bin/su-peer", None, id="hardlinked-file-whited-out"),
    pytest.param("/usr/bin/su-peer-link", "setuid-file", id="setuid-hardlink-survives"),
    pytest.param("/etc/services", "mode-0600", id="metadata-only-change"),
    pytest.param("/tmp", Record("dir", 0o1777, 0, 0, 0, None), id="sticky-dir"),
    pytest.param("/srv/shared", Record("dir", 0o2775, 0, 0, 0, None), id="setgid-dir"),
    pytest.param("/run/initctl", Record("fifo", 0o600, 0, 0, 0, None), id="fifo"),
    pytest.param("/home/user", Record("dir", 0o700, 1000, 1000, 0, None), id="owner-1000"),
    pytest.param("/var/www", Record("dir", 0o2775, 33, 33, 0, None), id="owner-33"),
    pytest.param("/dev/null", Record("file", 0o666, 0, 0, 0, None), id="device-as-empty-file"),
    pytest.param("/usr/lib/ld-peer.so", Record("file", 0o755, 0, 0, 7, None), id="write-through-symlinked-dir"),
]


@pytest.mark.parametrize("path,expected", DISK_CASES)
def test_builder_made_the_case(unpacked, path, expected):
    got = unpacked.records.get(path)
    if expected == "setuid-file":
        assert got is not None and got.type == "file" and got.mode == 0o4755
    elif expected == "mode-0600":
        assert got is not None and got.type == "file" and got.mode == 0o600
    else:
        assert got == expected


def test_listing_matches_umoci_unpack(unpacked, listing):
    """Default overlay model: equal to umoci's disk but for exception 5 (/lib64)."""
    got = from_listing(listing)
    assert len(unpacked.records) > 1000, "the peer image lost its package content"
    problems = diff(overlay_view(unpacked.records), device_as_file(got.records))
    assert not problems, f"{len(problems)} paths differ:\n" + "\n".join(problems[:50])


def test_follow_listing_matches_umoci_unpack_exactly(unpacked, listing_follow):
    """``--symlinks follow`` is umoci's model: no exception 5, the disk as it is."""
    got = from_listing(listing_follow)
    problems = diff(unpacked.records, device_as_file(got.records))
    assert not problems, f"{len(problems)} paths differ:\n" + "\n".join(problems[:50])
    assert got.link_groups == unpacked.link_groups


def test_hardlink_groups_match(unpacked, listing):
    got = from_listing(listing)
    assert unpacked.link_groups, "the peer image has no hardlinks"
    assert got.link_groups == unpacked.link_groups


def test_xattr_names_match(unpacked, listing):
    got = from_listing(listing)
    assert unpacked.xattrs == {"/sbin/getcap-peer": ("security.capability",)}
    assert got.xattrs == unpacked.xattrs


def test_layer_attribution(listing, peer_image):
    """Spot checks of which layer last wrote a path (umoci has no notion of this)."""
    layer = {e["path"]: e["layer"] for e in listing["entries"]}
    assert layer["/bin/busybox"] == 0
    assert layer["/sbin/capsh"] == 1
    assert layer["/opt/redo/new"] == 2
    assert layer["/opt/app/sub"] == 1
    assert layer["/etc/services"] == 1  # the chmod rewrote it
    assert len(listing["image"]["layers"]) == 3


def skopeo(*args: str) -> None:
    proc = subprocess.run(["skopeo", "copy", "-q", *args], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"skopeo copy {' '.join(args)}: {proc.stderr}"


def dir_to_oci_layout(src: Path, dest: Path) -> str:
    """Wrap skopeo's ``dir:`` output (manifest.json + blobs named by hex) as an OCI layout.

    Only the file layout changes; every blob, the manifest included, is skopeo's, byte for byte.
    """
    blobs = dest / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    manifest = (src / "manifest.json").read_bytes()
    for blob in src.iterdir():
        if len(blob.name) == 64:
            shutil.copyfile(blob, blobs / blob.name)
    digest = hashlib.sha256(manifest).hexdigest()
    (blobs / digest).write_bytes(manifest)
    media_type = json.loads(manifest)["mediaType"]
    top = {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(manifest)}
    top["annotations"] = {"org.opencontainers.image.ref.name": "final"}
    (dest / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [top]}))
    (dest / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return f"oci:{dest}:final"


def _copy_via_docker_archive_to_dir(source: str, tmp_path: Path) -> str:
    """docker-archive, then ``dir:``: skopeo 1.9 keeps the layers uncompressed but labels
    them ``…diff.tar.gzip`` (the mislabel imagefs must see through by sniffing)."""
    archive = tmp_path / "image.tar"
    skopeo(source, f"docker-archive:{archive}:peer/image:final")
    skopeo(f"docker-archive:{archive}", f"dir:{tmp_path / 'dir'}")
    manifest = json.loads((tmp_path / "dir" / "manifest.json").read_bytes())
    for layer in manifest["layers"]:
        assert layer["mediaType"].endswith("gzip")
        head = (tmp_path / "dir" / layer["digest"].split(":")[1]).read_bytes()[:2]
        assert head != b"\x1f\x8b", "skopeo compressed this layer: the mislabel case is gone"
    return dir_to_oci_layout(tmp_path / "dir", tmp_path / "oci")


def _copy(transport: str, source: str, tmp_path: Path) -> str:
    if transport == "docker-archive":
        dest = f"docker-archive:{tmp_path / 'image.tar'}:peer/image:final"
        skopeo(source, dest)
    elif transport == "oci-zstd":
        dest = f"oci:{tmp_path / 'zstd'}:final"
        skopeo("--dest-compress", "--dest-compress-format", "zstd", source, dest)
    elif transport == "oci-archive":
        dest = f"oci-archive:{tmp_path / 'image-oci.tar'}:final"
        skopeo(source, dest)
    else:
        dest = _copy_via_docker_archive_to_dir(source, tmp_path)
    return dest


@pytest.mark.parametrize(
    "transport",
    [
        pytest.param("docker-archive", id="docker-archive-classic-uncompressed"),
        pytest.param("oci-zstd", id="oci-recompressed-zstd"),
        pytest.param("oci-archive", id="oci-archive"),
        pytest.param("dir-mislabelled", id="docker-v2s2-uncompressed-layers-labelled-gzip"),
    ],
)
def test_skopeo_copy_lists_the_same(peer_image, listing, transport, tmp_path, subprocess_env):
    require_tool("skopeo")
    dest = _copy(transport, peer_image.ref, tmp_path)
    copy = imagefs_json(dest, subprocess_env, "--no-cache")
    assert copy["entries"] == listing["entries"]
    assert [layer["diff_id"] for layer in copy["image"]["layers"]] == [
        layer["diff_id"] for layer in listing["image"]["layers"]
    ]
