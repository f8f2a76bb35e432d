"""A lean, streaming tar reader for layer tars: headers parsed by hand from big buffers.

:func:`iter_members` reads an (already uncompressed) tar stream front to back and yields
one :class:`Member` per archive entry. It never seeks, never extracts and never copies
file data it is not asked for: the stream is read in 1 MiB chunks, headers are sliced
out of the chunk, and unread file data is skipped by moving an offset.

Formats understood (what real layer tars use, plus what hostile ones try):

- ustar/POSIX headers (the 155-byte ``prefix`` joins the name), old GNU headers, and V7
  headers (accepted only when their checksum is right);
- GNU long names and long link names (``L``/``K``);
- PAX extended headers (``x``): ``path``, ``linkpath``, ``size``, ``uid``, ``gid``,
  ``mtime`` (fractions dropped), ``SCHILY.xattr.NAME`` (raw bytes) and
  ``LIBARCHIVE.xattr.NAME`` (URL-encoded name, base64 value);
- PAX global headers (``g``) are read and **ignored**, as Go's ``archive/tar`` and with it
  Docker, containerd and umoci ignore them;
- base-256 numeric fields (GNU/star), spaces/NUL-terminated octal;
- GNU sparse files (old ``S`` headers and PAX 0.0/0.1/1.0): the member reports the real
  (expanded) size, and :meth:`Member.read` expands the holes as zeros; the map is only
  parsed and checked when the data is read (listing never needs it).

Everything else is an :class:`~imagefs.errors.InvalidImageError` naming ``where`` (the
layer) and the entry: negative or absurd sizes, special headers over 1 MiB, a truncated
archive, an unknown entry type (Docker's applier refuses those too), ``..`` components.
Two zero blocks end the archive; the rest of the stream (junk, record padding) is then
drained to EOF so the caller's digest check runs. As in Go's reader (what Docker,
containerd and umoci use), one zero block then EOF also ends it, one zero block followed by
data is an error, and an archive that ends at a block boundary without any end marker is
accepted.

Paths are normalised to absolute form: ``./`` and leading ``/`` stripped, ``//`` and
``/./`` collapsed, trailing ``/`` dropped; the root itself is ``/``. A backslash is an
ordinary character. Names are decoded as UTF-8 with ``surrogateescape`` so non-UTF-8
bytes survive losslessly. Hardlink targets are normalised the same way; symlink targets
are kept verbatim.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from typing import IO
from urllib.parse import unquote_to_bytes

from .errors import BudgetExceededError, InvalidImageError
from .tree import BLOCK, CHAR, DIR, FIFO, FILE, HARDLINK, SYMLINK

log = logging.getLogger(__name__)

CHUNK = 1 << 20
BLOCKSIZE = 512
MAX_SPECIAL = 1 << 20  # PAX / GNU long-name payloads (Go's archive/tar uses the same cap)
MAX_SIZE = 1 << 62  # no real file is larger; anything bigger is a hostile header
_ZERO = bytes(BLOCKSIZE)

_TYPES = {
    0x30: FILE,  # '0'
    0x00: FILE,  # '\0' (old AREGTYPE)
    0x37: FILE,  # '7' contiguous file
    0x53: FILE,  # 'S' GNU sparse
    0x31: HARDLINK,
    0x32: SYMLINK,
    0x33: CHAR,
    0x34: BLOCK,
    0x35: DIR,
    0x36: FIFO,
}
_PAX, _PAX_GLOBAL, _GNU_LONGNAME, _GNU_LONGLINK = 0x78, 0x67, 0x4C, 0x4B
_SPECIAL = frozenset((_PAX, _PAX_GLOBAL, _GNU_LONGNAME, _GNU_LONGLINK))
_CHR = tuple(chr(i) for i in range(256))


class Member:
    """One tar entry. Data is readable with :meth:`read`/:meth:`readinto` until the next one.

    ``path`` is normalised absolute (``/usr/bin/env``; the archive root is ``/``), ``name``
    the name as stored (decoded), ``rawtype`` the one-character type flag, ``type`` one of
    imagefs's entry types, ``mode`` the permission and special bits, ``linkname`` the
    normalised hardlink target or the verbatim symlink text, ``xattrs`` the extended
    attributes (name -> raw value). ``size`` is the file's real size (for GNU sparse files
    the expanded size; ``sparse`` is then true).
    """

    __slots__ = (
        "_reader",
        "devmajor",
        "devminor",
        "gid",
        "linkname",
        "mode",
        "mtime",
        "name",
        "path",
        "rawtype",
        "size",
        "sparse",
        "type",
        "uid",
        "xattrs",
    )

    def __init__(self, path, name, rawtype, type_, mode, uid, gid, size, mtime, linkname, xattrs, devmajor, devminor, sparse, reader):
        self.path = path
        self.name = name
        self.rawtype = rawtype
        self.type = type_
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.size = size
        self.mtime = mtime
        self.linkname = linkname
        self.xattrs = xattrs
        self.devmajor = devmajor
        self.devminor = devminor
        self.sparse = sparse
        self._reader = reader

    def __repr__(self) -> str:
        return f"Member({self.path!r}, {self.type}, size={self.size})"

    def _check(self) -> _Reader:
        r = self._reader
        if r.owner is not self:
            raise ValueError(f"data of tar member {self.path!r} is no longer available (the reader moved on)")
        return r

    def read(self, n: int = -1) -> bytes:
        """Read up to ``n`` bytes of the member's data (all that is left when ``n < 0``)."""
        r = self._check()
        if self.sparse:
            return self._sparse_read(r, n)
        return self._raw(r, n)

    def _raw(self, r: _Reader, n: int) -> bytes:
        """Up to ``n`` of the stored data bytes (exactly ``n`` while there are that many)."""
        rem = r.remaining
        if n < 0 or n > rem:
            n = rem
        if n <= 0:
            return b""
        buf, pos = r.buf, r.pos
        have = len(buf) - pos
        if have >= n:
            r.pos = pos + n
            r.remaining = rem - n
            return buf[pos : pos + n]
        parts = [buf[pos:]] if have else []
        got = have
        r.buf, r.pos = b"", 0
        read = r.stream.read
        while got < n:
            chunk = read(max(CHUNK, n - got))
            if not chunk:
                raise r.truncated(self.path)
            need = n - got
            if len(chunk) > need:
                parts.append(chunk[:need])
                r.buf, r.pos = chunk, need
                got = n
            else:
                parts.append(chunk)
                got += len(chunk)
        r.remaining = rem - n
        return b"".join(parts)

    def readinto(self, b) -> int:
        """Read data into a writable buffer; return the number of bytes (0 at the end)."""
        r = self._check()
        mv = memoryview(b).cast("B")
        if self.sparse:
            data = self._sparse_read(r, len(mv))
            mv[: len(data)] = data
            return len(data)
        n = min(len(mv), r.remaining)
        if n <= 0:
            return 0
        have = len(r.buf) - r.pos
        if have == 0:
            chunk = r.stream.read(CHUNK)
            if not chunk:
                raise r.truncated(self.path)
            r.buf, r.pos, have = chunk, 0, len(chunk)
        n = min(n, have)
        mv[:n] = r.buf[r.pos : r.pos + n]
        r.pos += n
        r.remaining -= n
        return n

    def readable(self) -> bool:
        return True

    # -- GNU sparse files ---------------------------------------------------------------
    def _sparse_read(self, r: _Reader, n: int) -> bytes:
        sp = self.sparse
        if sp.segs is None:
            sp.segs = self._sparse_map_from_data(r)
        if not sp.checked:
            sp.check(self.size, r.remaining, r.where, self.path)
        segs, size = sp.segs, self.size
        if n < 0:
            n = size - sp.pos
        out = []
        while n > 0 and sp.pos < size:
            pos = sp.pos
            if sp.idx < len(segs):
                off, nb = segs[sp.idx]
                if pos < off:
                    k = min(off - pos, n)
                    out.append(bytes(k))
                elif pos < off + nb:
                    k = min(off + nb - pos, n)
                    out.append(self._raw(r, k))
                else:
                    sp.idx += 1
                    continue
            else:
                k = min(size - pos, n)
                out.append(bytes(k))
            sp.pos = pos + k
            n -= k
        return b"".join(out)

    def _sparse_map_from_data(self, r: _Reader) -> list[tuple[int, int]]:
        """PAX sparse 1.0: decimal lines (count, then offset/size pairs) padded to a block."""
        text = b""
        nums: list[int] = []
        want = None
        while want is None or len(nums) < want:
            if r.remaining < BLOCKSIZE or len(text) > MAX_SPECIAL:
                raise _bad(r.where, f"the sparse map of {self.path!r} is truncated or too long")
            text += self._raw(r, BLOCKSIZE)
            lines = text.split(b"\n")
            try:
                nums = [int(x) for x in lines[:-1]]
            except ValueError:
                raise _bad(r.where, f"the sparse map of {self.path!r} is not numeric") from None
            if nums and want is None:
                want = 1 + 2 * nums[0]
                if nums[0] < 0 or nums[0] > MAX_SPECIAL:
                    raise _bad(r.where, f"the sparse map of {self.path!r} has {nums[0]} entries")
        return list(zip(nums[1:want:2], nums[2:want:2]))


