"""An in-memory root filesystem that turns into a reproducible layer tar.

Recipes fill a :class:`RootFS` from ``.deb`` files, real directories (``dir_to_members``) and
generated files, then call :meth:`RootFS.layer_tar`: entries sorted by path (parents first),
missing parent directories added, mtimes clamped to ``SOURCE_DATE_EPOCH``, owners as given
(0:0 unless the recipe says otherwise), hardlink groups written target-first.
"""

from __future__ import annotations

import os
import stat
import tarfile
from dataclasses import replace
from pathlib import Path

from ..errors import ImagefsError
from ..oci_writer import TAR_TO_ENTRY, TarMember, make_layer_tar

def norm(path: str) -> str:
    """``./etc/passwd``, ``/etc/passwd`` and ``etc/passwd/`` all become ``etc/passwd``."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ImagefsError(f"path {path!r} has a '..' component")
    return "/".join(parts)


class RootFS:
    def __init__(self) -> None:
        self.entries: dict[str, TarMember] = {}

    # --- filling -------------------------------------------------------------------------
    def put(self, m: TarMember) -> None:
        name = norm(m.name)
        if not name:
            return
        if m.type == "hardlink":
            m = replace(m, linkname=norm(m.linkname))
        self.entries[name] = replace(m, name=name)

    def file(self, path: str, data: bytes, mode: int = 0o644, uid: int = 0, gid: int = 0) -> None:
        self.put(TarMember(path, "file", data=data, mode=mode, uid=uid, gid=gid, mtime=1 << 62))

    def dir(self, path: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> None:
        self.put(TarMember(path, "dir", mode=mode, uid=uid, gid=gid, mtime=1 << 62))

    def symlink(self, path: str, target: str) -> None:
        self.put(TarMember(path, "symlink", linkname=target, mode=0o777, mtime=1 << 62))

    def hardlink(self, path: str, target: str) -> None:
        self.put(TarMember(path, "hardlink", linkname=target, mode=0o644, mtime=1 << 62))

    def whiteout(self, path: str) -> None:
        """An OCI whiteout: ``path`` is deleted by this layer."""
        parent, _, base = norm(path).rpartition("/")
        self.file(f"{parent}/.wh.{base}" if parent else f".wh.{base}", b"", mode=0o644)

    def opaque(self, directory: str) -> None:
        """Mark ``directory`` opaque: lower layers' contents of it are hidden."""
        self.dir(directory)
        self.file(f"{norm(directory)}/.wh..wh..opq", b"")

    def remove(self, path: str) -> None:
        """Drop ``path`` and everything under it from this filesystem (not a whiteout)."""
        p = norm(path)
        for k in [k for k in self.entries if k == p or k.startswith(p + "/")]:
            del self.entries[k]

    def read(self, path: str) -> bytes:
        m = self.entries.get(norm(path))
        if m is None or m.type != "file":
            raise ImagefsError(f"{path} is not a regular file in this root filesystem")
        return m.data

    def add_tar_member(self, info: tarfile.TarInfo, data: bytes) -> None:
        kind = TAR_TO_ENTRY.get(info.type)
        if kind is None:
            raise ImagefsError(f"tar member {info.name!r}: unsupported type {info.type!r}")
        self.put(
            TarMember(
                info.name, kind, data=data if kind == "file" else b"", mode=info.mode & 0o7777,
                uid=info.uid, gid=info.gid, mtime=int(info.mtime), linkname=info.linkname,
                devmajor=info.devmajor, devminor=info.devminor,
            )
        )

    def add_deb(self, path: Path) -> None:
        from .debs import iter_deb_members

        for info, data in iter_deb_members(path):
            self.add_tar_member(info, data)

    def add_dir(self, root: Path) -> None:
        for m in dir_to_members(root):
            self.put(m)

    # --- output --------------------------------------------------------------------------
    def members(self, source_date_epoch: int) -> list[TarMember]:
        entries = dict(self.entries)
        for name in list(entries):  # implicit parents
            parts = name.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in entries:
                    entries[d] = TarMember(d, "dir", mode=0o755, mtime=source_date_epoch)
        # Hardlink groups: the first path in sort order carries the data, the rest link to it.
        groups: dict[str, list[str]] = {}
        for name, m in entries.items():
            if m.type == "hardlink":
                if m.linkname not in entries:
                    raise ImagefsError(f"hardlink {name} -> {m.linkname}: target missing from the layer")
                groups.setdefault(m.linkname, [m.linkname]).append(name)
        for target, names in groups.items():
            first = min(names)
            body = entries[target]
            for n in names:
                if n == first:
                    entries[n] = replace(body, name=n)
                else:
                    entries[n] = replace(body, name=n, type="hardlink", data=b"", linkname=first)
        out = []
        for name in sorted(entries):
            m = entries[name]
            out.append(replace(m, name=name + ("/" if m.type == "dir" else ""), mtime=min(m.mtime, source_date_epoch), uname="", gname=""))
        return out

    def layer_tar(self, source_date_epoch: int) -> bytes:
        return make_layer_tar(self.members(source_date_epoch))


def dir_to_members(root: Path) -> list[TarMember]:
    """The tree under ``root`` as tar members (real owners, modes, mtimes, hardlinks, devices).

    Sorted by path; a file seen again by inode becomes a hardlink to its first path.
    Extended attributes are not carried over.
    """
    root = Path(root)
    out: list[TarMember] = []
    seen: dict[tuple[int, int], str] = {}
    paths = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            paths.append((os.path.relpath(full, root), full))
    for rel, full in sorted(paths):
        st = os.lstat(full)
        kw: dict = {"mode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid, "mtime": int(st.st_mtime)}
        if stat.S_ISDIR(st.st_mode):
            out.append(TarMember(rel, "dir", **kw))
        elif stat.S_ISLNK(st.st_mode):
            out.append(TarMember(rel, "symlink", linkname=os.readlink(full), **kw))
        elif stat.S_ISREG(st.st_mode):
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in seen:
                out.append(TarMember(rel, "hardlink", linkname=seen[key], **kw))
            else:
                seen[key] = rel
                with open(full, "rb") as f:
                    out.append(TarMember(rel, "file", data=f.read(), **kw))
        elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            kind = "char" if stat.S_ISCHR(st.st_mode) else "block"
            out.append(TarMember(rel, kind, devmajor=os.major(st.st_rdev), devminor=os.minor(st.st_rdev), **kw))
        elif stat.S_ISFIFO(st.st_mode):
            out.append(TarMember(rel, "fifo", **kw))
        # sockets are not representable in tar: skipped
    return out
