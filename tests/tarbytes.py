"""Hand-made tar bytes for header cases ``tarfile`` will not write (hostile or exotic)."""

from __future__ import annotations


def header(
    name: bytes,
    *,
    type: bytes = b"0",
    size: int = 0,
    mode: int = 0o644,
    uid: int = 0,
    gid: int = 0,
    mtime: int = 0,
    linkname: bytes = b"",
    magic: bytes = b"ustar\x0000",
    prefix: bytes = b"",
    devmajor: int = 0,
    devminor: int = 0,
    fields: dict[int, bytes] | None = None,
    checksum: bool = True,
) -> bytes:
    """One 512-byte header block; ``fields`` overrides raw bytes at offsets."""
    b = bytearray(512)
    b[0 : len(name)] = name
    b[100:108] = b"%07o\x00" % mode
    b[108:116] = b"%07o\x00" % uid
    b[116:124] = b"%07o\x00" % gid
    b[124:136] = b"%011o\x00" % size
    b[136:148] = b"%011o\x00" % mtime
    b[148:156] = b" " * 8
    b[156:157] = type
    b[157 : 157 + len(linkname)] = linkname
    b[257 : 257 + len(magic)] = magic
    b[329:337] = b"%07o\x00" % devmajor
    b[337:345] = b"%07o\x00" % devminor
    b[345 : 345 + len(prefix)] = prefix
    for off, raw in (fields or {}).items():
        b[off : off + len(raw)] = raw
    if checksum:
        b[148:156] = b"%06o\x00 " % sum(b)
    return bytes(b)


def data(payload: bytes) -> bytes:
    """File data padded to the 512-byte block."""
    return payload + bytes(-len(payload) % 512)


def member(name: bytes, payload: bytes = b"", **kw) -> bytes:
    return header(name, size=len(payload), **kw) + data(payload)


def pax(records: dict[bytes, bytes], *, type: bytes = b"x", name: bytes = b"PaxHeader") -> bytes:
    body = b""
    for k, v in records.items():
        rec = b" " + k + b"=" + v + b"\n"
        n = len(rec) + 1
        while len(b"%d" % n) + len(rec) != n:
            n += 1
        body += b"%d" % n + rec
    return header(name, type=type, size=len(body)) + data(body)


END = bytes(1024)


def base256(value: int, width: int) -> bytes:
    """GNU base-256 encoding of ``value`` in a ``width``-byte field."""
    if value >= 0:
        raw = bytearray(value.to_bytes(width, "big"))
        raw[0] |= 0x80
        return bytes(raw)
    return value.to_bytes(width, "big", signed=True)
