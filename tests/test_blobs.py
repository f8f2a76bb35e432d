"""Verified layer streams: sniffing, inflate, digests, budgets and progress."""

from __future__ import annotations

import gzip
import hashlib
import io
import struct

import pytest
import zstandard

from fixtures import F, layer
from imagefs import media
from imagefs.errors import BudgetExceededError, DigestMismatchError, ImagefsError, InvalidImageError
from imagefs.sources import _blobs
from imagefs.sources import _hashing
from imagefs.sources._blobs import open_layer_stream, sniff, verify_bytes
from imagefs.sources._inflate import ZlibGzipReader
from imagefs.sources.base import Descriptor, Limits

WHERE = "layer 3 (test) of oci:x"
TAR = layer(F("etc/hostname", b"box\n"), F("usr/share/doc/big", bytes(range(256)) * 4000))


@pytest.fixture(params=["inline-hash", "threaded-hash"])
def hash_mode(request, monkeypatch):
    """Run a test with hashing inline and on the second thread (big layers)."""
    monkeypatch.setattr(_blobs, "THREADED_HASH_MIN", 1 << 62 if request.param == "inline-hash" else 0)
    monkeypatch.setattr(_hashing, "HASH_BATCH", 1000)  # small batches: exercise batching and ordering
    return request.param


