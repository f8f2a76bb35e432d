"""The per-layer index cache: re-listing an image reads no layer bytes.

A layer's index (:class:`~imagefs.layer_index.LayerIndex`) depends only on its
uncompressed content, so it is cached under the layer's ``diff_id``
(:attr:`~imagefs.sources.base.Layer.cache_key`), shared by every image that holds the
layer. The directory is ``$IMAGEFS_CACHE_DIR``, else ``$XDG_CACHE_HOME/imagefs``, else
``~/.cache/imagefs``; entries live in ``layers/<algorithm>/<hex>.json``.

Each file is a compact JSON document (one array per entry; see
:meth:`LayerIndex.to_json`) with its key and format version inside. Writes are atomic (a
temporary file in the same directory, then ``os.replace``), so readers never see half a
file. A file that is corrupt, of another version or for another key is ignored with a
warning and rebuilt. A cache that cannot be written (read-only home) only logs a warning.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from .layer_index import INDEX_VERSION, LayerIndex, paused_gc
from .sources.base import DIGEST_RE

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """``$IMAGEFS_CACHE_DIR``, else ``$XDG_CACHE_HOME/imagefs``, else ``~/.cache/imagefs``."""
    env = os.environ.get("IMAGEFS_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "imagefs"
    return Path.home() / ".cache" / "imagefs"


class LayerCache:
    """Layer indexes on disk, keyed by digest (``sha256:<hex>``)."""

    def __init__(self, directory: str | os.PathLike[str] | None = None):
        self.directory = Path(directory) if directory is not None else default_cache_dir()

    def __repr__(self) -> str:
        return f"LayerCache({str(self.directory)!r})"

    def path(self, key: str) -> Path:
        if not isinstance(key, str) or not DIGEST_RE.match(key):
            raise ValueError(f"layer cache key {key!r} is not a digest")
        algo, hexd = key.split(":", 1)
        return self.directory / "layers" / algo / f"{hexd}.json"

    def get(self, key: str) -> LayerIndex | None:
        """The cached index for ``key``, or None (missing, corrupt or outdated)."""
        p = self.path(key)
        try:
            data = p.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None  # not cached (NotADirectoryError: the cache directory is a file; put() says so)
        except OSError as err:
            log.warning("layer cache: cannot read %s (%s); indexing the layer again", p, err)
            return None
        try:
            with paused_gc():
                doc = json.loads(data)
                if not isinstance(doc, dict) or doc.get("key") != key:
                    raise ValueError(f"the file is for {doc.get('key') if isinstance(doc, dict) else None!r}")
                if doc.get("version") != INDEX_VERSION:
                    log.warning(
                        "layer cache: %s has format version %r (this imagefs writes %d); rebuilding it",
                        p,
                        doc.get("version"),
                        INDEX_VERSION,
                    )
                    return None
                return LayerIndex.from_json(doc)
        except (ValueError, KeyError, TypeError, IndexError) as err:
            log.warning("layer cache: ignoring corrupt entry %s (%s); indexing the layer again", p, err)
            return None

    def put(self, key: str, index: LayerIndex) -> None:
        """Store ``index`` under ``key`` atomically; failures only log a warning."""
        p = self.path(key)
        doc = index.to_json()
        doc["key"] = key
        data = json.dumps(doc, separators=(",", ":")).encode("ascii")
        import tempfile

        tmp = None
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, p)
            tmp = None
        except OSError as err:
            log.warning(
                "layer cache: cannot write %s (%s); listing works, but without the cache "
                "(set IMAGEFS_CACHE_DIR to a writable directory, or pass --no-cache)",
                p,
                err,
            )
        finally:
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass

    def clear(self) -> int:
        """Delete every cached layer index; return how many files were removed."""
        n = 0
        root = self.directory / "layers"
        if not root.is_dir():
            return 0
        for f in root.glob("*/*.json"):
            try:
                f.unlink()
                n += 1
            except OSError as err:
                log.warning("layer cache: cannot remove %s (%s)", f, err)
        return n
