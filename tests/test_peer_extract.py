"""``imagefs extract`` against ``umoci unpack --rootless`` on the real umoci-built image.

Both write the merged root filesystem of tests/peers/umoci_image.py's three-layer image
(Debian package content; deletions, replacements, an opaque dir, hardlinks, setuid and
setgid, other owners, a capability) to disk. imagefs extracts with ``--symlinks follow``
(umoci's model, see test_peer_umoci.py exception 5) and, as root, ``--preserve-owners
--preserve-special-bits --preserve-xattrs``. Read back with ``os.lstat``, the two trees
must agree on every path's (type, mode, uid, gid, size, target), on which paths share an
inode, on xattr names, and on every regular file's bytes and modification time.

Documented exceptions only:

1. Owners on umoci's side come from its ``user.rootlesscontainers`` xattr (a rootless
   unpack cannot chown); imagefs, as root, really chowns.
2. Device nodes and FIFOs: imagefs never creates them (it says which it skipped); umoci
   writes an empty regular file for a device and a real FIFO. Those paths are absent from
   the imagefs side and are compared by name only.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import ROOT
from peers.fixtures import peer_image, unpacked  # noqa: F401  (fixtures)
from peers.rootfs import walk

pytestmark = pytest.mark.slow

SKIPPED_SPECIALS = {"/dev/null", "/run/initctl"}  # the peer image's char device and fifo


@pytest.fixture(scope="module")
def extracted(peer_image, tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("--preserve-owners needs root (CI runs as root)")
    dest = tmp_path_factory.mktemp("extract") / "rootfs"
    env = dict(os.environ, PYTHONPATH=str(ROOT / "plugins"))
    cmd = [
        sys.executable, "-m", "imagefs", "extract", "-q", "--no-cache", "--symlinks", "follow",
        "--preserve-owners", "--preserve-special-bits", "--preserve-xattrs", peer_image.ref, str(dest),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    for path in SKIPPED_SPECIALS:
        assert path in proc.stderr, f"extract should say it skipped {path}: {proc.stderr}"
    return walk(dest)


def test_extract_matches_umoci_unpack(unpacked, extracted):
    assert SKIPPED_SPECIALS <= unpacked.records.keys()
    expected = {p: r for p, r in unpacked.records.items() if p not in SKIPPED_SPECIALS}
    problems = [
        f"{p}: umoci {expected.get(p)} imagefs {extracted.records.get(p)}"
        for p in sorted(expected.keys() | extracted.records.keys())
        if expected.get(p) != extracted.records.get(p)
    ]
    assert not problems, f"{len(problems)} paths differ:\n" + "\n".join(problems[:50])


def test_extract_hardlinks_and_xattrs_match(unpacked, extracted):
    assert unpacked.link_groups and extracted.link_groups == unpacked.link_groups
    assert extracted.xattrs == unpacked.xattrs == {"/sbin/getcap-peer": ("security.capability",)}


def test_extract_file_bytes_and_mtimes_match(unpacked, extracted):
    differ = []
    files = [p for p, r in unpacked.records.items() if r.type == "file" and p not in SKIPPED_SPECIALS]
    assert len(files) > 900
    for path in files:
        a, b = unpacked.root / path[1:], extracted.root / path[1:]
        if a.read_bytes() != b.read_bytes():
            differ.append(f"{path}: bytes differ")
        elif int(os.lstat(a).st_mtime) != int(os.lstat(b).st_mtime):
            differ.append(f"{path}: mtime {os.lstat(a).st_mtime} vs {os.lstat(b).st_mtime}")
    assert not differ, "\n".join(differ[:50])
