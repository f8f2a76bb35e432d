"""Verified blob reading: whole documents, and streaming layers that inflate as they go.

:func:`open_layer_stream` turns a raw (compressed, untrusted) blob stream into the
uncompressed tar stream of a layer, verifying everything on the way:

* the compressed bytes are counted and hashed as they are pulled from the source, never
  more than ``desc.size`` of them; at EOF their size and digest must match the descriptor;
* the compression is sniffed from the magic bytes (gzip ``1f 8b``, zstd ``28 b5 2f fd`` or
  a skippable frame ``5X 2a 4d 18``, anything else plain) and the magic wins over the media
  type: skopeo 1.9 and some builders label uncompressed layers ``+gzip``;
* gzip is inflated by ISA-L (python-isal's C gzip reader: multi-member, CRC and length
  checked), falling back to stdlib zlib; zstd by ``zstandard`` across frames, skipping
  skippable frames;
* the uncompressed bytes are hashed and must match the config's ``diff_id`` at EOF;
* the inflated total and the inflate ratio are held to :class:`~.base.Limits`.

Speed matters (a cold listing is bound by single-core inflate): reads are large, the
decoders fill the caller's buffer through ``readinto`` and read the source through
``readinto`` into their own buffer, so a byte is copied as few times as the decoder allows.
"""

from __future__ import annotations

import hashlib
import io
import logging
import queue
import threading
import zlib
from typing import IO, Any, Callable

from .. import media
from ..errors import BudgetExceededError, DigestMismatchError, ImagefsError, InvalidImageError

try:  # ISA-L inflate: several times faster than zlib (benchmarks/inflate.py).
    from isal import isal_zlib as _isal_zlib

    _IsalGzipReader = getattr(_isal_zlib, "_GzipReader", None)
    _DECODE_ERRORS: tuple[type[BaseException], ...] = (EOFError, OSError, zlib.error, _isal_zlib.error)
except ImportError:  # pragma: no cover - isal is a runtime requirement
    _isal_zlib = None
    _IsalGzipReader = None
    _DECODE_ERRORS = (EOFError, OSError, zlib.error)

log = logging.getLogger(__name__)

READ_SIZE = 1 << 20  # bytes pulled from the source per read
SNIFF_SIZE = 64 * 1024
RATIO_GRACE = 1 << 20  # the ratio budget applies once this much was inflated
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

HASH_BATCH = 256 * 1024
HASH_QUEUE = 32
THREADED_HASH_MIN = 4 << 20  # blobs at least this big are hashed on a second thread

Progress = Callable[[int], Any]


def _hasher(digest: str) -> Any:
    algo = digest.split(":", 1)[0]
    if algo not in ("sha256", "sha512"):
        raise InvalidImageError(f"unsupported digest algorithm in {digest!r}")
    return hashlib.new(algo)


class _HashPipe:
    """Hash on a second core: ``hashlib`` releases the GIL for large updates.

    Updates are batched to :data:`HASH_BATCH` bytes and handed to one worker thread in
    order, through a bounded queue (at most ``HASH_QUEUE`` batches in flight), so the
    inflating thread and the hashing thread run in parallel. ~30% faster on a 2-core
    machine for big layers (see benchmarks/inflate.py).
    """

    def __init__(self) -> None:
        self._q: queue.Queue = queue.Queue(maxsize=HASH_QUEUE)
        self._thread: threading.Thread | None = None

    def _work(self) -> None:
        while True:
            item = self._q.get()
            try:
                if item is None:
                    return
                h, data = item
                h.update(data)
            finally:
                self._q.task_done()

    def put(self, h: Any, data: bytes) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="imagefs-hash", daemon=True)
            self._thread.start()
        self._q.put((h, data))

    def wait(self) -> None:
        if self._thread is not None:
            self._q.join()

    def stop(self) -> None:
        if self._thread is not None:
            self._q.put(None)
            self._thread = None


