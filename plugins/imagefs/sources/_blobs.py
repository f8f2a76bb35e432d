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

import io
import logging
import zlib
from typing import IO, Any, Callable

from .. import media
from ..errors import BudgetExceededError, DigestMismatchError, ImagefsError, InvalidImageError
from ._hashing import HashPipe, PipedHash, new_hasher
from ._inflate import READ_SIZE, ZlibGzipReader, ZstdFrames, sniff

try:  # ISA-L inflate: several times faster than zlib (benchmarks/inflate.py).
    from isal import isal_zlib as _isal_zlib

    _IsalGzipReader = getattr(_isal_zlib, "_GzipReader", None)
    _DECODE_ERRORS: tuple[type[BaseException], ...] = (EOFError, OSError, zlib.error, _isal_zlib.error)
except ImportError:  # pragma: no cover - isal is a runtime requirement
    _isal_zlib = None
    _IsalGzipReader = None
    _DECODE_ERRORS = (EOFError, OSError, zlib.error)

__all__ = ["LayerStream", "open_layer_stream", "sniff", "verify_bytes"]

log = logging.getLogger(__name__)

SNIFF_SIZE = 64 * 1024
RATIO_GRACE = 1 << 20  # the ratio budget applies once this much was inflated

# How to fix a blob that does not match its descriptor: the copy is damaged, not the image.
_REFETCH = "the blob is truncated or corrupt; copy or pull the image again"
# A layer that fails to decompress is detected before its digest can be checked.
_REDECODE = "copy or pull the image again (if that does not help, the image itself is broken)"
THREADED_HASH_MIN = 4 << 20  # blobs at least this big are hashed on a second thread

Progress = Callable[[int], Any]


def verify_bytes(data: bytes, desc: Any, where: str) -> None:
    """Check ``data`` against a descriptor: size first, then its sha256/sha512 digest."""
    if len(data) != desc.size:
        raise DigestMismatchError(f"{where}: size is {len(data)} bytes, the descriptor says {desc.size}")
    h = new_hasher(desc.digest)
    h.update(data)
    got = f"{desc.digest.split(':', 1)[0]}:{h.hexdigest()}"
    if got != desc.digest:
        raise DigestMismatchError(f"{where}: content digest is {got}, expected {desc.digest}")


class _Tap(io.RawIOBase):
    """The raw blob, at most ``size`` bytes of it, counted, hashed and reported."""

    def __init__(self, raw: IO[bytes], desc: Any, where: str, progress: Progress | None, pipe: "HashPipe | None" = None):
        super().__init__()
        self._raw = raw
        self._readinto = getattr(raw, "readinto", None)
        self._where = where
        self._desc = desc
        self.remaining = desc.size
        self.count = 0
        self.hash = PipedHash(desc.digest, pipe)
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
            f"{self._where}: blob ended after {self.count} bytes, the descriptor says {self._desc.size}; {_REFETCH}"
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
            raise DigestMismatchError(
                f"{self._where}: blob digest is {got}, the descriptor says {self._desc.digest}; {_REFETCH}"
            )

    def close(self) -> None:
        if not self.closed:
            try:
                self._raw.close()
            finally:
                super().close()


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
        self._pipe = HashPipe() if desc.size >= THREADED_HASH_MIN else None
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
        self._uhash = None if diff_id is None or same else PipedHash(diff_id, self._pipe)
        if self.compression == "gzip":
            if _IsalGzipReader is not None:
                self._dec: Any = _IsalGzipReader(self._tap, READ_SIZE)
            else:  # pragma: no cover
                self._dec = ZlibGzipReader(self._tap, _isal_zlib or zlib)  # isal without its C reader, or stdlib
        elif self.compression == "zstd":
            import zstandard

            self._frames = ZstdFrames()
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
        return InvalidImageError(f"{self.where}: {what}; {_REDECODE}")

    def _account(self, chunk: Any, n: int, owned: bool = False) -> None:
        self._inflated += n
        if self._uhash is not None:
            self._uhash.update(chunk, owned)
        lim = self._limits
        if lim is None:
            return
        if lim.max_inflated_bytes is not None and self._inflated > lim.max_inflated_bytes:
            raise BudgetExceededError(
                f"{self.where}: inflates to more than {lim.max_inflated_bytes} bytes (the max_inflated_bytes budget); if you trust the image, raise it with --max-inflated-bytes SIZE"
            )
        if (
            lim.max_inflate_ratio is not None
            and self.compression != "none"
            and self._inflated > RATIO_GRACE
            and self._inflated > lim.max_inflate_ratio * max(self._tap.count, 1)
        ):
            raise BudgetExceededError(
                f"{self.where}: inflate ratio over {lim.max_inflate_ratio}:1 "
                f"({self._inflated} bytes from {self._tap.count}); a compression bomb? "
                "If you trust the image, raise it with --max-inflate-ratio N"
            )

    def _decode(self, method: Any, arg: Any) -> Any:
        """Call the decoder, turning its errors into one typed error naming the layer."""
        try:
            return method(arg)
        except ImagefsError:
            raise
        except _DECODE_ERRORS as err:
            raise self._decode_error(err) from err
        except Exception as err:
            if self.compression == "zstd" and isinstance(err, self._zstd_error):
                raise self._decode_error(err) from err
            raise

    def readinto(self, b: Any) -> int:
        if self._done:
            return 0
        view = memoryview(b).cast("B")
        if not len(view):
            return 0
        n = self._decode(self._dec.readinto, view)
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
        data = self._decode(self._dec.read, n)
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
                raise InvalidImageError(f"{self.where}: truncated or corrupt zstd data ({what}); {_REDECODE}")
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
