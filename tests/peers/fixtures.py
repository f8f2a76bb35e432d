"""pytest fixtures shared by the peer test modules (import them into the module)."""

from __future__ import annotations

import pytest
from conftest import IN_CI, require_tool

from . import debs, umoci_image
from .rootfs import DiskTree, walk


@pytest.fixture(scope="module")
def peer_image(tmp_path_factory) -> umoci_image.PeerImage:
    """The three-layer umoci-built image (tests/peers/umoci_image.py)."""
    require_tool("umoci")
    require_tool("dpkg-deb")
    require_tool("apt-get")
    work = tmp_path_factory.mktemp("umoci-peer")
    try:
        return umoci_image.build(work)
    except debs.Unavailable as err:
        if IN_CI:
            pytest.fail(f"Debian packages for the peer image: {err}")
        pytest.skip(f"Debian packages for the peer image: {err}")


@pytest.fixture(scope="module")
def unpacked(peer_image) -> DiskTree:
    """What ``umoci unpack --rootless`` writes for the peer image, read back from disk."""
    bundle = peer_image.work / "unpacked"
    umoci_image.umoci("unpack", "--rootless", "--image", f"{peer_image.layout}:{peer_image.tag}", bundle)
    return walk(bundle / "rootfs")
