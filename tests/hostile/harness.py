"""The moby ``testBreakout``-style frame around every hostile case.

Layout under ``tmp_path``::

    img/            the hostile image (OCI layout)
    root/dest       where extraction writes (must not exist before)
    root/victim     a directory beside it, with files a breakout would change
    root/dest-evil  a sibling whose name has ``dest`` as a prefix (string-prefix checks)

:func:`snapshot` hashes a directory tree without following links; a case passes only if
``root`` minus ``dest`` is byte-for-byte the same after the run.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imagefs import media
from imagefs.oci_writer import (
    ImageSpec,
    WrittenImage,
    build_image,
    canonical_json,
    sha256,
    write_oci_layout,
)
from imagefs.platform import Platform


def fast_tmp_dir() -> Path | None:
    """A fresh directory on tmpfs (/dev/shm) when there is one, else None."""
    import tempfile

    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK):
        return Path(tempfile.mkdtemp(prefix="imagefs-hostile-", dir=shm))
    return None


@dataclass
class Ctx:
    """What a case's builder gets: where to put the image and the absolute victim paths."""

    tmp: Path
    root: Path
    dest: Path
    victim: Path
    evil: Path
    image_dir: Path
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def make(cls, tmp: Path, fast: Path | None = None) -> Ctx:
        """``fast``: where ``root`` goes (a tmpfs directory: extraction tests create and
        remove thousands of directories, which a busy disk makes slow)."""
        root = (fast or tmp) / "root"
        victim = root / "victim"
        evil = root / "dest-evil"
        victim.mkdir(parents=True)
        evil.mkdir()
        (victim / "secret").write_bytes(b"victim secret\n")
        (victim / "sub").mkdir()
        (victim / "sub" / "file").write_bytes(b"victim sub file\n")
        os.chmod(victim / "secret", 0o640)
        (evil / "file").write_bytes(b"dest-evil file\n")
        os.symlink("../victim/secret", evil / "link")
        return cls(tmp, root, root / "dest", victim, evil, tmp / "img")

    # -- images -----------------------------------------------------------------------
    def image(self, *layers: bytes, **spec: Any) -> str:
        """An OCI layout of ``layers`` (uncompressed tars; gzip'd unless ``compression``)."""
        img = build_image(ImageSpec(list(layers), **spec))
        write_oci_layout(self.image_dir, [img], tag="latest")
        return f"oci:{self.image_dir}:latest"

    def image_from_blobs(
        self,
        blobs: list[tuple[bytes, str, str]],
        *,
        mutate_manifest: Callable[[dict], None] | None = None,
        mutate_config: Callable[[dict], None] | None = None,
        extra_blobs: dict[str, bytes] | None = None,
    ) -> str:
        """An OCI layout from raw layer blobs: (blob bytes, media type, diff_id)."""
        all_blobs: dict[str, bytes] = dict(extra_blobs or {})
        descs, diff_ids = [], []
        for data, mt, diff_id in blobs:
            d = sha256(data)
            all_blobs[d] = data
            descs.append({"mediaType": mt, "digest": d, "size": len(data)})
            diff_ids.append(diff_id)
        config: dict[str, Any] = {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created_by": f"layer {i}"} for i in range(len(blobs))],
        }
        if mutate_config:
            mutate_config(config)
        cfg = canonical_json(config)
        all_blobs[sha256(cfg)] = cfg
        manifest: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": media.OCI_MANIFEST,
            "config": {
                "mediaType": media.OCI_CONFIG,
                "digest": sha256(cfg),
                "size": len(cfg),
            },
            "layers": descs,
        }
        if mutate_manifest:
            mutate_manifest(manifest)
        mb = canonical_json(manifest)
        all_blobs[sha256(mb)] = mb
        img = WrittenImage(sha256(mb), mb, cfg, all_blobs, Platform("linux", "amd64"))
        write_oci_layout(self.image_dir, [img], tag="latest")
        return f"oci:{self.image_dir}:latest"


class _FdWalk:
    """Directory fds along one path, at most ``KEEP`` open (deep trees exceed fd limits and
    PATH_MAX): going up past a closed one reopens it as ``..`` of its child."""

    KEEP = 64

    def __init__(self, top: Path):
        self.stack: list[list] = [[None, os.open(top, os.O_RDONLY | os.O_DIRECTORY)]]

    def down(self, name: bytes) -> int:
        fd = os.open(
            name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=self.stack[-1][1]
        )
        self.stack.append([name, fd])
        old = len(self.stack) - 1 - self.KEEP
        if old >= 0 and self.stack[old][1] is not None:
            os.close(self.stack[old][1])
            self.stack[old][1] = None
        return fd

    def up(self) -> None:
        _, fd = self.stack.pop()
        if self.stack[-1][1] is None:
            self.stack[-1][1] = os.open(
                "..", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd
            )
        os.close(fd)

    def close(self) -> None:
        for _, fd in self.stack:
            if fd is not None:
                os.close(fd)


def snapshot(top: Path, *, skip: tuple[str, ...] = ()) -> dict[bytes, tuple]:
    """Every path below ``top`` (bytes names) -> (type, mode, size, sha256 or link text).

    Walks with directory fds and ``O_NOFOLLOW``, never path strings, so trees deeper than
    PATH_MAX are read too and a symlink is recorded, never followed."""
    out: dict[bytes, tuple] = {}
    skip_b = {os.fsencode(s) for s in skip}
    walk = _FdWalk(top)
    # Frames: (relative path of the directory, names still to visit).
    frames: list[tuple[bytes, list[bytes]]] = [
        (b"", sorted(map(os.fsencode, os.listdir(walk.stack[-1][1]))))
    ]
    frames[0][1].reverse()
    try:
        while frames:
            rel, todo = frames[-1]
            if not todo:
                frames.pop()
                if frames:
                    walk.up()
                continue
            name = todo.pop()
            r = rel + b"/" + name if rel else name
            if r in skip_b:
                continue
            dfd = walk.stack[-1][1]
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                out[r] = ("dir", stat.S_IMODE(st.st_mode))
                fd = walk.down(name)
                if not st.st_mode & 0o500 and os.geteuid() != 0:  # pragma: no cover
                    raise PermissionError(f"cannot read {r!r}")
                names = sorted(map(os.fsencode, os.listdir(fd)), reverse=True)
                frames.append((r, names))
            elif stat.S_ISLNK(st.st_mode):
                out[r] = ("symlink", os.readlink(name, dir_fd=dfd))
            elif stat.S_ISREG(st.st_mode):
                f = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dfd)
                try:
                    h = hashlib.sha256()
                    while chunk := os.read(f, 1 << 20):
                        h.update(chunk)
                finally:
                    os.close(f)
                out[r] = (
                    "file",
                    stat.S_IMODE(st.st_mode),
                    st.st_nlink,
                    h.hexdigest(),
                    st.st_size,
                    st.st_ino,
                    int(st.st_mtime),
                )
            else:
                out[r] = ("other", st.st_mode)
    finally:
        walk.close()
    return out


def dest_listing(dest: Path, *, inodes: bool = False) -> dict[str, tuple]:
    """``snapshot`` of a destination, keyed by ``/``-absolute str paths (surrogateescape);
    inode numbers dropped unless asked for (two extractions compare equal)."""
    out = {}
    for k, v in snapshot(dest).items():
        if v[0] == "file" and not inodes:
            v = v[:5] + v[6:]
        out["/" + os.fsdecode(k)] = v
    return out