def sha(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


def gz(b: bytes) -> bytes:
    return gzip.compress(b, mtime=0)


def zst(b: bytes) -> bytes:
    return zstandard.ZstdCompressor(level=3).compress(b)


def skippable(payload: bytes = b"imagefs") -> bytes:
    return struct.pack("<II", 0x184D2A5A, len(payload)) + payload


def desc_for(blob: bytes, media_type: str = media.OCI_LAYER_GZIP, *, size: int | None = None, digest: str | None = None):
    return Descriptor(media_type, digest or sha(blob), len(blob) if size is None else size)


def read_all(blob: bytes, tar: bytes = TAR, *, media_type: str = media.OCI_LAYER_GZIP, diff_id: str | None = "auto",
             limits: Limits | None = None, progress=None, how: str = "readinto", **desc_kw) -> bytes:
    d = desc_for(blob, media_type, **desc_kw)
    did = sha(tar) if diff_id == "auto" else diff_id
    out = bytearray()
    with open_layer_stream(io.BytesIO(blob), d, did, WHERE, limits or Limits(), progress) as s:
        if how == "readinto":
            buf = bytearray(7777)
            while n := s.readinto(buf):
                out += buf[:n]
        elif how == "read":
            while chunk := s.read(5000):
                out += chunk
        else:
            out += s.read()
    return bytes(out)


@pytest.mark.parametrize(
    "blob, media_type",
    [
        pytest.param(gz(TAR), media.OCI_LAYER_GZIP, id="gzip-labelled-gzip"),
        pytest.param(TAR, media.OCI_LAYER_GZIP, id="plain-labelled-gzip-skopeo-1.9"),
        pytest.param(gz(TAR), media.OCI_LAYER, id="gzip-labelled-plain"),
        pytest.param(zst(TAR), media.OCI_LAYER_GZIP, id="zstd-labelled-gzip"),
        pytest.param(gz(TAR), media.OCI_LAYER_ZSTD, id="gzip-labelled-zstd"),
        pytest.param(TAR, media.OCI_LAYER, id="plain-labelled-plain"),
        pytest.param(zst(TAR), media.OCI_LAYER_ZSTD, id="zstd-labelled-zstd"),
        pytest.param(gz(TAR[:5000]) + gz(TAR[5000:]), media.OCI_LAYER_GZIP, id="multi-member-gzip"),
        pytest.param(gz(TAR) + b"\0" * 512, media.OCI_LAYER_GZIP, id="gzip-zero-padding"),
        pytest.param(zst(TAR[:5000]) + zst(TAR[5000:]), media.OCI_LAYER_ZSTD, id="multi-frame-zstd"),
        pytest.param(skippable() + zst(TAR), media.OCI_LAYER_ZSTD, id="zstd-leading-skippable-frame"),
        pytest.param(zst(TAR[:100]) + skippable(b"x" * 100) + zst(TAR[100:]), media.OCI_LAYER_ZSTD, id="zstd-skippable-frame-between"),
    ],
)
@pytest.mark.parametrize("how", ["readinto", "read", "readall"])
def test_content_is_sniffed_and_verified(blob, media_type, how, hash_mode):
    assert read_all(blob, media_type=media_type, how=how) == TAR


@pytest.mark.parametrize(
    "head, kind",
    [
        (b"\x1f\x8b\x08\x00", "gzip"),
        (b"\x28\xb5\x2f\xfd", "zstd"),
        (b"\x50\x2a\x4d\x18", "zstd"),
        (b"\x5f\x2a\x4d\x18", "zstd"),
        (b"\x60\x2a\x4d\x18", "none"),
        (b"etc/", "none"),
        (b"", "none"),
    ],
    ids=["gzip", "zstd", "skippable-50", "skippable-5f", "not-skippable-60", "tar", "empty"],
)
def test_sniff(head, kind):
    assert sniff(head) == kind


def _bad_crc(blob: bytes) -> bytes:
    b = bytearray(blob)
    b[-8] ^= 0xFF  # CRC32 in the trailer
    return bytes(b)


def _bad_isize(blob: bytes) -> bytes:
    b = bytearray(blob)
    b[-1] ^= 0x01
    return bytes(b)


@pytest.mark.parametrize(
    "blob, pattern",
    [
        pytest.param(gz(TAR)[:-40], "truncated gzip", id="truncated-gzip"),
        pytest.param(gz(TAR)[:20], "truncated gzip", id="gzip-header-only"),
        pytest.param(_bad_crc(gz(TAR)), "corrupt gzip", id="bad-crc"),
        pytest.param(_bad_isize(gz(TAR)), "corrupt gzip", id="bad-length-trailer"),
        pytest.param(gz(TAR) + b"junk after the member", "gzip", id="gzip-trailing-garbage"),
        pytest.param(b"\x1f\x8b" + b"\xff" * 100, "gzip", id="gzip-garbage-body"),
        pytest.param(zst(TAR) + b"junk", "corrupt zstd", id="zstd-trailing-garbage"),
    ],
)
def test_broken_compression_is_invalid_image_naming_the_layer(blob, pattern):
    with pytest.raises(InvalidImageError, match=pattern) as ei:
        read_all(blob)
    assert WHERE in str(ei.value) and "\n" not in str(ei.value)


def _zst_checksum(b: bytes) -> bytes:
    return zstandard.ZstdCompressor(level=1, write_checksum=True, write_content_size=False).compress(b)


@pytest.mark.parametrize(
    "blob",
    [
        pytest.param(zst(TAR)[:-30], id="cut-in-last-block"),
        pytest.param(zst(TAR)[:5], id="cut-in-frame-header"),
        pytest.param(_zst_checksum(TAR)[:-2], id="cut-in-checksum"),
        pytest.param(zst(TAR) + zst(b"x")[:-1], id="cut-in-second-frame"),
        pytest.param(skippable(b"x" * 50)[:20], id="cut-in-skippable-frame"),
    ],
)
@pytest.mark.parametrize("diff_id", ["none", "right"], ids=["no-diff-id", "diff-id-of-full-tar"])
def test_truncated_zstd_names_the_layer(blob, diff_id):
    # zstandard's stream reader ends quietly inside a frame; the frame walker does not.
    with pytest.raises(InvalidImageError, match="truncated or corrupt zstd") as ei:
        read_all(blob, media_type=media.OCI_LAYER_ZSTD, diff_id=None if diff_id == "none" else "auto")
    assert WHERE in str(ei.value)


@pytest.mark.parametrize(
    "blob",
    [
        pytest.param(_zst_checksum(TAR), id="checksum"),
        pytest.param(zstandard.ZstdCompressor(level=19).compress(b"a" * 300000 + TAR), id="rle-and-level-19"),
        pytest.param(skippable(b"") + zst(b"") + zst(TAR), id="empty-skippable-and-empty-frame"),
    ],
)
def test_zstd_frame_walker_accepts_valid_streams(blob):
    from imagefs.sources._inflate import ZstdFrames

    for step in (1, 7, 1 << 20):
        w = ZstdFrames()
        for i in range(0, len(blob), step):
            w.feed(blob[i : i + step])
        assert w.complete, (step, w.bad, w.state)


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        pytest.param({"digest": sha(b"other")}, "blob digest is", id="digest-mismatch"),
        pytest.param({"size": len(gz(TAR)) + 10}, "blob ended after", id="size-larger-than-blob"),
        pytest.param({"size": len(gz(TAR)) - 10}, "truncated gzip", id="size-smaller-than-blob"),
        pytest.param({"diff_id": sha(b"other")}, "diff_id", id="diff-id-mismatch"),
    ],
)
def test_digest_size_and_diff_id_mismatch_name_the_layer(kwargs, pattern, hash_mode):
    with pytest.raises(ImagefsError, match=pattern) as ei:
        read_all(gz(TAR), **kwargs)
    assert WHERE in str(ei.value)


def test_plain_layer_diff_id_mismatch(hash_mode):
    with pytest.raises(DigestMismatchError, match="diff_id"):
        read_all(TAR, media_type=media.OCI_LAYER, diff_id=sha(b"x"))


def test_no_diff_id_skips_that_check():
    assert read_all(gz(TAR), diff_id=None) == TAR


class _Guard(io.BytesIO):
    """Records how far the reader went; blob followed by bytes that must never be read."""

    def __init__(self, blob: bytes, tail: bytes):
        super().__init__(blob + tail)
        self.limit = len(blob)
        self.max_pos = 0

    def readinto(self, b):
        n = super().readinto(b)
        self.max_pos = max(self.max_pos, self.tell())
        return n


def test_never_reads_past_the_descriptor_size():
    blob = gz(TAR)
    raw = _Guard(blob, b"X" * 100000)
    with open_layer_stream(raw, desc_for(blob), sha(TAR), WHERE, Limits()) as s:
        assert s.read() == TAR
        assert s.verified
    assert raw.max_pos == raw.limit