class _Sparse:
    """A GNU sparse member's map (data segments) and read position."""

    __slots__ = ("checked", "idx", "pos", "segs")

    def __init__(self, segs: list[tuple[int, int]] | None):
        self.segs = segs  # None: the map is at the start of the data (PAX 1.0)
        self.idx = 0
        self.pos = 0
        self.checked = False

    def check(self, size: int, stored: int, where: str, path: str) -> None:
        end = 0
        total = 0
        for off, nb in self.segs:
            if off < end or nb < 0 or off + nb > size:
                raise _bad(where, f"the sparse map of {path!r} has overlapping or out-of-range segments")
            end = off + nb
            total += nb
        if total != stored:
            raise _bad(where, f"the sparse map of {path!r} describes {total} bytes but {stored} are stored")
        self.checked = True


def _sparse_pairs(nums: list[int]) -> list[tuple[int, int]]:
    return list(zip(nums[0::2], nums[1::2]))


class _Reader:
    """The buffer shared by the header loop and the current member's ``read``."""

    __slots__ = ("buf", "owner", "pad", "pos", "remaining", "stream", "where")

    def __init__(self, stream: IO[bytes], where: str):
        self.stream = stream
        self.buf = b""
        self.pos = 0
        self.where = where
        self.remaining = 0  # unread data bytes of the current member
        self.pad = 0  # its padding to the next 512-byte block
        self.owner: Member | None = None

    def truncated(self, what: str) -> InvalidImageError:
        return InvalidImageError(
            f"{self.where}: the tar archive is truncated (inside {what!r}); the layer blob is incomplete or corrupt"
        )

    def fill(self, n: int) -> bool:
        """Make ``n`` bytes available at ``pos``; False when the stream ends first."""
        buf, pos = self.buf, self.pos
        have = len(buf) - pos
        if have >= n:
            return True
        parts = [buf[pos:]] if have else []
        read = self.stream.read
        while have < n:
            chunk = read(max(CHUNK, n - have))
            if not chunk:
                self.buf, self.pos = b"".join(parts), 0
                return False
            parts.append(chunk)
            have += len(chunk)
        self.buf = parts[0] if len(parts) == 1 else b"".join(parts)
        self.pos = 0
        return True

    def take(self, n: int, what: str) -> bytes:
        if not self.fill(n):
            raise self.truncated(what)
        pos = self.pos
        self.pos = pos + n
        return self.buf[pos : pos + n]

    def skip(self, n: int, what: str) -> None:
        have = len(self.buf) - self.pos
        if n <= have:
            self.pos += n
            return
        n -= have
        self.buf, self.pos = b"", 0
        read = self.stream.read
        while n > 0:
            chunk = read(CHUNK)
            if not chunk:
                raise self.truncated(what)
            if len(chunk) > n:
                self.buf, self.pos = chunk, n
                return
            n -= len(chunk)

    def drain(self) -> int:
        """Read the stream to EOF (junk after the end marker); return the bytes drained."""
        n = len(self.buf) - self.pos
        self.buf, self.pos = b"", 0
        read = self.stream.read
        while True:
            chunk = read(CHUNK)
            if not chunk:
                return n
            n += len(chunk)


