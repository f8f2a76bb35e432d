"""Read a root filesystem that ``umoci unpack --rootless`` wrote, as comparable records.

``umoci unpack --rootless`` cannot chown, so every file on disk belongs to the caller; it
records the owner the image gave (when not 0:0) in the ``user.rootlesscontainers`` xattr,
a protobuf ``Resource { uint32 uid = 1; uint32 gid = 2; }`` (github.com/rootless-containers/proto).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOTLESS_XATTR = "user.rootlesscontainers"

_TYPES = {
    stat.S_IFDIR: "dir",
    stat.S_IFREG: "file",
    stat.S_IFLNK: "symlink",
    stat.S_IFIFO: "fifo",
    stat.S_IFCHR: "char",
    stat.S_IFBLK: "block",
    stat.S_IFSOCK: "socket",
}


@dataclass(frozen=True, order=True)
class Record:
    """What both sides can say about a path: (type, mode, uid, gid, size, target).

    ``size`` is compared for regular files only (0 elsewhere: a directory's size is the
    file system's business, a symlink's is its target's length). Hardlinks are regular
    files here; which paths share an inode is compared separately (link groups).
    """

    type: str
    mode: int
    uid: int
    gid: int
    size: int
    target: str | None


def decode_rootless(value: bytes) -> tuple[int, int]:
    """Decode a ``user.rootlesscontainers`` protobuf: fields 1 (uid) and 2 (gid), varints."""
    fields = {1: 0, 2: 0}
    i = 0
    while i < len(value):
        key, i = _varint(value, i)
        if key & 7 != 0:
            raise ValueError(f"unexpected wire type in {value!r}")
        v, i = _varint(value, i)
        fields[key >> 3] = v
    return fields[1], fields[2]


def _varint(b: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        byte = b[i]
        i += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, i
        shift += 7


@dataclass
class DiskTree:
    records: dict[str, Record]
    link_groups: set[frozenset[str]]  # paths sharing one inode (regular files, nlink > 1)
    xattrs: dict[str, tuple[str, ...]]  # xattr names other than umoci's ownership record
    root: Path | None = None  # the directory walked


def walk(rootfs: Path) -> DiskTree:
    """Every path below ``rootfs`` (not the root itself), keyed ``/abs/path``."""
    euid = os.geteuid()
    records: dict[str, Record] = {}
    inodes: dict[tuple[int, int], set[str]] = {}
    xattrs: dict[str, tuple[str, ...]] = {}
    root = os.fspath(rootfs)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            path = "/" + os.path.relpath(full, root)
            st = os.lstat(full)
            kind = _TYPES[stat.S_IFMT(st.st_mode)]
            names = os.listxattr(full, follow_symlinks=False) if kind != "symlink" else []
            if ROOTLESS_XATTR in names:
                uid, gid = decode_rootless(os.getxattr(full, ROOTLESS_XATTR, follow_symlinks=False))
            else:
                uid = 0 if st.st_uid == euid else st.st_uid
                gid = 0 if st.st_uid == euid else st.st_gid
            others = tuple(sorted(n for n in names if n != ROOTLESS_XATTR))
            if others:
                xattrs[path] = others
            records[path] = Record(
                kind,
                stat.S_IMODE(st.st_mode),
                uid,
                gid,
                st.st_size if kind == "file" else 0,
                os.readlink(full) if kind == "symlink" else None,
            )
            if kind == "file" and st.st_nlink > 1:
                inodes.setdefault((st.st_dev, st.st_ino), set()).add(path)
    return DiskTree(records, {frozenset(g) for g in inodes.values()}, xattrs, Path(root))


@dataclass
class ListingTree:
    records: dict[str, Record]
    link_groups: set[frozenset[str]]
    xattrs: dict[str, tuple[str, ...]]


def from_listing(doc: dict[str, Any]) -> ListingTree:
    """The same records from an ``imagefs list --format json`` document (JSON v1)."""
    entries = {e["path"]: e for e in doc["entries"]}
    records: dict[str, Record] = {}
    groups: dict[str, set[str]] = {}
    xattrs: dict[str, tuple[str, ...]] = {}
    for path, e in entries.items():
        kind = e["type"]
        if kind == "hardlink":
            root = e["target"]
            seen = {path}
            while entries.get(root, {}).get("type") == "hardlink" and root not in seen:
                seen.add(root)
                root = entries[root]["target"]
            groups.setdefault(root, {root}).add(path)
            kind = "file"
        records[path] = Record(
            kind,
            e["mode"],
            e["uid"],
            e["gid"],
            e["size"] if kind == "file" else 0,
            e.get("target") if kind == "symlink" else None,
        )
        if e.get("xattrs"):
            xattrs[path] = tuple(sorted(e["xattrs"]))
    return ListingTree(records, {frozenset(g) for g in groups.values()}, xattrs)
