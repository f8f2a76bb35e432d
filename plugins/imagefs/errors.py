"""The errors imagefs raises.

Every error derives from :class:`ImagefsError`. A subclass exists only where a caller
branches on it (the CLI maps them to exit codes, the registry source retries temporary
ones, the fence turns missing snapshots into build failures). Everything else is an
``ImagefsError`` with context, chained to its cause::

    raise ImagefsError(f"reading layer {digest}: {err}") from err

Messages are one line: they name the image, layer, file or option, and say what to do.
"""

from __future__ import annotations


class ImagefsError(Exception):
    """Base of every error imagefs raises on purpose. Exit code 1 in the CLI."""

    exit_code = 1


class UsageError(ImagefsError):
    """A bad command line or option value. Exit code 2 in the CLI."""

    exit_code = 2


class BadReferenceError(UsageError):
    """An image name that cannot be parsed (``oci:``, ``docker-archive:``, docker refs)."""


class NotFoundError(ImagefsError):
    """An image, tag, digest, blob, platform, path or snapshot that does not exist."""


class UnsupportedError(ImagefsError):
    """Valid input that imagefs does not handle (schema1 manifests, unknown media types)."""


class DigestMismatchError(ImagefsError):
    """A blob, manifest or diff_id whose content does not match its digest."""


class InvalidImageError(ImagefsError):
    """A manifest, config, index or layer that is malformed or unsafe.

    Raised for broken tar headers, ``..`` path components, impossible sizes, and
    manifests that contradict themselves (diff_id count versus layer count).
    """


class BudgetExceededError(InvalidImageError):
    """A resource budget (inflated bytes, ratio, entries, path length/depth, symlink hops) was exceeded."""


class RegistryError(ImagefsError):
    """An error answer from a registry. ``temporary`` tells whether a retry may help."""

    def __init__(self, message: str, *, status: int | None = None, temporary: bool = False):
        super().__init__(message)
        self.status = status
        self.temporary = temporary


class AuthError(RegistryError):
    """The registry refused our credentials (or we had none)."""
