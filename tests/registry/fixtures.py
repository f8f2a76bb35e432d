"""pytest fixtures: a real registry with pushed fixture images, a token server and a fault proxy.

Import them into a test module: ``from registry.fixtures import *  # noqa: F403``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import require_tool
from fixtures import D, F, L, build_image, layer
from imagefs.oci_writer import ImageSpec, WrittenImage, write_oci_layout
from imagefs.platform import Platform

from .proxy import CdnServer, FaultProxy, TokenServer
from .server import RegistryServer, skopeo_push

__all__ = [
    "Pushed",
    "cdn",
    "fixture_layers",
    "plain_proxy",
    "registry_images",
    "token_proxy",
]


def fixture_layers(seed: int = 0) -> list[bytes]:
    """Three layers: a base tree, a 384 KiB incompressible file (to break mid-blob), a whiteout."""
    big = random.Random(seed).randbytes(384 * 1024)
    return [
        layer(
            D("etc"),
            F("etc/hostname", b"imagefs\n"),
            D("usr"),
            D("usr/bin"),
            F("usr/bin/tool", b"#!/bin/sh\n", mode=0o755),
        ),
        layer(D("data"), F("data/blob.bin", big), L("usr/bin/alias", "tool")),
        layer(D("etc"), F("etc/.wh.hostname"), F("etc/motd", b"hello\n")),
    ]


@dataclass
class Pushed:
    registry: RegistryServer
    layout: Path  # the OCI layout the images came from (tags "v1" and "multi")
    image: WrittenImage  # test/img:v1 (linux/amd64)
    arm: WrittenImage  # the linux/arm64 half of test/multi:v1
    index_digest: str

    def ref(self, name: str = "test/img:v1", host: str | None = None) -> str:
        return f"docker://{host or self.registry.hostport}/{name}"


@pytest.fixture(scope="module")
def registry_images(tmp_path_factory: pytest.TempPathFactory) -> Pushed:
    """A real docker-registry on 127.0.0.1 holding test/img:v1 and the two-platform test/multi:v1."""
    require_tool("docker-registry")
    require_tool("skopeo")
    tmp = tmp_path_factory.mktemp("registry")
    server = RegistryServer(tmp / "server").start()
    try:
        layout = tmp / "layout"
        img = build_image(
            ImageSpec(fixture_layers(), platform=Platform("linux", "amd64"))
        )
        arm = build_image(
            ImageSpec(
                fixture_layers(seed=1)[:2], platform=Platform("linux", "arm64", "v8")
            )
        )
        write_oci_layout(layout, [img], tag="v1")
        index_digest = write_oci_layout(layout, [img, arm], tag="multi")
        skopeo_push(layout, "v1", f"{server.hostport}/test/img:v1")
        skopeo_push(
            layout, "multi", f"{server.hostport}/test/multi:v1", all_platforms=True
        )
        yield Pushed(server, layout, img, arm, index_digest)
    finally:
        server.stop()


@pytest.fixture
def token_proxy(registry_images: Pushed):
    """A bearer-token proxy in front of the real registry."""
    tokens = TokenServer().start()
    proxy = FaultProxy(registry_images.registry.hostport, tokens=tokens).start()
    try:
        yield proxy
    finally:
        proxy.stop()
        tokens.stop()


@pytest.fixture
def plain_proxy(registry_images: Pushed):
    """A fault proxy without auth in front of the real registry."""
    proxy = FaultProxy(registry_images.registry.hostport).start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def cdn(registry_images: Pushed):
    """ "Another host" (127.0.0.2) serving the registry's blobs."""
    server = CdnServer(registry_images.registry.hostport, "test/img").start()
    try:
        yield server
    finally:
        server.stop()
