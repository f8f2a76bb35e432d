"""Platforms and choosing a manifest from an index."""

from __future__ import annotations

import pytest

from imagefs import media
from imagefs.errors import NotFoundError, UsageError
from imagefs.platform import Platform, select
from imagefs.sources.base import Descriptor


def desc(n: int, plat: str | None, **ann: str) -> Descriptor:
    return Descriptor(
        media.OCI_MANIFEST,
        "sha256:" + f"{n:x}" * 64,
        100 + n,
        platform=Platform.parse(plat) if plat else None,
        annotations=tuple(sorted(ann.items())),
    )


AMD64 = desc(1, "linux/amd64")
ARM64 = desc(2, "linux/arm64")  # no variant
ARM64V8 = desc(3, "linux/arm64/v8")
ARMV7 = desc(4, "linux/arm/v7")
ARMV6 = desc(5, "linux/arm/v6")
ATTEST = desc(6, "unknown/unknown")
ATTEST_ANN = desc(7, "linux/amd64", **{media.ATTESTATION_ANNOTATION: "attestation-manifest"})
NOPLAT = desc(8, None)


@pytest.mark.parametrize(
    "children, want, expected",
    [
        ([AMD64, ARM64], "linux/amd64", AMD64),
        ([AMD64, ARM64], "linux/arm64/v8", ARM64),
        ([AMD64, ARM64V8], "linux/arm64", ARM64V8),
        ([ARMV6, ARMV7], "linux/arm", ARMV7),
        ([ARMV7, ARMV6], "linux/arm/v6", ARMV6),
        ([ATTEST, AMD64], "linux/amd64", AMD64),
        ([ATTEST_ANN, AMD64], "linux/amd64", AMD64),
        ([NOPLAT], "linux/s390x", NOPLAT),
        ([ATTEST, NOPLAT], "linux/amd64", NOPLAT),
    ],
    ids=[
        "exact", "arm64/v8-wanted-arm64-listed", "arm64-wanted-arm64/v8-listed", "arm-defaults-to-v7",
        "explicit-variant", "attestation-unknown-skipped", "attestation-annotation-skipped",
        "single-unplatformed-manifest", "attestation-then-unplatformed",
    ],
)
def test_select(children, want, expected):
    got = select(children, Platform.parse(want), "idx")
    assert got == expected


def test_no_match_lists_platforms_but_not_attestations():
    with pytest.raises(NotFoundError) as ei:
        select([AMD64, ARMV7, ATTEST], Platform.parse("linux/s390x"), "oci:x")
    msg = str(ei.value)
    assert "linux/s390x" in msg and "linux/amd64, linux/arm/v7" in msg and "unknown" not in msg and "oci:x" in msg


def test_only_attestations_is_an_error():
    with pytest.raises(NotFoundError, match="no image manifest"):
        select([ATTEST], Platform.parse("linux/amd64"), "idx")


def test_default_is_the_host(monkeypatch):
    import imagefs.platform as p

    monkeypatch.setattr(p._platform, "machine", lambda: "aarch64")
    assert Platform.host() == Platform("linux", "arm64")
    assert select([AMD64, ARM64V8], None, "idx") == ARM64V8
    monkeypatch.setattr(p._platform, "machine", lambda: "x86_64")
    assert select([ARM64V8, AMD64], None, "idx") == AMD64


@pytest.mark.parametrize(
    "text, expected",
    [
        ("linux/amd64", Platform("linux", "amd64")),
        ("linux/arm64/v8", Platform("linux", "arm64", "v8")),
        (" Linux/ARM/v7 ", Platform("linux", "arm", "v7")),
    ],
    ids=["os-arch", "variant", "case-and-space"],
)
def test_parse(text, expected):
    assert Platform.parse(text) == expected


@pytest.mark.parametrize("text", ["linux", "linux/", "/amd64", "a/b/c/d", ""], ids=["os-only", "empty-arch", "empty-os", "four-parts", "empty"])
def test_parse_rejects(text):
    with pytest.raises(UsageError, match="OS/ARCH"):
        Platform.parse(text)


def test_str_and_normalized():
    assert str(Platform("linux", "arm64").normalized()) == "linux/arm64/v8"
    assert str(Platform("linux", "amd64")) == "linux/amd64"
    assert Platform("linux", "arm64").matches(Platform("linux", "arm64", "v8"))
    assert not Platform("linux", "arm", "v6").matches(Platform("linux", "arm"))
