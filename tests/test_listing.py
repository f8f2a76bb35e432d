"""list_image / index_layers end to end on OCI layouts and docker archives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fixtures import D, F, H, L, build_image, layer, oci_image, write_docker_archive
from imagefs.cache import LayerCache
from imagefs.errors import DigestMismatchError, InvalidImageError
from imagefs.listing import index_layers, list_image
from imagefs.oci_writer import ImageSpec
from imagefs.sources import open_image
from imagefs.tree import Tree

LAYERS = (
    layer(D("etc"), F("etc/passwd", b"root:x:0:0\n"), F("etc/big", b"x" * 1000), L("lib", "usr/lib"), D("usr/lib"), F("bin/su", b"su", mode=0o4755)),
    layer(F("etc/.wh.big"), F("lib/x", b"1"), H("bin/su2", "bin/su")),
)
CONFIG = {"User": "app", "Env": ["PATH=/bin"], "Cmd": ["sh"], "WorkingDir": "/w", "Labels": {"a": "b"}, "Healthcheck": {"Test": ["x"]}}


@pytest.fixture
def image(tmp_path) -> tuple[str, object]:
    return oci_image(tmp_path / "img", *LAYERS, config=CONFIG, created_by=["ADD rootfs", "RUN change"])


def view(tree: Tree) -> dict[str, tuple]:
    return {e.path: (e.type, e.layer, e.size, e.target) for e in tree.entries()}


EXPECTED = {
    "/bin": ("dir", 0, 0, None),
    "/bin/su": ("file", 0, 2, None),
    "/bin/su2": ("hardlink", 1, 2, "/bin/su"),
    "/etc": ("dir", 0, 0, None),
    "/etc/passwd": ("file", 0, 11, None),
    "/lib": ("dir", 1, 0, None),
    "/lib/x": ("file", 1, 1, None),
    "/usr": ("dir", 0, 0, None),
    "/usr/lib": ("dir", 0, 0, None),
}


def test_list_image_tree_and_image_info(image, tmp_path):
    ref, written = image
    tree = list_image(ref, cache=LayerCache(tmp_path / "c"))
    assert view(tree) == EXPECTED
    info = tree.image
    assert info.reference == ref
    assert info.manifest_digest == written.manifest_digest
    assert info.platform == "linux/amd64"
    assert info.media_type == "application/vnd.oci.image.manifest.v1+json"
    assert info.config_digest.startswith("sha256:") and info.created == "1970-01-01T00:00:00Z"
    assert info.config == {k: v for k, v in CONFIG.items() if k != "Healthcheck"}
    manifest = json.loads(written.manifest)
    rows = [
        (l.index, l.digest, l.size, l.media_type, l.created_by, l.entries, l.added, l.modified, l.deleted, l.wasted)
        for l in info.layers
    ]
    assert rows == [
        (0, manifest["layers"][0]["digest"], manifest["layers"][0]["size"], manifest["layers"][0]["mediaType"], "ADD rootfs", 6, 8, 0, 0, 1000),
        (1, manifest["layers"][1]["digest"], manifest["layers"][1]["size"], manifest["layers"][1]["mediaType"], "RUN change", 3, 2, 1, 1, 0),
    ]
    assert [l.uncompressed_size for l in info.layers] == [len(x) for x in LAYERS]
    assert [l.diff_id for l in info.layers] == json.loads(written.config)["rootfs"]["diff_ids"]
    doc = tree.to_json()
    assert Tree.from_json(json.loads(json.dumps(doc))).to_json() == doc


class NoLayerBytes(Exception):
    pass


def test_cache_hit_reads_no_layer_bytes(image, tmp_path):
    ref, written = image
    cache = LayerCache(tmp_path / "c")
    cold = list_image(ref, cache=cache)
    layer_digests = {d["digest"] for d in json.loads(written.manifest)["layers"]}
    img = open_image(ref)
    real = img.source.open_blob

    def guarded(desc):
        if desc.digest in layer_digests:
            raise NoLayerBytes(desc.digest)
        return real(desc)

    img.source.open_blob = guarded
    asked = []
    warm = list_image(img, cache=cache, progress=lambda layer: asked.append(layer) or None)
    assert warm.to_json() == cold.to_json()
    assert asked == []  # no progress for cache hits
    with pytest.raises(NoLayerBytes):  # and the guard is real: without the cache it trips
        list_image(img, cache=False)
    img.close()


def test_cache_false_does_not_write(image, tmp_path, monkeypatch):
    ref, _ = image
    monkeypatch.setenv("IMAGEFS_CACHE_DIR", str(tmp_path / "default"))
    list_image(ref, cache=False)
    assert not (tmp_path / "default").exists()
    list_image(ref)  # cache=True uses the default directory
    assert len(list((tmp_path / "default").rglob("*.json"))) == 2


def test_progress_factory_gets_compressed_bytes(image, tmp_path):
    ref, written = image
    seen: dict[int, int] = {}

    def factory(layer):
        seen[layer.index] = 0

        def cb(n):
            seen[layer.index] += n

        return cb

    list_image(ref, cache=False, progress=factory)
    assert seen == {i: d["size"] for i, d in enumerate(json.loads(written.manifest)["layers"])}


@pytest.mark.parametrize("workers", [1, 2], ids=["sequential", "two-threads"])
def test_index_layers_partial_cache(image, tmp_path, workers):
    ref, _ = image
    cache = LayerCache(tmp_path / "c")
    img = open_image(ref)
    layers = img.layers()
    cache.put(layers[0].cache_key, index_layers(img, cache=False)[0])
    got = index_layers(img, cache=cache, workers=workers)
    assert [ix.members for ix in got] == [6, 3]
    assert cache.get(layers[1].cache_key) == got[1]
    img.close()


def test_docker_archive_lists_the_same(image, tmp_path):
    _, written = image
    for oci_inside in (False, True):
        path = tmp_path / f"a{oci_inside}.tar"
        write_docker_archive(path, written, repo_tags=["t/x:1"], oci_inside=oci_inside)
        assert view(list_image(f"docker-archive:{path}", cache=False)) == EXPECTED


def test_follow_model_is_passed_through(image):
    ref, _ = image
    tree = list_image(ref, cache=False, symlinks="follow")
    assert tree.get("/lib").type == "symlink" and tree.get("/usr/lib/x").layer == 1


def test_source_options_go_to_open_image(monkeypatch, image):
    from imagefs import sources

    ref, _ = image
    got = {}
    real = sources.open_image

    def spy(r, platform=None, *, limits=None, **options):
        got.update(options, platform=platform)
        return real(r, platform, limits=limits)

    monkeypatch.setattr(sources, "open_image", spy)
    list_image(ref, platform="linux/amd64", cache=False, tls_verify=False, creds="u:p")
    assert got == {"tls_verify": False, "creds": "u:p", "platform": "linux/amd64"}


def test_diff_id_mismatch_names_layer_and_is_not_cached(tmp_path):
    bad = layer(F("x"))

    def mutate(config):
        config["rootfs"]["diff_ids"][0] = "sha256:" + "0" * 64

    ref, _ = oci_image(tmp_path / "img", bad, mutate_config=mutate)
    cache = LayerCache(tmp_path / "c")
    with pytest.raises(DigestMismatchError, match="layer 0"):
        list_image(ref, cache=cache)
    assert not list((tmp_path / "c").rglob("*.json"))


def test_broken_tar_names_the_layer(tmp_path):
    ref, _ = oci_image(tmp_path / "img", layer(F("ok")), layer(F("../escape")))
    with pytest.raises(InvalidImageError, match=r"layer 1 \(sha256:[0-9a-f]+\).*'\.\.'"):
        list_image(ref, cache=False)


def test_corrupt_blob_reports_the_digest_not_the_tar(tmp_path):
    ref, written = oci_image(tmp_path / "img", layer(F("a", b"x" * 3000), F("b")), compression="none")
    (digest,) = [d["digest"] for d in json.loads(written.manifest)["layers"]]
    blob = Path(tmp_path / "img" / "blobs" / "sha256" / digest.split(":")[1])
    data = bytearray(blob.read_bytes())
    data[3584 + 100] ^= 0xFF  # garble the second header's mode field
    blob.write_bytes(bytes(data))
    with pytest.raises(DigestMismatchError, match="layer 0"):
        list_image(ref, cache=False)


def test_multi_platform_index_selects_platform(tmp_path):
    from imagefs.oci_writer import write_oci_layout
    from imagefs.platform import Platform

    amd = build_image(ImageSpec([layer(F("amd"))], platform=Platform("linux", "amd64")))
    arm = build_image(ImageSpec([layer(F("arm"))], platform=Platform("linux", "arm64", "v8")))
    write_oci_layout(tmp_path / "multi", [amd, arm], tag="m")
    tree = list_image(f"oci:{tmp_path / 'multi'}:m", platform="linux/arm64", cache=False)
    assert [e.path for e in tree.entries()] == ["/arm"] and tree.image.platform == "linux/arm64/v8"


def test_image_without_layers_lists_empty(tmp_path):
    ref, _ = oci_image(tmp_path / "img")
    tree = list_image(ref, cache=False)
    assert len(tree) == 0 and tree.image.layers == []


def test_cached_index_over_a_smaller_entry_budget_is_read_again(image, tmp_path):
    from imagefs.errors import BudgetExceededError
    from imagefs.sources.base import Limits

    ref, _ = image
    cache = LayerCache(tmp_path / "c")
    list_image(ref, cache=cache)
    with pytest.raises(BudgetExceededError, match="entries"):
        list_image(ref, cache=cache, limits=Limits(max_entries=4))