class _PipedHash:
    """A hash whose updates run on a :class:`_HashPipe` (or inline without one)."""

    def __init__(self, digest: str, pipe: _HashPipe | None):
        self._h = _hasher(digest)
        self._pipe = pipe
        self._batch = bytearray()

    def update(self, data: Any, owned: bool = False) -> None:
        """Add ``data``; ``owned`` says it is an immutable ``bytes`` no one will reuse."""
        if self._pipe is None:
            self._h.update(data)
            return
        if len(data) >= HASH_BATCH:
            if self._batch:
                self._pipe.put(self._h, bytes(self._batch))
                self._batch.clear()
            self._pipe.put(self._h, data if owned and isinstance(data, bytes) else bytes(data))
            return
        self._batch += data
        if len(self._batch) >= HASH_BATCH:
            self._pipe.put(self._h, bytes(self._batch))
            self._batch.clear()

    def hexdigest(self) -> str:
        if self._pipe is not None:
            if self._batch:
                self._pipe.put(self._h, bytes(self._batch))
                self._batch.clear()
            self._pipe.wait()
        return self._h.hexdigest()


def verify_bytes(data: bytes, desc: Any, where: str) -> None:
    """Check ``data`` against a descriptor: size first, then its sha256/sha512 digest."""
    if len(data) != desc.size:
        raise DigestMismatchError(f"{where}: size is {len(data)} bytes, the descriptor says {desc.size}")
    h = _hasher(desc.digest)
    h.update(data)
    got = f"{desc.digest.split(':', 1)[0]}:{h.hexdigest()}"
    if got != desc.digest:
        raise DigestMismatchError(f"{where}: content digest is {got}, expected {desc.digest}")


def sniff(head: bytes) -> str:
    """``gzip``, ``zstd`` or ``none`` from a blob's first bytes."""
    if head[:2] == GZIP_MAGIC:
        return "gzip"
    if head[:4] == ZSTD_MAGIC:
        return "zstd"
    if len(head) >= 4 and head[1:4] == b"\x2a\x4d\x18" and head[0] & 0xF0 == 0x50:
        return "zstd"  # a skippable frame (0x184D2A50..5F, little-endian) first
    return "none"


class _ZstdFrames:
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


