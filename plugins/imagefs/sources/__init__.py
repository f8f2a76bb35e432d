"""Image sources: ``open_image(ref, platform) -> Image`` for every transport.

Each source module provides ``open_source(ref: ImageRef, **options) -> Source`` (the
small core of :class:`~imagefs.sources.base.Source`); :func:`open_image` resolves the
platform and returns the generic :class:`~imagefs.sources.base.Image`.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import UnsupportedError
from ..platform import Platform
from ..reference import ImageRef
from .base import Descriptor, Image, Layer, Limits, Source, resolve

__all__ = ["Descriptor", "Image", "Layer", "Limits", "Source", "open_image"]

_MODULES = {
    "oci": "oci_layout",
    "oci-archive": "oci_layout",
    "docker-archive": "docker_archive",
    "docker": "registry",
}


def _source_module(ref: ImageRef) -> Any:
    name = f"{__package__}.{_MODULES[ref.transport]}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name != name:
            raise
        raise UnsupportedError(
            f"{ref}: the {ref.transport} transport is not supported yet; "
            f"copy the image locally first, e.g. skopeo copy docker://{ref.docker or 'IMAGE'} oci:./layout:latest"
        ) from err


def open_image(
    ref: ImageRef | str,
    platform: Platform | str | None = None,
    *,
    limits: Limits | None = None,
    **options: Any,
) -> Image:
    """Open the image ``ref`` names, resolved to one platform (default: the host's)."""
    from ..reference import parse

    if isinstance(ref, str):
        ref = parse(ref)
    if isinstance(platform, str):
        platform = Platform.parse(platform)
    module = _source_module(ref)
    source = module.open_source(ref, **options)
    try:
        return resolve(source, str(ref), platform, limits or Limits())
    except BaseException:
        source.close()
        raise
