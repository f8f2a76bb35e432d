"""List an image: index every layer (cached), merge them, describe the image.

:func:`list_image` is what ``imagefs list`` runs::

    tree = list_image("oci:./layout:latest", platform="linux/amd64")
    tree.image.layers[0].created_by, tree.get("/etc/passwd").layer

:func:`index_layers` is the per-layer step on its own: a layer whose index is in the
cache (:class:`~imagefs.cache.LayerCache`, keyed by diff_id) is never opened; any other
layer is read once from its verified stream (``Layer.open``), indexed, checked (the blob
and diff_id digests are verified when the stream reaches EOF), and stored.

``progress`` is a factory: ``progress(layer)`` is called once for each layer that is
actually read (never for cache hits) and returns a callback, or None. The callback gets
the number of compressed bytes consumed since its last call (``Layer.open(progress=)``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from .cache import LayerCache
from .errors import (
    BudgetExceededError,
    DigestMismatchError,
    ImagefsError,
    InvalidImageError,
)
from .layer_index import LayerIndex, index_layer
from .merge import merge
from .tree import ImageInfo, LayerInfo, Tree

log = logging.getLogger(__name__)

# The subset of the image config's "config" object a listing keeps.
CONFIG_KEYS = ("User", "Env", "Entrypoint", "Cmd", "WorkingDir", "ExposedPorts", "Labels")

ProgressFactory = Callable[[Any], "Callable[[int], Any] | None"]


def _layer_cache(cache: bool | LayerCache | None) -> LayerCache | None:
    if cache is True:
        return LayerCache()
    if cache is False or cache is None:
        return None
    if isinstance(cache, LayerCache):
        return cache
    raise TypeError(f"cache must be True, False or a LayerCache, not {cache!r}")


def _read_layer(layer, limits, progress: ProgressFactory | None) -> LayerIndex:
    cb = progress(layer) if progress is not None else None
    stream = layer.open(progress=cb) if cb is not None else layer.open()
    try:
        try:
            ix = index_layer(stream, limits=limits, where=layer.describe())
        except InvalidImageError as err:
            if isinstance(err, BudgetExceededError):
                raise
            # A broken tar is often a corrupt blob: when the digest check says so, that
            # is the more useful error.
            try:
                _drain(stream)
            except DigestMismatchError as mismatch:
                raise mismatch from err
            except ImagefsError:
                pass
            raise
        # The tar reader drains to EOF, which runs the digest checks; make sure of it.
        _drain(stream)
    finally:
        stream.close()
    return ix


def _drain(stream) -> None:
    while stream.read(1 << 20):
        pass


def _fits_path_budgets(ix: LayerIndex, limits) -> bool:
    """Whether every path and link target of a cached index is clearly within the path
    budgets. A cached index may have been made under looser ones; when in doubt the layer
    is read again and the tar reader, which measures the names as stored, decides."""
    ml, md = limits.max_path_length, limits.max_path_depth
    if ml is None and md is None:
        return True
    slack = 8  # stored names may carry "./", a trailing "/" or ".wh." beyond the path kept
    for group in ([row[0] for row in ix.rows], ix.whiteouts, ix.opaque):
        for p in group:
            if md is not None and p.count("/") > md:
                return False
            if ml is not None and len(p.encode("utf-8", "surrogateescape")) + slack > ml:
                return False
    if ml is not None:
        for row in ix.rows:
            if len(row) > 7 and isinstance(row[7], str) and len(row[7].encode("utf-8", "surrogateescape")) + slack > ml:
                return False
    return True


def index_layers(
    image,
    *,
    cache: bool | LayerCache | None = True,
    limits=None,
    progress: ProgressFactory | None = None,
    workers: int = 1,
    layers: list | None = None,
) -> list[LayerIndex]:
    """One :class:`LayerIndex` per layer of ``image`` (base first); see the module docstring.

    ``workers > 1`` reads that many missing layers at once on threads (inflate and
    hashing release the GIL). ``layers`` may pass ``image.layers()`` already computed.
    """
    lc = _layer_cache(cache)
    limits = limits if limits is not None else image.limits
    layers = layers if layers is not None else image.layers()
    out: list[LayerIndex | None] = [None] * len(layers)
    todo = []
    for i, layer in enumerate(layers):
        ix = lc.get(layer.cache_key) if lc is not None else None
        if ix is not None and limits is not None and limits.max_entries is not None and ix.members > limits.max_entries:
            ix = None  # indexed under a bigger budget: read it again so the budget applies
        if ix is not None and limits is not None and not _fits_path_budgets(ix, limits):
            ix = None  # same for path length and depth (and link target length)
        if ix is None:
            todo.append(i)
        else:
            log.debug("%s: index from the cache", layer.describe())
            out[i] = ix

    def work(i: int) -> LayerIndex:
        layer = layers[i]
        ix = _read_layer(layer, limits, progress)
        if lc is not None:
            lc.put(layer.cache_key, ix)
        return ix

    if workers > 1 and len(todo) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="imagefs-index") as pool:
            for i, ix in zip(todo, pool.map(work, todo)):
                out[i] = ix
    else:
        for i in todo:
            out[i] = work(i)
    return out  # type: ignore[return-value]


def image_info(image, layers: list, indexes: list[LayerIndex]) -> ImageInfo:
    """The ``image`` part of a listing: reference, digests, platform, config subset, layers."""
    config = image.config
    inner = config.get("config") if isinstance(config.get("config"), dict) else {}
    created = config.get("created")
    return ImageInfo(
        reference=image.reference,
        manifest_digest=image.manifest_digest,
        platform=str(image.platform),
        media_type=image.media_type,
        config_digest=image.config_descriptor.digest,
        created=created if isinstance(created, str) else None,
        config={k: inner[k] for k in CONFIG_KEYS if inner.get(k) is not None},
        layers=[
            LayerInfo(
                index=i,
                digest=layer.digest,
                diff_id=layer.diff_id,
                size=layer.descriptor.size,
                media_type=layer.descriptor.media_type,
                created_by=layer.created_by,
                uncompressed_size=ix.size,
                entries=ix.members,
            )
            for i, (layer, ix) in enumerate(zip(layers, indexes))
        ],
    )


def list_image(
    image,
    *,
    platform=None,
    cache: bool | LayerCache | None = True,
    limits=None,
    symlinks: str = "overlay",
    progress: ProgressFactory | None = None,
    workers: int = 1,
    **source_options: Any,
) -> Tree:
    """The merged filesystem of ``image`` with ``Tree.image`` filled in.

    ``image`` is a reference string (``oci:DIR:TAG``, ``docker-archive:FILE``...), an
    :class:`~imagefs.reference.ImageRef`, or an opened
    :class:`~imagefs.sources.base.Image` (then ``platform`` and ``source_options`` are
    not used and the image is not closed). ``source_options`` (``creds``,
    ``insecure_registries``, ``tls_verify``...) go to
    :func:`~imagefs.sources.open_image`. ``symlinks`` picks the merge model
    (``"overlay"`` or ``"follow"``, see :mod:`imagefs.merge`).
    """
    from .sources import open_image
    from .sources.base import Image

    own = not isinstance(image, Image)
    if own:
        image = open_image(image, platform, limits=limits, **source_options)
    try:
        limits = limits if limits is not None else image.limits
        layers = image.layers()
        indexes = index_layers(image, cache=cache, limits=limits, progress=progress, workers=workers, layers=layers)
        info = image_info(image, layers, indexes)
        tree = merge(indexes, info.layers, symlinks=symlinks, limits=limits)
        tree.image = info
        return tree
    finally:
        if own:
            image.close()
