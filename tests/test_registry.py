"""The registry source against Debian's real docker-registry on 127.0.0.1 (never the internet).

Images are built in code, written as an OCI layout and pushed with skopeo; reading them back
through the registry must give exactly the local layout's manifest, platform and layer bytes.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import require_tool
from imagefs.errors import AuthError, NotFoundError
from imagefs.sources import open_image
from imagefs.sources._http import RetryPolicy, Timeouts
from registry.fixtures import *
from registry.fixtures import Pushed
from registry.server import RegistryServer, skopeo_push

FAST = {
    "timeouts": Timeouts(connect=2, idle=3, total=20),
    "retry": RetryPolicy(attempts=3, base=0.01, cap=0.05, retry_after_cap=2),
    "document_cache": False,
}


def read_all(
    ref: str, platform: str | None = None, **opts
) -> tuple[object, list[bytes]]:
    """Open ``ref``; return (image facts, every layer's verified uncompressed bytes)."""
    with open_image(ref, platform, **{**FAST, **opts}) as image:
        layers = []
        for lay in image.layers():
            with lay.open() as f:
                layers.append(f.read())
        facts = (
            image.manifest_digest,
            str(image.platform),
            image.index_digest,
            [x.diff_id for x in image.layers()],
        )
    return facts, layers


def local_layers(pushed: Pushed, img) -> list[bytes]:
    """The uncompressed layers of ``img`` as written to the OCI layout."""
    from imagefs.oci_writer import _decompress_any

    manifest = json.loads(img.manifest)
    return [_decompress_any(img.blobs[d["digest"]]) for d in manifest["layers"]]


def test_by_tag_gives_the_pushed_image(registry_images: Pushed):
    facts, layers = read_all(registry_images.ref("test/img:v1"))
    assert facts[0] == registry_images.image.manifest_digest
    assert facts[1] == "linux/amd64"
    assert layers == local_layers(registry_images, registry_images.image)


def test_by_digest_gives_the_pushed_image(registry_images: Pushed):
    digest = registry_images.image.manifest_digest
    facts, layers = read_all(registry_images.ref(f"test/img@{digest}"))
    assert facts[0] == digest
    assert layers == local_layers(registry_images, registry_images.image)


@pytest.mark.parametrize(
    "platform, which",
    [("linux/amd64", "image"), ("linux/arm64", "arm"), ("linux/arm64/v8", "arm")],
    ids=["amd64-from-index", "arm64-default-variant", "arm64-explicit-variant"],
)
def test_by_platform_walks_the_index(
    registry_images: Pushed, platform: str, which: str
):
    want = getattr(registry_images, which)
    facts, layers = read_all(registry_images.ref("test/multi:v1"), platform)
    assert facts[0] == want.manifest_digest
    assert facts[2] == registry_images.index_digest
    assert layers == local_layers(registry_images, want)


def test_missing_platform_names_the_available_ones(registry_images: Pushed):
    with pytest.raises(NotFoundError, match=r"available: linux/amd64, linux/arm64/v8"):
        read_all(registry_images.ref("test/multi:v1"), "linux/s390x")


@pytest.mark.parametrize(
    "name", ["test/img:nope", "test/absent:v1"], ids=["unknown-tag", "unknown-repo"]
)
def test_unknown_names_are_not_found(registry_images: Pushed, name: str):
    with pytest.raises(NotFoundError, match=r"not found in .*check the name"):
        read_all(registry_images.ref(name))


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory: pytest.TempPathFactory, registry_images: Pushed):
    """A second real registry with htpasswd auth (alice / s3cret), holding test/img:v1."""
    require_tool("htpasswd")
    line = subprocess.run(
        ["htpasswd", "-Bbn", "alice", "s3cret"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    server = RegistryServer(tmp_path_factory.mktemp("basic"), htpasswd=line).start()
    try:
        skopeo_push(
            registry_images.layout,
            "v1",
            f"{server.hostport}/test/img:v1",
            creds="alice:s3cret",
        )
        yield server
    finally:
        server.stop()


def test_basic_auth_with_explicit_creds(
    basic_registry: RegistryServer, registry_images: Pushed, monkeypatch
):
    monkeypatch.setenv("DOCKER_CONFIG", "/nonexistent")
    facts, _ = read_all(
        f"docker://{basic_registry.hostport}/test/img:v1", creds="alice:s3cret"
    )
    assert facts[0] == registry_images.image.manifest_digest


def test_basic_auth_from_env_and_docker_config(
    basic_registry: RegistryServer, registry_images: Pushed, tmp_path, monkeypatch
):
    import base64

    ref = f"docker://{basic_registry.hostport}/test/img:v1"
    monkeypatch.setenv("IMAGEFS_REGISTRY_CREDS", "alice:s3cret")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert read_all(ref)[0][0] == registry_images.image.manifest_digest
    monkeypatch.delenv("IMAGEFS_REGISTRY_CREDS")
    auth = base64.b64encode(b"alice:s3cret").decode()
    (tmp_path / "config.json").write_text(
        json.dumps({"auths": {f"http://{basic_registry.hostport}": {"auth": auth}}})
    )
    assert read_all(ref)[0][0] == registry_images.image.manifest_digest


@pytest.mark.parametrize(
    "creds, message",
    [
        (None, r"requires a user name and password; pass --creds USER:PASS"),
        (
            "alice:wrong",
            r"refused the credentials from --creds \(401 after a fresh token\)",
        ),
    ],
    ids=["no-creds", "wrong-password"],
)
def test_basic_auth_refusal_is_one_clear_line(
    basic_registry: RegistryServer, creds, message, monkeypatch
):
    monkeypatch.setenv("DOCKER_CONFIG", "/nonexistent")
    monkeypatch.delenv("IMAGEFS_REGISTRY_CREDS", raising=False)
    with pytest.raises(AuthError, match=message) as info:
        read_all(f"docker://{basic_registry.hostport}/test/img:v1", creds=creds)
    assert "\n" not in str(info.value)
    assert "s3cret" not in str(info.value) and "wrong" not in str(info.value)


@pytest.mark.parametrize(
    "name, extra, which",
    [
        ("test/img:v1", [], "image"),
        ("test/multi:v1", ["--platform", "linux/arm64"], "arm"),
    ],
    ids=["by-tag", "index-by-platform"],
)
def test_inspect_digest_only(registry_images: Pushed, capsys, name, extra, which):
    """``imagefs inspect REF --digest-only`` prints the resolved manifest digest (CI's drift check)."""
    cli = pytest.importorskip("imagefs.cli")
    rc = cli.main(["inspect", registry_images.ref(name), "--digest-only", *extra])
    out = capsys.readouterr().out
    assert rc == 0
    assert out == getattr(registry_images, which).manifest_digest + "\n"


def test_inspect_auth_error_is_one_line(
    basic_registry: RegistryServer, capsys, monkeypatch
):
    from imagefs import cli

    monkeypatch.setenv("DOCKER_CONFIG", "/nonexistent")
    monkeypatch.delenv("IMAGEFS_REGISTRY_CREDS", raising=False)
    rc = cli.main(
        ["inspect", f"docker://{basic_registry.hostport}/test/img:v1", "--digest-only"]
    )
    err = capsys.readouterr().err
    assert (
        rc == 1 and err.count("\n") == 1 and "requires a user name and password" in err
    )
    rc = cli.main(
        [
            "inspect",
            f"docker://{basic_registry.hostport}/test/img:v1",
            "--digest-only",
            "--creds",
            "alice:s3cret",
        ]
    )
    assert rc == 0
