"""Compression sniffing and pure-Python stream helpers for layer blobs.

* :func:`sniff` tells gzip, zstd (including a leading skippable frame) and plain apart;
* :class:`ZlibGzipReader` inflates multi-member gzip with any zlib-compatible module
  (the fallback when ISA-L's C reader is missing, and a benchmark subject);
* :class:`ZstdFrames` walks zstd frame/block headers to tell whether a stream ended on a
  frame boundary (zstandard's stream reader ends quietly inside a truncated frame).
"""

from __future__ import annotations

import zlib
from typing import Any

READ_SIZE = 1 << 20  # bytes pulled from a source per read
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def sniff(head: bytes) -> str:
    """``gzip``, ``zstd`` or ``none`` from a blob's first bytes."""
    if head[:2] == GZIP_MAGIC:
        return "gzip"
    if head[:4] == ZSTD_MAGIC:
        return "zstd"
    if len(head) >= 4 and head[1:4] == b"\x2a\x4d\x18" and head[0] & 0xF0 == 0x50:
        return "zstd"  # a skippable frame (0x184D2A50..5F, little-endian) first
    return "none"

class ZstdFrames:
    """Walks zstd frame and block headers as compressed bytes pass, to detect truncation.

    zstandard's stream reader ends quietly when its input stops inside a frame; this walker
    knows whether the input ended on a frame boundary. It reads only headers (frame header,
    3-byte block headers, skippable-frame lengths) and skips payloads, so it is cheap.
    """

    def __init__(self) -> None:
        self.state = "magic"
        self.need = 4
        self.buf = bytearray()
        self.skip = 0
        self.checksum = False
        self.bad: str | None = None
        self.offset = 0

    def feed(self, data: Any) -> None:
        mv = memoryview(data).cast("B")
        i, end = 0, len(mv)
        while i < end and self.bad is None:
            if self.skip:
                k = min(self.skip, end - i)
                self.skip -= k
                i += k
                continue
            k = min(self.need - len(self.buf), end - i)
            self.buf += mv[i : i + k]
            i += k
            if len(self.buf) == self.need:
                self._step(bytes(self.buf), self.offset + i - self.need)
                self.buf.clear()
        self.offset += end

    def _step(self, h: bytes, at: int) -> None:
        if self.state == "magic":
            if h == ZSTD_MAGIC:
                self.state, self.need = "fhd", 1
            elif sniff(h) == "zstd":
                self.state, self.need = "skiplen", 4
            else:
                self.bad = f"no zstd frame at byte {at}"
        elif self.state == "skiplen":
            self.skip = int.from_bytes(h, "little")
            self.state, self.need = "magic", 4
        elif self.state == "fhd":
            fhd = h[0]
            single = bool(fhd & 0x20)
            fcs = (1 if single else 0, 2, 4, 8)[fhd >> 6]
            self.skip = (0 if single else 1) + (0, 1, 2, 4)[fhd & 3] + fcs
            self.checksum = bool(fhd & 0x04)
            self.state, self.need = "block", 3
        else:  # block header
            v = int.from_bytes(h, "little")
            last, btype, size = v & 1, (v >> 1) & 3, v >> 3
            if btype == 3:
                self.bad = f"reserved zstd block type at byte {at}"
                return
            self.skip = 1 if btype == 1 else size
            if last:
                self.skip += 4 if self.checksum else 0
                self.state, self.need = "magic", 4

    @property
    def complete(self) -> bool:
        return self.bad is None and self.state == "magic" and not self.buf and not self.skip

class ZlibGzipReader:
    """Multi-member gzip over a zlib-compatible module (stdlib ``zlib``, ``zlib_ng``...).

    The fallback when ISA-L's C reader is missing, and a benchmark subject. Zero padding
    between or after members is skipped, as gzip(1) does.
    """

    def __init__(self, fp: Any, zmod: Any = zlib, read_size: int = READ_SIZE):
        self._fp = fp
        self._zmod = zmod
        self._read_size = read_size
        self._d: Any = None  # None between members
        self._in = b""

    def read(self, n: int) -> bytes:
        while True:
            if not self._in:
                self._in = self._fp.read(self._read_size)
                if not self._in:
                    if self._d is not None:
                        raise EOFError("compressed data ended before the end-of-stream marker")
                    return b""
            if self._d is None:
                self._in = self._in.lstrip(b"\x00")
                if not self._in:
                    continue
                if self._in[:1] != GZIP_MAGIC[:1] or (len(self._in) > 1 and self._in[:2] != GZIP_MAGIC):
                    raise OSError("not a gzip member (trailing garbage?)")
                self._d = self._zmod.decompressobj(31)
            out = self._d.decompress(self._in, n)
            self._in = self._d.unconsumed_tail
            if self._d.eof:
                self._in = self._d.unused_data + self._in
                self._d = None
            if out:
                return out

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)