def _bad(where: str, what: str) -> InvalidImageError:
    return InvalidImageError(f"{where}: {what}")


def _num(field: bytes, where: str, what: str) -> int:
    """A numeric header field: octal (NUL/space padded) or base-256 (GNU/star)."""
    if field and field[0] & 0x80:
        if field[0] & 0x40:  # negative, two's complement over the whole field
            return int.from_bytes(field, "big", signed=True)
        return int.from_bytes(bytes((field[0] & 0x3F,)) + field[1:], "big")
    s = field.partition(b"\0")[0]
    try:
        return int(s, 8)
    except ValueError:
        s = s.strip()
        if not s:
            return 0
        raise _bad(where, f"{what}: invalid numeric header field {field!r}") from None


def _checksum_ok(block: bytes) -> bool:
    try:
        want = int(block[148:156].partition(b"\0")[0].strip() or b"-1", 8)
    except ValueError:
        return False
    unsigned = sum(block[:148]) + 256 + sum(block[156:])
    if want == unsigned:
        return True
    signed = sum(b - 256 if b > 127 else b for b in block[:148] + block[156:]) + 256
    return want == signed


def _parse_pax(data: bytes, where: str, name: str) -> dict[bytes, bytes]:
    """``"%d %s=%s\\n"`` records; later records win. Raises on malformed records."""
    recs: dict[bytes, bytes] = {}
    pos, n = 0, len(data)
    while pos < n:
        if data[pos] == 0:  # NUL padding after the last record
            break
        sp = data.find(b" ", pos, pos + 24)
        try:
            length = int(data[pos:sp]) if sp > pos else -1
        except ValueError:
            length = -1
        if length <= sp - pos + 1 or pos + length > n or data[pos + length - 1] != 0x0A:
            raise _bad(where, f"malformed PAX extended header before {name!r}")
        key, eq, val = data[sp + 1 : pos + length - 1].partition(b"=")
        if not eq or not key:
            raise _bad(where, f"malformed PAX record {key[:40]!r} before {name!r}")
        if key == b"GNU.sparse.offset" or key == b"GNU.sparse.numbytes":  # PAX sparse 0.0
            m = recs.get(b"GNU.sparse.map")
            recs[b"GNU.sparse.map"] = m + b"," + val if m else val
        recs[key] = val
        pos += length
    return recs