class _Tap(io.RawIOBase):
    """The raw blob, at most ``size`` bytes of it, counted, hashed and reported."""

    def __init__(self, raw: IO[bytes], desc: Any, where: str, progress: Progress | None, pipe: "_HashPipe | None" = None):
        super().__init__()
        self._raw = raw
        self._readinto = getattr(raw, "readinto", None)
        self._where = where
        self._desc = desc
        self.remaining = desc.size
        self.count = 0
        self.hash = _PipedHash(desc.digest, pipe)
        self._progress = progress
        self._pending = memoryview(b"")
        self.observer: Callable[[Any], None] | None = None
        self.head = self._fill_head()

    def _fill_head(self) -> bytes:
        buf = bytearray(min(SNIFF_SIZE, self.remaining))
        got = 0
        while got < len(buf):
            n = self._pull(memoryview(buf)[got:])
            if not n:
                break
            got += n
        self._pending = memoryview(bytes(buf[:got]))
        return bytes(self._pending[:8])

    def _short(self) -> DigestMismatchError:
        return DigestMismatchError(
            f"{self._where}: blob ended after {self.count} bytes, the descriptor says {self._desc.size}"
        )

    def _pull(self, view: memoryview) -> int:
        """Read from the source into ``view`` (never past ``size``); hash and count."""
        want = min(len(view), self.remaining)
        if want <= 0:
            return 0
        try:
            if self._readinto is not None:
                n = self._readinto(view[:want]) or 0
            else:
                chunk = self._raw.read(want) or b""
                n = len(chunk)
                view[:n] = chunk
        except ImagefsError:
            raise
        except (OSError, ValueError) as err:
            raise ImagefsError(f"{self._where}: reading the blob: {err}") from err
        if n == 0:
            raise self._short()
        self.hash.update(view[:n])
        if self.observer is not None:
            self.observer(view[:n])
        self.count += n
        self.remaining -= n
        if self._progress is not None:
            self._progress(n)
        return n

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        if self._pending:
            n = min(len(view), len(self._pending))
            view[:n] = self._pending[:n]
            self._pending = self._pending[n:]
            return n
        return self._pull(view)

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes as a new ``bytes`` (one copy, from the source's own read)."""
        if n is None or n < 0:
            n = self.remaining + len(self._pending)
        if self._pending:
            chunk = bytes(self._pending[:n])
            self._pending = self._pending[len(chunk) :]
            return chunk
        want = min(n, self.remaining)
        if want <= 0:
            return b""
        try:
            chunk = self._raw.read(want) or b""
        except ImagefsError:
            raise
        except (OSError, ValueError) as err:
            raise ImagefsError(f"{self._where}: reading the blob: {err}") from err
        if not chunk:
            raise self._short()
        if len(chunk) > want:  # a misbehaving source: never accept more than size
            raise DigestMismatchError(f"{self._where}: the source returned more than the descriptor's {self._desc.size} bytes")
        self.hash.update(chunk, True)
        if self.observer is not None:
            self.observer(chunk)
        self.count += len(chunk)
        self.remaining -= len(chunk)
        if self._progress is not None:
            self._progress(len(chunk))
        return chunk

    def drain(self) -> None:
        self._pending = memoryview(b"")
        scratch = memoryview(bytearray(min(READ_SIZE, max(self.remaining, 1))))
        while self.remaining > 0:
            self._pull(scratch)

    def verify(self) -> None:
        if self.count != self._desc.size:
            raise self._short()
        got = f"{self._desc.digest.split(':', 1)[0]}:{self.hash.hexdigest()}"
        if got != self._desc.digest:
            raise DigestMismatchError(f"{self._where}: blob digest is {got}, the descriptor says {self._desc.digest}")

    def close(self) -> None:
        if not self.closed:
            try:
                self._raw.close()
            finally:
                super().close()


class _ZlibGzipReader:
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


class LayerStream(io.RawIOBase):
    """A layer's uncompressed tar, verified against its descriptor and diff_id at EOF."""

    def __init__(
        self,
        raw: IO[bytes],
        desc: Any,
        diff_id: str | None,
        where: str,
        limits: Any,
        progress: Progress | None = None,
    ):
        super().__init__()
        self.where = where
        self._desc = desc
        self._diff_id = diff_id
        self._limits = limits
        self._pipe = _HashPipe() if desc.size >= THREADED_HASH_MIN else None
        try:
            self._tap = _Tap(raw, desc, where, progress, self._pipe)
        except BaseException:
            raw.close()
            self._stop_pipe()
            raise
        self.compression = sniff(self._tap.head)
        declared = media.layer_compression(desc.media_type)
        if declared != self.compression:
            log.debug("%s: media type %s says %s, the content is %s", where, desc.media_type, declared, self.compression)
        self._inflated = 0
        self._done = False
        # A plain layer's diff_id is its blob digest: no second hash needed.
        same = self.compression == "none" and diff_id is not None and diff_id.split(":")[0] == desc.digest.split(":")[0]
        self._uhash = None if diff_id is None or same else _PipedHash(diff_id, self._pipe)
        if self.compression == "gzip":
            if _IsalGzipReader is not None:
                self._dec: Any = _IsalGzipReader(self._tap, READ_SIZE)
            else:  # pragma: no cover
                self._dec = _ZlibGzipReader(self._tap)
        elif self.compression == "zstd":
            import zstandard

            self._frames = _ZstdFrames()
            self._frames.feed(self._tap._pending)  # everything pulled so far
            self._tap.observer = self._frames.feed
            self._dec = zstandard.ZstdDecompressor().stream_reader(
                self._tap, read_size=READ_SIZE, read_across_frames=True, closefd=False
            )
            self._zstd_error: type[BaseException] = zstandard.ZstdError
        else:
            self._dec = self._tap

    # -- io ------------------------------------------------------------------
    def readable(self) -> bool:
        return True

    def _decode_error(self, err: BaseException) -> InvalidImageError:
        if isinstance(err, EOFError):
            what = f"truncated {self.compression} data (it ends before its end-of-stream marker)"
        else:
            what = f"corrupt {self.compression} data ({err})"
        return InvalidImageError(f"{self.where}: {what}")

    def _account(self, chunk: Any, n: int, owned: bool = False) -> None:
        self._inflated += n
        if self._uhash is not None:
            self._uhash.update(chunk, owned)
        lim = self._limits
        if lim is None:
            return
        if lim.max_inflated_bytes is not None and self._inflated > lim.max_inflated_bytes:
            raise BudgetExceededError(
                f"{self.where}: inflates to more than {lim.max_inflated_bytes} bytes (the max_inflated_bytes budget)"
            )
        if (
            lim.max_inflate_ratio is not None
            and self.compression != "none"
            and self._inflated > RATIO_GRACE
            and self._inflated > lim.max_inflate_ratio * max(self._tap.count, 1)
        ):
            raise BudgetExceededError(
                f"{self.where}: inflate ratio over {lim.max_inflate_ratio}:1 "
                f"({self._inflated} bytes from {self._tap.count}); a compression bomb?"
            )

    def readinto(self, b: Any) -> int:
        if self._done:
            return 0
        view = memoryview(b).cast("B")
        if not len(view):
            return 0
        try:
            n = self._dec.readinto(view)
        except ImagefsError:
            raise
        except _DECODE_ERRORS as err:
            raise self._decode_error(err) from err
        except Exception as err:
            if self.compression == "zstd" and isinstance(err, self._zstd_error):
                raise self._decode_error(err) from err
            raise
        if n:
            self._account(view[:n], n)
            return n
        self._finish()
        return 0

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0:
            return self.readall()
        if self._done or n == 0:
            return b""
        try:
            data = self._dec.read(n)
        except ImagefsError:
            raise
        except _DECODE_ERRORS as err:
            raise self._decode_error(err) from err
        except Exception as err:
            if self.compression == "zstd" and isinstance(err, self._zstd_error):
                raise self._decode_error(err) from err
            raise
        if data:
            self._account(data, len(data), True)
            return data
        self._finish()
        return b""

    def readall(self) -> bytes:
        parts = []
        while True:
            chunk = self.read(READ_SIZE)
            if not chunk:
                return b"".join(parts)
            parts.append(chunk)

    def _finish(self) -> None:
        """EOF of the uncompressed stream: check the blob and the diff_id."""
        self._done = True
        self._tap.drain()
        try:
            self._tap.verify()
            if self.compression == "zstd" and not self._frames.complete:
                what = self._frames.bad or "it ends inside a frame"
                raise InvalidImageError(f"{self.where}: truncated or corrupt zstd data ({what})")
        except BaseException:
            self._stop_pipe()
            raise
        if self._diff_id is None:
            return
        if self._uhash is None:
            got = f"{self._desc.digest.split(':', 1)[0]}:{self._tap.hash.hexdigest()}"
        else:
            got = f"{self._diff_id.split(':', 1)[0]}:{self._uhash.hexdigest()}"
        self._stop_pipe()
        if got != self._diff_id:
            raise DigestMismatchError(
                f"{self.where}: uncompressed content digest is {got}, the config's diff_id says {self._diff_id}"
            )

    def _stop_pipe(self) -> None:
        if self._pipe is not None:
            self._pipe.stop()
            self._pipe = None

    @property
    def verified(self) -> bool:
        """True once EOF was reached and every check passed."""
        return self._done

    @property
    def compressed_bytes(self) -> int:
        return self._tap.count

    @property
    def inflated_bytes(self) -> int:
        return self._inflated

    def close(self) -> None:
        if not self.closed:
            try:
                close = getattr(self._dec, "close", None)
                if close is not None and self._dec is not self._tap:
                    try:
                        close()
                    except Exception:  # noqa: BLE001 - closing a half-read decoder
                        pass
                self._tap.close()
            finally:
                self._stop_pipe()
                super().close()


def open_layer_stream(
    raw: IO[bytes],
    desc: Any,
    diff_id: str | None,
    where: str,
    limits: Any,
    progress: Progress | None = None,
) -> LayerStream:
    """A readable, verified stream of a layer's uncompressed tar (see the module docstring).

    The digest, size and diff_id checks run when the stream reaches EOF, so the reader
    must read until ``read`` returns ``b""`` (past the tar end marker). Closing it closes
    ``raw``.
    """
    return LayerStream(raw, desc, diff_id, where, limits, progress)