def test_hash_thread_ends_when_the_stream_closes(monkeypatch):
    import threading

    monkeypatch.setattr(_blobs, "THREADED_HASH_MIN", 0)
    monkeypatch.setattr(_hashing, "HASH_BATCH", 10)
    blob = gz(TAR)
    for drain_it in (True, False):
        with open_layer_stream(io.BytesIO(blob), desc_for(blob), sha(TAR), WHERE, Limits()) as s:
            s.read() if drain_it else s.read(100)
    with pytest.raises(DigestMismatchError) as ei:  # fails while sniffing, before the stream exists
        open_layer_stream(io.BytesIO(blob[:100]), desc_for(blob), sha(TAR), WHERE, Limits())
    for t in threading.enumerate():
        if t.name == "imagefs-hash":
            t.join(timeout=5)
            assert not t.is_alive()
    assert ei.tb is not None  # the traceback (and the half-made stream) stayed alive throughout


def test_stream_closes_raw():
    blob = gz(TAR)
    raw = io.BytesIO(blob)
    s = open_layer_stream(raw, desc_for(blob), sha(TAR), WHERE, Limits())
    s.read(10)
    s.close()
    assert raw.closed


def test_verification_happens_only_at_eof():
    blob = gz(TAR)
    with open_layer_stream(io.BytesIO(blob), desc_for(blob), sha(b"wrong"), WHERE, Limits()) as s:
        s.read(100)  # no error yet
        with pytest.raises(DigestMismatchError):
            s.read()


@pytest.mark.parametrize("compress", [gz, zst], ids=["gzip", "zstd"])
def test_bomb_ratio_budget(compress):
    bomb = compress(b"\0" * (16 << 20))
    with pytest.raises(BudgetExceededError, match="ratio") as ei:
        read_all(bomb, b"\0" * (16 << 20), limits=Limits(max_inflate_ratio=50))
    assert WHERE in str(ei.value)


def test_bomb_ratio_not_applied_below_grace():
    data = b"\0" * (512 << 10)  # compresses >500:1 but is under 1 MiB inflated
    assert read_all(gz(data), data, limits=Limits(max_inflate_ratio=10)) == data


def test_inflated_bytes_budget():
    with pytest.raises(BudgetExceededError, match="max_inflated_bytes") as ei:
        read_all(gz(TAR), limits=Limits(max_inflated_bytes=len(TAR) - 1))
    assert WHERE in str(ei.value)


def test_plain_layer_has_no_ratio_budget():
    data = b"\0" * (3 << 20)
    assert read_all(data, data, media_type=media.OCI_LAYER, limits=Limits(max_inflate_ratio=1)) == data


def test_progress_reports_compressed_bytes():
    blob = gz(TAR)
    seen = []
    read_all(blob, progress=seen.append)
    assert sum(seen) == len(blob) and all(n > 0 for n in seen)


@pytest.mark.parametrize(
    "data, desc_kw, exc",
    [
        (b"{}", {}, None),
        (b"{}", {"size": 3}, DigestMismatchError),
        (b"{}", {"digest": sha(b"[]")}, DigestMismatchError),
    ],
    ids=["ok", "size-mismatch", "digest-mismatch"],
)
def test_verify_bytes(data, desc_kw, exc):
    d = desc_for(data, "application/json", **desc_kw)
    if exc is None:
        verify_bytes(data, d, "manifest of x")
    else:
        with pytest.raises(exc, match="manifest of x"):
            verify_bytes(data, d, "manifest of x")


def test_verify_bytes_sha512():
    data = b'{"a":1}'
    d = Descriptor("application/json", "sha512:" + hashlib.sha512(data).hexdigest(), len(data))
    verify_bytes(data, d, "x")


@pytest.mark.parametrize(
    "blob, expect",
    [
        (gz(TAR), TAR),
        (gz(b"a") + gz(b"b") + b"\0" * 10 + gz(b"c"), b"abc"),
    ],
    ids=["single", "multi-member-with-padding"],
)
def test_zlib_fallback_reader(blob, expect):
    r = ZlibGzipReader(io.BytesIO(blob), read_size=1000)
    out = bytearray()
    while chunk := r.read(3000):
        out += chunk
    assert bytes(out) == expect


@pytest.mark.parametrize(
    "blob, exc",
    [(gz(TAR)[:-10], EOFError), (gz(b"a") + b"zz", OSError)],
    ids=["truncated", "garbage"],
)
def test_zlib_fallback_reader_errors(blob, exc):
    r = ZlibGzipReader(io.BytesIO(blob))
    with pytest.raises(exc):
        while r.read(1 << 16):
            pass


def test_fallback_is_used_without_isal(monkeypatch):
    monkeypatch.setattr(_blobs, "_IsalGzipReader", None)
    assert read_all(gz(TAR[:3000]) + gz(TAR[3000:])) == TAR
    with pytest.raises(InvalidImageError, match="truncated gzip"):
        read_all(gz(TAR)[:-40])
