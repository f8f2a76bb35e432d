"""Craft tar archives byte by byte, including the ones ``tarfile`` refuses to write.

Every header is built here from its fields (POSIX ustar layout, 512-byte blocks), so a
test can put ``..`` in a name, a negative or base-256 size, a wrong checksum, a PAX
record claiming a huge size, a GNU sparse map, or junk after the end marker. Nothing
here parses; the engine's reader is what is under test.

Layout of a ustar header (offset, length)::

    name 0,100  mode 100,8  uid 108,8  gid 116,8  size 124,12  mtime 136,12
    chksum 148,8  typeflag 156,1  linkname 157,100  magic 257,6  version 263,2
    uname 265,32  gname 297,32  devmajor 329,8  devminor 337,8  prefix 345,155
"""

from __future__ import annotations

import gzip
import io
import struct
import zlib
from collections.abc import Iterable

BLOCK = 512
END = b"\0" * (2 * BLOCK)

REG, HARDLINK, SYMLINK, CHAR, BLOCKDEV, DIR, FIFO = (
    b"0",
    b"1",
    b"2",
    b"3",
    b"4",
    b"5",
    b"6",
)
PAX, PAX_GLOBAL, GNU_LONGNAME, GNU_LONGLINK, GNU_SPARSE = b"x", b"g", b"L", b"K", b"S"

USTAR = b"ustar\x0000"
GNU_MAGIC = b"ustar  \x00"


def _b(s: str | bytes) -> bytes:
    return s if isinstance(s, bytes) else s.encode("utf-8", "surrogateescape")


def octal(n: int, width: int) -> bytes:
    """A NUL-terminated octal field of ``width`` bytes."""
    return (b"%0*o" % (width - 1, n)) + b"\0"


def base256(n: int, width: int) -> bytes:
    """The GNU base-256 (binary) number form: high bit set, two's complement big endian."""
    raw = (
        (n % (1 << (8 * width - 1))).to_bytes(width, "big")
        if n >= 0
        else (n % (1 << (8 * width))).to_bytes(width, "big")
    )
    return bytes([raw[0] | 0x80]) + raw[1:]


def _field(value: bytes, width: int) -> bytes:
    if len(value) > width:
        raise ValueError(f"field value {value!r} longer than {width}")
    return value.ljust(width, b"\0")


def header(
    name: str | bytes,
    *,
    type: bytes = REG,
    size: int = 0,
    mode: int = 0o644,
    uid: int = 0,
    gid: int = 0,
    mtime: int = 0,
    linkname: str | bytes = b"",
    magic: bytes = USTAR,
    prefix: str | bytes = b"",
    devmajor: int = 0,
    devminor: int = 0,
    size_field: bytes | None = None,
    chksum: int | None = None,
    extra: dict[int, bytes] | None = None,
) -> bytes:
    """One 512-byte header. ``size_field`` puts raw bytes in the size field (base-256,
    negative, garbage); ``chksum`` forces a (wrong) checksum; ``extra`` overwrites raw
    bytes at given offsets (GNU sparse maps)."""
    h = bytearray(BLOCK)
    h[0:100] = _field(_b(name), 100)
    h[100:108] = octal(mode, 8)
    h[108:116] = octal(uid, 8)
    h[116:124] = octal(gid, 8)
    h[124:136] = size_field if size_field is not None else octal(size, 12)
    h[136:148] = octal(mtime, 12)
    h[148:156] = b" " * 8
    h[156:157] = type
    h[157:257] = _field(_b(linkname), 100)
    h[257:265] = magic
    h[329:337] = octal(devmajor, 8)
    h[337:345] = octal(devminor, 8)
    h[345:500] = _field(_b(prefix), 155)
    for off, raw in (extra or {}).items():
        h[off : off + len(raw)] = raw
    s = sum(h) if chksum is None else chksum
    h[148:156] = b"%06o\0 " % s
    return bytes(h)


def pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % BLOCK)


def member(name: str | bytes, data: bytes = b"", **kw) -> bytes:
    """Header plus padded data. ``size`` defaults to ``len(data)`` (override to lie).

    A name or link name longer than its 100-byte field gets a PAX record first, as
    ``tarfile`` would write it (use :func:`header` for a raw, unfixed header)."""
    kw.setdefault("size", len(data))
    records = {}
    if len(_b(name)) > 100:
        records["path"], name = _b(name), _b(name)[:100]
    if len(_b(kw.get("linkname", b""))) > 100:
        records["linkpath"] = _b(kw["linkname"])
        kw["linkname"] = records["linkpath"][:100]
    return (pax(records) if records else b"") + header(name, **kw) + pad(data)


def file(name: str | bytes, data: bytes = b"", **kw) -> bytes:
    return member(name, data, type=REG, **kw)


def dir(name: str | bytes, **kw) -> bytes:
    kw.setdefault("mode", 0o755)
    return member(name, type=DIR, **kw)


def symlink(name: str | bytes, target: str | bytes, **kw) -> bytes:
    kw.setdefault("mode", 0o777)
    return member(name, type=SYMLINK, linkname=target, **kw)


def hardlink(name: str | bytes, target: str | bytes, **kw) -> bytes:
    return member(name, type=HARDLINK, linkname=target, **kw)


def special(name: str | bytes, type: bytes, **kw) -> bytes:
    return member(name, type=type, **kw)


