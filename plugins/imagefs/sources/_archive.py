"""Read files straight out of a tar archive (plain or gzipped), without extracting it.

``oci-archive:`` and ``docker-archive:`` images are tars of small documents and big
layer blobs. :class:`TarArchive` scans the headers once (``tarfile`` is used only as a
header parser; nothing is ever written to disk) and builds a member table
``name -> (offset, size)``. A plain tar member is then a window of the file read with
``os.pread`` (so several members can be open at once on one descriptor). A gzipped tar
has no random access: small members (documents) are kept in memory during the scan, and
a big member is reached by inflating from the start again and discarding up to its
offset, which costs time but never disk.
"""

from __future__ import annotations

import io
import logging
import os
import posixpath
import tarfile
import threading
from typing import IO, Any

from ..errors import ImagefsError, InvalidImageError, NotFoundError
from .base import read_capped

log = logging.getLogger(__name__)

SMALL_MEMBER = 256 * 1024  # gzipped archives: members up to this size are kept in memory
SMALL_BUDGET = 64 * 1024 * 1024  # ... up to this much in total
MAX_LINK_HOPS = 8
HEAD_SIZE = 8  # first bytes of each member kept for sniffing (gzipped archives)


def _open_gzip(path: str) -> IO[bytes]:
    try:
        from isal import igzip

        return igzip.open(path, "rb")
    except ImportError:  # pragma: no cover - isal is a runtime requirement
        import gzip

        return gzip.open(path, "rb")


