"""A real multi-layer image built by umoci from Debian package content.

Layers 0 and 1 are made the way umoci makes images: ``umoci unpack --rootless``, change
the root filesystem on disk, ``umoci repack`` (umoci computes the changeset, whiteouts
included). Layer 2 is a hand-written tar added with ``umoci raw add-layer``, for what a
repack cannot express (an opaque directory, owners other than the caller, a device node,
a capability xattr, a write below a symlinked directory). Each change is named in
``CASES`` so a failing comparison can be traced to the rule it exercises.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from imagefs.oci_writer import TarMember as T
from imagefs.oci_writer import make_layer_tar

from . import debs

PACKAGES = {
    0: ["busybox-static", "hostname", "netbase", "tzdata"],  # a 2 MB static binary, symlinks, /etc files, ~1,800 zoneinfo files
    1: ["libcap2-bin"],  # /sbin binaries added in the second layer
}

# What each layer does, for the reader of a failing comparison.
CASES = {
    0: [
        "package files: busybox-static, hostname (symlinks to /bin/hostname), netbase, tzdata",
        "setuid file /usr/bin/su-peer (4755) and its hardlink /usr/bin/su-peer-link",
        "sticky /tmp (1777), setgid dir /srv/shared (2775), a fifo /run/initctl",
        "dir symlink /lib64 -> usr/lib; /etc/conf.d/{one,two}; /var/gone/*; /opt/app/sub/*; /opt/redo/*; /srv/data/*",
    ],
    1: [
        "file deleted: /etc/rpc (umoci writes .wh.rpc)",
        "dir deleted: /var/gone",
        "dir replaced by a file: /opt/app/sub",
        "dir replaced by a symlink: /srv/data -> ../opt/app",
        "metadata only: /etc/services chmod 0600",
        "new hardlink to a lower layer's file: /usr/bin/su-peer-third",
        "package libcap2-bin added",
    ],
    2: [
        "opaque dir: /etc/conf.d/.wh..wh..opq plus a new /etc/conf.d/three",
        "whiteout then re-create in one layer: /opt/.wh.redo before /opt/redo/ (0750) and /opt/redo/new",
        "whiteout of a symlink: /bin/.wh.ypdomainname",
        "whiteout of a hardlinked file: /usr/bin/.wh.su-peer (its links survive)",
        "file over a file that symlinks point to: /bin/hostname",
        "owners other than root: /home/user (1000:1000, 0700), /var/www (33:33, 2775)",
        "a char device /dev/null 1:3",
        "a file capability: /sbin/getcap-peer with security.capability",
        "a hardlink pair in one layer: /usr/bin/hl-a, /usr/bin/hl-b",
        "a write below a symlinked dir with no dir entry: /lib64/ld-peer.so (lib64 -> usr/lib)",
        "a whiteout of a path that never existed: /etc/.wh.nonexistent",
    ],
}

# version 2 capability, CAP_NET_RAW (bit 13) permitted; the bytes `setcap cap_net_raw+p` writes.
CAP_NET_RAW = "\x01\x00\x00\x02\x00\x20\x00\x00" + "\x00" * 12


@dataclass
class PeerImage:
    layout: Path  # the OCI layout umoci wrote
    tag: str  # the final image's tag in it
    work: Path  # scratch directory (bundles)

    @property
    def ref(self) -> str:
        return f"oci:{self.layout}:{self.tag}"


def umoci(*args: str | os.PathLike[str]) -> None:
    proc = subprocess.run(["umoci", *map(os.fspath, args)], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise RuntimeError(f"umoci {' '.join(map(os.fspath, args))} failed: {proc.stderr.strip()}")


def _layer0(rootfs: Path, packages: dict[str, Path]) -> None:
    for name in PACKAGES[0]:
        debs.extract(packages[name], rootfs)
    (rootfs / "usr/bin").mkdir(parents=True, exist_ok=True)
    (rootfs / "usr/lib").mkdir(parents=True, exist_ok=True)
    su = rootfs / "usr/bin/su-peer"
    shutil.copyfile(rootfs / "bin/busybox", su)
    os.chmod(su, 0o4755)
    os.link(su, rootfs / "usr/bin/su-peer-link")
    (rootfs / "tmp").mkdir()
    os.chmod(rootfs / "tmp", 0o1777)
    (rootfs / "srv/shared").mkdir(parents=True)
    os.chmod(rootfs / "srv/shared", 0o2775)
    (rootfs / "run").mkdir()
    os.mkfifo(rootfs / "run/initctl", 0o600)
    os.symlink("usr/lib", rootfs / "lib64")
    (rootfs / "etc/conf.d").mkdir()
    (rootfs / "etc/conf.d/one").write_text("one\n")
    (rootfs / "etc/conf.d/two").write_text("two\n")
    for d in ("var/gone/deep", "opt/app/sub", "opt/redo", "srv/data"):
        (rootfs / d).mkdir(parents=True)
    (rootfs / "var/gone/deep/file").write_text("gone\n")
    (rootfs / "opt/app/a").write_text("a\n")
    (rootfs / "opt/app/sub/b").write_text("b\n")
    (rootfs / "opt/redo/old").write_text("old\n")
    (rootfs / "srv/data/old").write_text("old\n")


def _layer1(rootfs: Path, packages: dict[str, Path]) -> None:
    (rootfs / "etc/rpc").unlink()
    shutil.rmtree(rootfs / "var/gone")
    shutil.rmtree(rootfs / "opt/app/sub")
    (rootfs / "opt/app/sub").write_text("now a file\n")
    shutil.rmtree(rootfs / "srv/data")
    os.symlink("../opt/app", rootfs / "srv/data")
    os.chmod(rootfs / "etc/services", 0o600)
    os.link(rootfs / "usr/bin/su-peer", rootfs / "usr/bin/su-peer-third")
    for name in PACKAGES[1]:
        debs.extract(packages[name], rootfs)


def layer2_tar() -> bytes:
    return make_layer_tar(
        [
            T("etc", "dir"),
            T("etc/.wh.nonexistent", mode=0),
            T("etc/conf.d", "dir"),
            T("etc/conf.d/.wh..wh..opq", mode=0),
            T("etc/conf.d/three", data=b"three\n"),
            T("opt", "dir"),
            T("opt/.wh.redo", mode=0),
            T("opt/redo", "dir", mode=0o750),
            T("opt/redo/new", data=b"new\n"),
            T("bin", "dir"),
            T("bin/.wh.ypdomainname", mode=0),
            T("bin/hostname", data=b"#!/bin/sh\necho peer\n", mode=0o755),
            T("usr/bin", "dir"),
            T("usr/bin/.wh.su-peer", mode=0),
            T("usr/bin/hl-a", data=b"hardlinked\n"),
            T("usr/bin/hl-b", "hardlink", linkname="usr/bin/hl-a"),
            T("home", "dir"),
            T("home/user", "dir", uid=1000, gid=1000, mode=0o700),
            T("home/user/.profile", data=b"PS1='$ '\n", uid=1000, gid=1000, mode=0o600),
            T("var/www", "dir", uid=33, gid=33, mode=0o2775),
            T("var/www/index.html", data=b"<p>peer</p>\n", uid=33, gid=33),
            T("dev", "dir"),
            T("dev/null", "char", mode=0o666, devmajor=1, devminor=3),
            T("sbin/getcap-peer", data=b"\x7fELF not really\n", mode=0o755, xattrs={"security.capability": CAP_NET_RAW}),
            T("lib64/ld-peer.so", data=b"loader\n", mode=0o755),
        ]
    )


def _created_by(i: int) -> str:
    return f"layer {i}: " + "; ".join(CASES[i])


def build(work: Path, *, tag: str = "final") -> PeerImage:
    """Build the three-layer image in ``work/oci`` (tags ``l0``, ``l1`` and ``tag``)."""
    packages = debs.download(PACKAGES[0] + PACKAGES[1])
    layout = work / "oci"
    umoci("init", "--layout", layout)
    umoci("new", "--image", f"{layout}:empty")
    for i, (src, dst, change) in enumerate([("empty", "l0", _layer0), ("l0", "l1", _layer1)]):
        bundle = work / f"bundle{i}"
        umoci("unpack", "--rootless", "--image", f"{layout}:{src}", bundle)
        change(bundle / "rootfs", packages)
        umoci("repack", "--image", f"{layout}:{dst}", "--history.created_by", _created_by(i), bundle)
    tar = work / "layer2.tar"
    tar.write_bytes(layer2_tar())
    umoci("raw", "add-layer", "--image", f"{layout}:l1", "--tag", tag, "--history.created_by", _created_by(2), tar)
    return PeerImage(layout, tag, work)