def pax_records(records: dict[str, str | bytes]) -> bytes:
    """Encode PAX records ``"%d %s=%s\\n"`` with the self-including length."""
    out = []
    for key, value in records.items():
        body = b" " + _b(key) + b"=" + _b(value) + b"\n"
        n = len(body)
        while len(b"%d" % n) + len(body) != n:
            n = len(b"%d" % n) + len(body)
        out.append(b"%d" % n + body)
    return b"".join(out)


def pax(
    records: dict[str, str | bytes],
    *,
    global_: bool = False,
    name: str = "./PaxHeaders/x",
) -> bytes:
    """A PAX extended header (``x``) or global header (``g``) applying to what follows."""
    return member(name, pax_records(records), type=PAX_GLOBAL if global_ else PAX)


def gnu_longname(name: str | bytes) -> bytes:
    data = _b(name) + b"\0"
    return member("././@LongLink", data, type=GNU_LONGNAME, magic=GNU_MAGIC)


def gnu_longlink(target: str | bytes) -> bytes:
    data = _b(target) + b"\0"
    return member("././@LongLink", data, type=GNU_LONGLINK, magic=GNU_MAGIC)


def gnu_sparse(name: str, chunks: list[tuple[int, bytes]], realsize: int) -> bytes:
    """An old-GNU sparse file (type ``S``): a map of (offset, numbytes) in the header,
    then the data chunks back to back. The logical size is ``realsize``."""
    if len(chunks) > 4:
        raise ValueError("at most 4 chunks fit in the header map")
    extra: dict[int, bytes] = {}
    for i, (off, data) in enumerate(chunks):
        extra[386 + 24 * i] = octal(off, 12)
        extra[386 + 24 * i + 12] = octal(len(data), 12)
    extra[483] = octal(realsize, 12)  # realsize (isextended at 482 stays 0)
    payload = b"".join(d for _, d in chunks)
    return header(
        name, type=GNU_SPARSE, size=len(payload), magic=GNU_MAGIC, extra=extra
    ) + pad(payload)


def tar(*parts: bytes, end: bool = True) -> bytes:
    """Concatenate members and add the two zero blocks of the end marker."""
    return b"".join(parts) + (END if end else b"")


def many_empty_files(n: int, *, dirname: str = "d") -> Iterable[bytes]:
    """Yield ``n`` empty-file headers ``d/0000000``… fast: one template, checksums
    adjusted arithmetically instead of summing 512 bytes per header."""
    template = bytearray(header(f"{dirname}/0000000"))
    start = len(dirname) + 1
    blank = bytearray(template)
    blank[148:156] = b" " * 8
    base_sum = sum(blank) - sum(blank[start : start + 7])
    chunk: list[bytes] = []
    for i in range(n):
        digits = b"%07d" % i
        template[start : start + 7] = digits
        template[148:156] = b"%06o\0 " % (base_sum + sum(digits))
        chunk.append(bytes(template))
        if len(chunk) == 4096:
            yield b"".join(chunk)
            chunk = []
    if chunk:
        yield b"".join(chunk)


def deep_path(depth: int, component: str = "a") -> str:
    return "/".join([component] * depth)


# -- compression -----------------------------------------------------------------------


def gzip_bytes(data: bytes, *, level: int = 6) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(
        filename="", mode="wb", fileobj=out, mtime=0, compresslevel=level
    ) as gz:
        gz.write(data)
    return out.getvalue()


def gzip_chunks(chunks: Iterable[bytes], *, level: int = 1) -> bytes:
    """gzip a stream of chunks without holding the uncompressed whole."""
    co = zlib.compressobj(level, zlib.DEFLATED, 31)
    out = [co.compress(c) for c in chunks]
    out.append(co.flush())
    return b"".join(out)


def gzip_bad_crc(data: bytes) -> bytes:
    g = bytearray(gzip_bytes(data))
    g[-8] ^= 0xFF  # CRC32 is the 8 bytes before the end: crc32, isize (little endian)
    return bytes(g)


def gzip_multi_member(data: bytes, parts: int = 3) -> bytes:
    step = max(1, len(data) // parts)
    return b"".join(gzip_bytes(data[i : i + step]) for i in range(0, len(data), step))


def zstd_with_skippable(data: bytes) -> bytes:
    """zstd frames with skippable frames (magic 0x184D2A5?) before, between and after."""
    import zstandard

    def skippable(payload: bytes, nibble: int = 0) -> bytes:
        return struct.pack("<II", 0x184D2A50 | nibble, len(payload)) + payload

    half = len(data) // 2
    c = zstandard.ZstdCompressor(level=3)
    return (
        skippable(b"imagefs skippable frame")
        + c.compress(data[:half])
        + skippable(b"\0" * 100, 7)
        + c.compress(data[half:])
        + skippable(b"tail")
    )


def gzip_bomb_tar(inflated: int) -> bytes:
    """A gzip'd tar holding one file of ``inflated`` zero bytes (ratio ~1000:1)."""
    zero = b"\0" * (1 << 20)

    def chunks():
        yield header("bomb", size=inflated)
        left = inflated
        while left > 0:
            n = min(left, len(zero))
            yield zero[:n]
            left -= n
        yield b"\0" * (-inflated % BLOCK) + END

    return gzip_chunks(chunks(), level=9)
