"""imagefs: read container images without running them.

The package reads an image from an OCI layout, a ``docker save`` archive or a registry,
applies its layers with OCI whiteout semantics, and produces the merged filesystem
(:class:`~imagefs.tree.Tree`) with per-layer attribution. See ``docs/`` and README.md.
"""

__version__ = "0.1.0"

from .errors import (  # noqa: E402
    AuthError,
    BadReferenceError,
    BudgetExceededError,
    DigestMismatchError,
    ImagefsError,
    InvalidImageError,
    NotFoundError,
    RegistryError,
    UnsupportedError,
    UsageError,
)
from .tree import Entry, ImageInfo, LayerInfo, Tree  # noqa: E402

__all__ = [
    "__version__",
    "AuthError",
    "BadReferenceError",
    "BudgetExceededError",
    "DigestMismatchError",
    "Entry",
    "ImageInfo",
    "ImagefsError",
    "InvalidImageError",
    "LayerInfo",
    "NotFoundError",
    "RegistryError",
    "Tree",
    "UnsupportedError",
    "UsageError",
]