def _norm(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    name = name.lstrip("/")
    return posixpath.normpath(name) if name else name


class _Window(io.RawIOBase):
    """``size`` bytes of a plain file from ``offset``, read with ``os.pread``."""

    def __init__(self, fd: int, offset: int, size: int):
        super().__init__()
        self._fd = fd
        self._pos = offset
        self._remaining = size

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        n = min(len(view), self._remaining)
        if n <= 0:
            return 0
        data = os.preadv(self._fd, [view[:n]], self._pos) if hasattr(os, "preadv") else None
        if data is None:  # pragma: no cover - platforms without preadv
            chunk = os.pread(self._fd, n, self._pos)
            data = len(chunk)
            view[:data] = chunk
        self._pos += data
        self._remaining -= data
        return data


class _GzipWindow(io.RawIOBase):
    """``size`` bytes from ``offset`` of a gzipped archive.

    A gzip stream has no random access: the window inflates (and discards) from the start,
    or from where a previously closed window of the same archive stopped, when that is
    not past ``offset`` (the archive keeps one such reader parked).
    """

    def __init__(self, archive: "TarArchive", offset: int, size: int):
        super().__init__()
        self._archive = archive
        parked = archive._unpark(offset)
        if parked is None:
            self._f, pos = _open_gzip(archive.path), 0
        else:
            self._f, pos = parked
        self._remaining = size
        skip = offset - pos
        scratch = memoryview(bytearray(min(1 << 20, max(skip, 1))))
        while skip > 0:
            n = self._f.readinto(scratch[: min(skip, len(scratch))])
            if not n:
                break
            skip -= n
        self._pos = offset - skip

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        n = min(len(view), self._remaining)
        if n <= 0:
            return 0
        got = self._f.readinto(view[:n])
        self._remaining -= got
        self._pos += got
        return got

    def close(self) -> None:
        if not self.closed:
            self._archive._park(self._f, self._pos)
            super().close()


class TarArchive:
    """A tar (or tar.gz) file's member table, and readers for its members."""

    def __init__(self, path: str | os.PathLike[str], where: str):
        self.path = os.fspath(path)
        self.where = where
        self.members: dict[str, tuple[int, int]] = {}
        self._links: dict[str, str] = {}
        self._small: dict[str, bytes] = {}
        self._heads: dict[str, bytes] = {}
        self._parked: tuple[IO[bytes], int] | None = None
        self._park_lock = threading.Lock()  # layers may be read by several threads
        try:
            self._fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError as err:
            raise NotFoundError(f"{where}: no such file {self.path!r}") from err
        except OSError as err:
            raise ImagefsError(f"{where}: cannot open {self.path!r}: {err.strerror}") from err
        try:
            if os.path.isdir(self.path):
                raise InvalidImageError(f"{where}: {self.path!r} is a directory, not an archive (for a layout directory use oci:)")
            self.gzipped = os.pread(self._fd, 2, 0) == b"\x1f\x8b"
            self._scan()
        except BaseException:
            os.close(self._fd)
            raise

    def _scan(self) -> None:
        f: IO[bytes] = _open_gzip(self.path) if self.gzipped else os.fdopen(os.dup(self._fd), "rb")
        budget = SMALL_BUDGET
        try:
            with tarfile.open(fileobj=f, mode="r|" if self.gzipped else "r:") as tf:
                for ti in tf:
                    name = _norm(ti.name)
                    if not name or name == ".":
                        continue
                    if ti.isreg():
                        self.members[name] = (ti.offset_data, ti.size)
                        self._links.pop(name, None)
                        if self.gzipped:
                            reader = tf.extractfile(ti)
                            assert reader is not None
                            if ti.size <= SMALL_MEMBER and budget >= ti.size:
                                data = reader.read()
                                self._small[name] = data
                                budget -= len(data)
                            else:
                                self._heads[name] = reader.read(HEAD_SIZE)
                    elif ti.islnk():
                        self._links[name] = _norm(ti.linkname)
                        self.members.pop(name, None)
                    elif ti.issym():
                        self._links[name] = _norm(posixpath.join(posixpath.dirname(name), ti.linkname))
                        self.members.pop(name, None)
        except (tarfile.TarError, EOFError, OSError, ValueError) as err:
            raise InvalidImageError(f"{self.where}: not a readable tar archive ({err})") from err
        finally:
            f.close()
        if not self.members:
            raise InvalidImageError(f"{self.where}: the archive holds no files")

    def resolve(self, name: str) -> str | None:
        """The regular member ``name`` is, following hard/symbolic links inside the tar."""
        name = _norm(name)
        for _ in range(MAX_LINK_HOPS):
            if name in self.members:
                return name
            if name not in self._links:
                return None
            name = self._links[name]
        return None

    def __contains__(self, name: str) -> bool:
        return self.resolve(name) is not None

    def size(self, name: str) -> int | None:
        real = self.resolve(name)
        return None if real is None else self.members[real][1]

    def head(self, name: str) -> bytes:
        """The first bytes of a member (for sniffing its compression), cheaply."""
        real = self.resolve(name)
        if real is None:
            return b""
        if real in self._small:
            return self._small[real][:HEAD_SIZE]
        if self.gzipped:
            return self._heads.get(real, b"")
        offset, size = self.members[real]
        return os.pread(self._fd, min(HEAD_SIZE, size), offset)

    def open(self, name: str) -> IO[bytes] | None:
        real = self.resolve(name)
        if real is None:
            return None
        if real in self._small:
            return io.BytesIO(self._small[real])
        offset, size = self.members[real]
        if self.gzipped:
            log.debug("%s: re-inflating %s from the start to reach %s", self.where, self.path, real)
            return _GzipWindow(self, offset, size)
        return _Window(self._fd, offset, size)

    def _unpark(self, offset: int) -> tuple[IO[bytes], int] | None:
        with self._park_lock:
            parked = self._parked
            if parked is not None and parked[1] <= offset:
                self._parked = None
                return parked
            return None

    def _park(self, f: IO[bytes], pos: int) -> None:
        with self._park_lock:
            if self._fd < 0:
                old: tuple[IO[bytes], int] | None = (f, pos)
            else:
                old, self._parked = self._parked, (f, pos)
        if old is not None:
            old[0].close()

    def read(self, name: str, cap: int) -> bytes | None:
        """A whole (small) member, or None if absent; over ``cap`` bytes is an error."""
        size = self.size(name)
        if size is None:
            return None
        if size > cap:
            raise InvalidImageError(f"{self.where}: {name} is {size} bytes, over the {cap}-byte cap for a document")
        f = self.open(name)
        assert f is not None
        with f:
            return read_capped(f, size)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        with self._park_lock:
            parked, self._parked = self._parked, None
        if parked is not None:
            parked[0].close()