def _pax_int(recs: dict[bytes, bytes], key: bytes, where: str, name: str, *, frac: bool = False) -> int | None:
    v = recs.get(key)
    if v is None or v == b"":
        return None
    if frac:
        v = v.partition(b".")[0] or b"0"
        if v == b"-":
            v = b"0"
    try:
        return int(v, 10)
    except ValueError:
        raise _bad(where, f"PAX {key.decode('ascii', 'replace')} value {v[:40]!r} of {name!r} is not a number") from None


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def normalize(name: str, where: str, *, what: str = "entry") -> str:
    """Normalise a member name to an absolute path; ``..`` components are refused."""
    p = name
    while p.startswith("./"):
        p = p[2:]
    if p and "//" not in p and "/." not in p and p[0] != "/" and p[-1] != "/" and p[0] != ".":
        return "/" + p
    parts = [c for c in p.split("/") if c and c != "."]
    if ".." in parts:
        raise InvalidImageError(
            f"{where}: {what} {name!r} has a '..' path component; refusing a path outside the image root"
        )
    return "/" + "/".join(parts)


def _check_path(path: str, raw_len: int, limits, where: str, name: str) -> None:
    if limits is None:
        return
    ml = limits.max_path_length
    if ml is not None and raw_len > ml:
        raise BudgetExceededError(
            f"{where}: entry name of {raw_len} bytes is over the {ml}-byte path length budget ({name[:80]!r}...); "
            "if you trust the image, raise it with --max-path-length N"
        )
    md = limits.max_path_depth
    if md is not None and path.count("/") > md:
        raise BudgetExceededError(
            f"{where}: entry {name[:80]!r}... is over the {md}-component path depth budget; "
            "if you trust the image, raise it with --max-path-depth N"
        )


