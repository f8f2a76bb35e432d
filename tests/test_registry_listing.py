"""Listing through the registry equals listing the local OCI layout; a warm re-list downloads
no blob bytes (counted at the proxy); layers download concurrently."""

from __future__ import annotations

import pytest
from imagefs.sources import open_image
from registry.fixtures import *
from registry.fixtures import Pushed
from test_registry import FAST

listing = pytest.importorskip(
    "imagefs.listing",
    reason="the engine (imagefs.listing) has not landed in this branch",
)


def entries_of(tree) -> list[dict]:
    doc = tree.to_json()
    return doc["entries"]


def layers_of(tree) -> list[dict]:
    return [{k: v for k, v in lay.to_json().items()} for lay in tree.image.layers]


def list_ref(ref: str, platform: str | None = None, **opts):
    cache = opts.pop("cache", False)
    with open_image(ref, platform, **{**FAST, **opts}) as image:
        return listing.list_image(image, cache=cache)


@pytest.mark.parametrize(
    "remote, local, platform",
    [
        ("test/img:v1", "v1", None),
        ("test/img@{digest}", "v1", None),
        ("test/multi:v1", "multi", "linux/arm64"),
        ("test/multi:v1", "multi", "linux/amd64"),
    ],
    ids=["by-tag", "by-digest", "by-platform-arm64", "by-platform-amd64"],
)
def test_listing_equals_the_local_layout(
    registry_images: Pushed, remote, local, platform
):
    remote = remote.format(digest=registry_images.image.manifest_digest)
    a = list_ref(registry_images.ref(remote), platform)
    b = list_ref(f"oci:{registry_images.layout}:{local}", platform)
    assert entries_of(a) == entries_of(b)
    assert layers_of(a) == layers_of(b)
    assert a.image.manifest_digest == b.image.manifest_digest


def test_warm_relist_downloads_no_blob_bytes(
    registry_images: Pushed, plain_proxy, tmp_path, monkeypatch
):
    monkeypatch.setenv("IMAGEFS_CACHE_DIR", str(tmp_path / "cache"))
    ref = registry_images.ref(host=plain_proxy.hostport)
    cold = list_ref(ref, cache=True, document_cache=True)
    assert plain_proxy.blob_bytes > 300_000  # the cold list did download the layers
    plain_proxy.requests.clear()
    warm = list_ref(ref, cache=True, document_cache=True)
    assert entries_of(warm) == entries_of(cold)
    assert plain_proxy.blob_bytes_sent() == 0
    assert [(r.method, r.is_manifest) for r in plain_proxy.requests] == [("HEAD", True)]


def test_concurrent_layer_downloads_list_the_same(registry_images: Pushed, token_proxy):
    """``workers=3``: the three layers download at once through one source and one token."""
    ref = registry_images.ref(host=token_proxy.hostport)
    with open_image(ref, **FAST) as image:
        parallel = listing.list_image(image, cache=False, workers=3)
    serial = list_ref(f"oci:{registry_images.layout}:v1")
    assert entries_of(parallel) == entries_of(serial)
    blob_gets = [
        r for r in token_proxy.requests if r.is_blob and r.method == "GET" and r.sent
    ]
    assert len(blob_gets) == 4  # three layers and the config, each downloaded once


@pytest.mark.parametrize("fmt", ["tree", "json"], ids=["tree", "json"])
def test_cli_list_through_the_registry(
    registry_images: Pushed, capsys, tmp_path, monkeypatch, fmt
):
    """``imagefs list docker://…`` prints what ``imagefs list oci:…`` prints (bar the reference)."""
    from imagefs import cli

    monkeypatch.setenv("IMAGEFS_CACHE_DIR", str(tmp_path / "cache"))
    remote = registry_images.ref("test/multi:v1")
    local = f"oci:{registry_images.layout}:multi"
    outs = []
    for ref in (remote, local):
        assert (
            cli.main(["list", ref, "--platform", "linux/arm64", "-q", "--format", fmt])
            == 0
        )
        outs.append(
            capsys.readouterr().out.replace(remote, "REF").replace(local, "REF")
        )
    assert outs[0] == outs[1]
    assert "blob.bin" in outs[0]
