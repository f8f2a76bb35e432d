"""Platforms (``os/arch[/variant]``) and choosing one manifest from an index."""

from __future__ import annotations

import platform as _platform
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from .errors import NotFoundError, UsageError

if TYPE_CHECKING:
    from .sources.base import Descriptor

_MACHINE_TO_ARCH = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "arm",
    "armv6l": "arm",
    "i386": "386",
    "i686": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}

# Variants that are the default for their architecture: "arm64" means "arm64/v8".
_DEFAULT_VARIANT = {"arm64": "v8", "arm": "v7"}


@dataclass(frozen=True, slots=True)
class Platform:
    os: str
    architecture: str
    variant: str | None = None

    @classmethod
    def parse(cls, text: str) -> "Platform":
        """Parse ``os/arch[/variant]`` (``linux/arm64``, ``linux/arm/v7``)."""
        parts = text.strip().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise UsageError(f"--platform {text!r}: expected OS/ARCH[/VARIANT], for example linux/amd64 or linux/arm64/v8")
        return cls(parts[0].lower(), parts[1].lower(), parts[2].lower() if len(parts) == 3 else None)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Platform":
        variant = d.get("variant")
        return cls(
            os=str(d.get("os") or "unknown"),
            architecture=str(d.get("architecture") or "unknown"),
            variant=str(variant) if variant else None,
        )

    @classmethod
    def host(cls) -> "Platform":
        machine = _platform.machine().lower()
        arch = _MACHINE_TO_ARCH.get(machine, machine)
        variant = {"armv6l": "v6", "armv7l": "v7"}.get(machine)
        return cls("linux", arch, variant)

    def normalized(self) -> "Platform":
        """Fill in the default variant, so ``linux/arm64`` equals ``linux/arm64/v8``."""
        if self.variant is None and self.architecture in _DEFAULT_VARIANT:
            return Platform(self.os, self.architecture, _DEFAULT_VARIANT[self.architecture])
        return self

    def matches(self, other: "Platform") -> bool:
        a, b = self.normalized(), other.normalized()
        return a.os == b.os and a.architecture == b.architecture and (a.variant == b.variant)

    @property
    def is_attestation(self) -> bool:
        return self.os == "unknown" and self.architecture == "unknown"

    def __str__(self) -> str:
        return f"{self.os}/{self.architecture}" + (f"/{self.variant}" if self.variant else "")


def select(children: Sequence["Descriptor"], want: Platform | None, where: str) -> "Descriptor":
    """Pick the manifest for ``want`` (default: the host) from an index's descriptors.

    Attestation manifests (``unknown/unknown``, or BuildKit's reference-type annotation)
    are never chosen. When nothing matches, the error lists the platforms there are.
    """
    from .media import ATTESTATION_ANNOTATION

    want = want or Platform.host()
    candidates = [
        d
        for d in children
        if not (d.platform and d.platform.is_attestation) and d.annotation(ATTESTATION_ANNOTATION) is None
    ]
    for d in candidates:
        if d.platform is not None and d.platform.matches(want):
            return d
    # An index with a single manifest and no platform field: that manifest is the image.
    if len(candidates) == 1 and candidates[0].platform is None:
        return candidates[0]
    available = sorted({str(d.platform) for d in candidates if d.platform is not None})
    if not available:
        raise NotFoundError(f"{where}: the index holds no image manifest with a platform")
    raise NotFoundError(
        f"{where}: no manifest for platform {want}; available: {', '.join(available)} (choose one with --platform)"
    )