def _gnu_sparse_old(r: _Reader, block: bytes, where: str, name: str) -> tuple[int, list[tuple[int, int]]]:
    """Old GNU sparse header: read the map (and its extension blocks), return the real size."""
    realsize = _num(block[483:495], where, name)
    segs: list[tuple[int, int]] = []

    def entries(raw: bytes, count: int) -> None:
        for i in range(count):
            e = raw[i * 24 : i * 24 + 24]
            if e[0] == 0:
                return
            segs.append((_num(e[:12], where, name), _num(e[12:], where, name)))

    entries(block[386:482], 4)
    extended = block[482]
    while extended:
        if len(segs) > 1 << 16:
            raise _bad(where, f"GNU sparse map of {name!r} is too long")
        ext = r.take(BLOCKSIZE, name)
        entries(ext[:504], 21)
        extended = ext[504]
    return realsize, segs


def iter_members(stream: IO[bytes], *, limits=None, where: str = "layer") -> Iterator[Member]:
    """Yield the members of the tar ``stream`` (see the module docstring for the rules).

    ``limits`` (:class:`~imagefs.sources.base.Limits`) bounds the entry count, path length
    and depth, and member sizes (``max_inflated_bytes``); ``where`` names the layer in
    every error. After the end marker the stream is drained to EOF.
    """
    r = _Reader(stream, where)
    max_entries = limits.max_entries if limits is not None else None
    max_size = MAX_SIZE
    if limits is not None and limits.max_inflated_bytes is not None:
        max_size = min(max_size, limits.max_inflated_bytes)
    max_link = limits.max_path_length if limits is not None else None
    types = _TYPES
    count = 0
    pax: dict[bytes, bytes] | None = None
    longname: bytes | None = None
    longlink: bytes | None = None
    last = "the start of the archive"
    while True:
        # Skip what the previous member left unread, plus its padding.
        owner = r.owner
        if owner is not None:
            r.owner = None
            left = r.remaining + r.pad
            if left:
                r.skip(left, owner.path)
                r.remaining = r.pad = 0
        buf, pos = r.buf, r.pos
        if len(buf) - pos < BLOCKSIZE:
            if not r.fill(BLOCKSIZE):
                if len(r.buf) - r.pos:
                    raise r.truncated(f"the header after {last}")
                if pax is not None or longname is not None or longlink is not None:
                    raise r.truncated(f"the header after {last}")
                log.debug("%s: tar archive has no end-of-archive marker", where)
                return
            buf, pos = r.buf, r.pos
        end = pos + BLOCKSIZE
        r.pos = end
        if buf[pos] == 0 and buf[pos:end] == _ZERO:
            # The end marker is two zero blocks. As in Go's archive/tar (so Docker,
            # containerd, umoci), one zero block then EOF is a complete archive, but one
            # zero block followed by anything else is an error: entries hidden behind a
            # lone zero block must not be skipped silently.
            if r.fill(BLOCKSIZE):
                if r.buf[r.pos : r.pos + BLOCKSIZE] != _ZERO:
                    raise _bad(where, f"a single zero block after {last} is followed by more data; the tar archive is corrupt")
            elif len(r.buf) - r.pos:
                raise r.truncated(f"the end marker after {last}")
            extra = r.drain()
            if extra:
                log.debug("%s: %d bytes after the tar end marker, ignored", where, extra)
            return
        magic = buf[pos + 257 : pos + 263]
        posix = magic == b"ustar\x00"
        if not posix and magic != b"ustar " and not _checksum_ok(buf[pos:end]):
            raise _bad(where, f"invalid tar header after {last} (bad checksum); the layer is not a tar archive or is corrupt")
        tf = buf[pos + 156]
        # mode, uid, gid, size, mtime: five NUL-terminated octal fields in a row (the
        # common case, parsed in one split); anything else goes the careful way.
        f = buf[pos + 100 : pos + 148].split(b"\0")
        try:
            if len(f) != 6 or f[5] or len(f[0]) != 7 or len(f[1]) != 7 or len(f[2]) != 7 or len(f[3]) != 11:
                raise ValueError
            mode, uid, gid, size, mtime = int(f[0], 8), int(f[1], 8), int(f[2], 8), int(f[3], 8), int(f[4], 8)
        except ValueError:
            mode = _num(buf[pos + 100 : pos + 108], where, "mode")
            uid = _num(buf[pos + 108 : pos + 116], where, "uid")
            gid = _num(buf[pos + 116 : pos + 124], where, "gid")
            size = _num(buf[pos + 124 : pos + 136], where, "size")
            mtime = _num(buf[pos + 136 : pos + 148], where, "mtime")
        mode &= 0o7777
        if size < 0 or size > max_size:
            if size > max_size and limits is not None and size <= MAX_SIZE:
                raise BudgetExceededError(
                    f"{where}: entry after {last} declares {size} bytes, over the {max_size}-byte inflated budget; if you trust the image, raise it with --max-inflated-bytes SIZE"
                )
            raise _bad(where, f"entry after {last} has an impossible size {size}")
        padded = (size + 511) & ~511

        if tf in _SPECIAL:
            if size > MAX_SPECIAL:
                raise _bad(where, f"extended header of {size} bytes after {last} is over the {MAX_SPECIAL}-byte cap")
            data = r.take(padded, f"the extended header after {last}")[:size]
            if tf == _PAX:
                recs = _parse_pax(data, where, last)
                if pax is None:
                    pax = recs
                else:
                    pax.update(recs)
            elif tf == _GNU_LONGNAME:
                longname = data.partition(b"\0")[0]
            elif tf == _GNU_LONGLINK:
                longlink = data.partition(b"\0")[0]
            else:
                log.debug("%s: PAX global header after %s ignored (as Docker and containerd do)", where, last)
            continue

        # -- a real entry ------------------------------------------------------------
        if longname is not None:
            rawname = longname
        else:
            rawname = buf[pos : pos + 100].partition(b"\0")[0]
            if posix and buf[pos + 345] != 0:
                rawname = buf[pos + 345 : pos + 500].partition(b"\0")[0] + b"/" + rawname
        rawlink = longlink  # the header's linkname is only sliced for links (below)
        xattrs: dict[str, bytes] = {}
        sparse = False
        realsize = size
        if pax is not None:
            v = pax.get(b"path")
            if v:
                rawname = v
            v = pax.get(b"linkpath")
            if v:
                rawlink = v
            nm = _decode(rawname)
            v = _pax_int(pax, b"size", where, nm)
            if v is not None:
                if v < 0 or v > max_size:
                    raise _bad(where, f"PAX size {v} of {nm!r} is impossible or over budget")
                size = realsize = v
                padded = (size + 511) & ~511
            v = _pax_int(pax, b"uid", where, nm)
            if v is not None:
                uid = v
            v = _pax_int(pax, b"gid", where, nm)
            if v is not None:
                gid = v
            v = _pax_int(pax, b"mtime", where, nm, frac=True)
            if v is not None:
                mtime = v
            for k, val in pax.items():
                if k.startswith(b"SCHILY.xattr."):
                    xattrs[_decode(k[13:])] = val
                elif k.startswith(b"LIBARCHIVE.xattr."):
                    try:
                        xattrs[_decode(unquote_to_bytes(k[17:]))] = base64.b64decode(val + b"==", validate=False)
                    except ValueError:
                        raise _bad(where, f"bad LIBARCHIVE.xattr value for {nm!r}") from None
                elif k.startswith(b"GNU.sparse."):
                    sparse = True
            if sparse:
                v = pax.get(b"GNU.sparse.name")
                if v:
                    rawname = v
                rs = _pax_int(pax, b"GNU.sparse.realsize", where, nm)
                if rs is None:
                    rs = _pax_int(pax, b"GNU.sparse.size", where, nm)
                if rs is not None:
                    realsize = rs
                if pax.get(b"GNU.sparse.major") == b"1":
                    sparse = _Sparse(None)
                else:
                    v = pax.get(b"GNU.sparse.map", b"")
                    try:
                        nums = [int(x) for x in v.split(b",")] if v else []
                    except ValueError:
                        raise _bad(where, f"GNU.sparse.map of {nm!r} is not numeric") from None
                    if len(nums) % 2:
                        raise _bad(where, f"GNU.sparse.map of {nm!r} has an odd number of values")
                    sparse = _Sparse(_sparse_pairs(nums))
            pax = None
        longname = longlink = None
        if tf == 0x53:  # old GNU sparse
            realsize, segs = _gnu_sparse_old(r, buf[pos:end], where, _decode(rawname))
            sparse = _Sparse(segs)
        if sparse and (realsize < 0 or realsize > max_size):
            raise _bad(where, f"GNU sparse size {realsize} of {_decode(rawname)!r} is impossible or over budget")

        name = rawname.decode("utf-8", "surrogateescape")
        type_ = types.get(tf)
        if type_ is None:
            raise _bad(
                where,
                f"entry {name!r} has unsupported tar type {chr(tf)!r}; container runtimes refuse such layers too",
            )
        if tf == 0 and name.endswith("/"):
            type_ = DIR
        # normalize(), inlined for the common case of a plain relative name
        if name and name[0] != "." and name[0] != "/" and name[-1] != "/" and "//" not in name and "/." not in name:
            path = "/" + name
        else:
            path = normalize(name, where)
        if limits is not None:
            _check_path(path, len(rawname), limits, where, name)
        last = name
        count += 1
        if max_entries is not None and count > max_entries:
            raise BudgetExceededError(f"{where}: more than {max_entries} entries (the entry budget); if you trust the image, raise it with --max-entries N")

        devmajor = devminor = 0
        linkname: str | None = None
        if type_ is FILE or type_ is DIR:
            pass
        elif type_ is SYMLINK:
            if rawlink is None:
                rawlink = buf[pos + 157 : pos + 257].partition(b"\0")[0]
            linkname = _decode(rawlink)
            if max_link is not None and len(rawlink) > max_link:
                raise BudgetExceededError(
                    f"{where}: symlink {name!r} has a target over the {max_link}-byte budget; "
                    "if you trust the image, raise it with --max-path-length N"
                )
        elif type_ is HARDLINK:
            if rawlink is None:
                rawlink = buf[pos + 157 : pos + 257].partition(b"\0")[0]
            if not rawlink:
                raise _bad(where, f"hardlink {name!r} has an empty target")
            if max_link is not None and len(rawlink) > max_link:
                raise BudgetExceededError(
                    f"{where}: hardlink {name!r} has a target over the {max_link}-byte budget; "
                    "if you trust the image, raise it with --max-path-length N"
                )
            linkname = normalize(_decode(rawlink), where, what=f"target of hardlink {name!r}:")
        elif type_ is CHAR or type_ is BLOCK:
            devmajor = _num(buf[pos + 329 : pos + 337], where, "devmajor")
            devminor = _num(buf[pos + 337 : pos + 345], where, "devminor")
        if uid < 0 or gid < 0:
            raise _bad(where, f"entry {name!r} has a negative owner {uid}:{gid}")

        m = Member(
            path,
            name,
            _CHR[tf],
            type_,
            mode,
            uid,
            gid,
            realsize,
            mtime,
            linkname,
            xattrs,
            devmajor,
            devminor,
            sparse,
            r,
        )
        # The member's data follows: skipped before the next header unless read first.
        r.owner = m
        r.remaining = size
        r.pad = padded - size
        yield m
