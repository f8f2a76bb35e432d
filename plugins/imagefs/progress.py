"""A small progress line on stderr while layers are read.

:class:`ProgressLine` is the ``progress`` factory that
:func:`imagefs.listing.list_image` takes: called with a layer, it returns the callback
that ``Layer.open(progress=...)`` calls with each count of compressed bytes consumed.
One line shows every layer being read (several when layers are read concurrently)::

    imagefs: 3f2a9c1d0b7e 12M/28M 43% | a91b2c3d4e5f 1.0M/4.0M 25%   [1/3 layers done]

It is drawn only when the stream is a terminal, ``TERM`` is not ``dumb`` and
``IMAGEFS_NO_PROGRESS`` is not set (and never with ``--quiet``); otherwise
:func:`progress_for` returns ``None`` and nothing is written. Redraws are throttled
(at most ten a second, plus one whenever a layer finishes) and guarded by a lock, so
callbacks may come from several threads. Closing clears the line.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Any

from .render.fields import human_size

MIN_INTERVAL = 0.1
MAX_SHOWN = 3


def enabled(stream: IO[str] | None = None, *, quiet: bool = False) -> bool:
    """Whether a progress line should be drawn on ``stream`` (default: stderr)."""
    stream = stream if stream is not None else sys.stderr
    if quiet or os.environ.get("IMAGEFS_NO_PROGRESS") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class _Bar:
    __slots__ = ("done", "short", "total")

    def __init__(self, short: str, total: int):
        self.short = short
        self.total = total
        self.done = 0


class ProgressLine:
    """The ``progress(layer) -> callback`` factory drawing one status line on ``stream``."""

    def __init__(self, stream: IO[str] | None = None, *, min_interval: float = MIN_INTERVAL):
        self.stream = stream if stream is not None else sys.stderr
        self.min_interval = min_interval
        self._lock = threading.Lock()
        self._bars: dict[int, _Bar] = {}
        self._finished = 0
        self._started = 0
        self._total_layers: int | None = None
        self._last_draw = 0.0
        self._width = 0

    def __call__(self, layer: Any) -> Callable[[int], None]:
        desc = getattr(layer, "descriptor", None)
        digest = getattr(desc, "digest", None) or getattr(layer, "digest", "") or ""
        total = int(getattr(desc, "size", 0) or 0)
        bar = _Bar(digest.split(":", 1)[-1][:12], total)
        with self._lock:
            key = self._started
            self._started += 1
            self._bars[key] = bar
            if self._total_layers is None:
                image = getattr(layer, "image", None)
                manifest = getattr(image, "manifest", None)
                if isinstance(manifest, dict) and isinstance(manifest.get("layers"), list):
                    self._total_layers = len(manifest["layers"])

        def advance(nbytes: int) -> None:
            with self._lock:
                bar.done += nbytes
                finished = bar.total > 0 and bar.done >= bar.total
                if finished and key in self._bars:
                    del self._bars[key]
                    self._finished += 1
                now = time.monotonic()
                if finished or now - self._last_draw >= self.min_interval:
                    self._last_draw = now
                    self._draw()

        return advance

    def line(self) -> str:
        """The current status text (without the carriage return)."""
        parts = []
        bars = list(self._bars.values())
        for bar in bars[:MAX_SHOWN]:
            if bar.total:
                pct = min(100, bar.done * 100 // bar.total)
                parts.append(f"{bar.short} {human_size(bar.done)}/{human_size(bar.total)} {pct}%")
            else:
                parts.append(f"{bar.short} {human_size(bar.done)}")
        if len(bars) > MAX_SHOWN:
            parts.append(f"+{len(bars) - MAX_SHOWN} more")
        total = self._total_layers if self._total_layers is not None else self._started
        text = "imagefs: " + (" | ".join(parts) if parts else "reading layers")
        return f"{text}   [{self._finished}/{total} layers done]"

    def _draw(self) -> None:
        text = self.line()
        pad = max(0, self._width - len(text))
        self._width = len(text)
        try:
            self.stream.write("\r" + text + " " * pad)
            self.stream.flush()
        except (OSError, ValueError):
            pass

    def close(self) -> None:
        """Clear the line (if anything was drawn)."""
        with self._lock:
            if self._width:
                try:
                    self.stream.write("\r" + " " * self._width + "\r")
                    self.stream.flush()
                except (OSError, ValueError):
                    pass
                self._width = 0

    def __enter__(self) -> ProgressLine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress_for(stream: IO[str] | None = None, *, quiet: bool = False) -> ProgressLine | None:
    """A :class:`ProgressLine` on ``stream`` (stderr) when one should be drawn, else ``None``."""
    stream = stream if stream is not None else sys.stderr
    return ProgressLine(stream) if enabled(stream, quiet=quiet) else None
