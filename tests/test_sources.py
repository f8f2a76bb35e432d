"""Local sources: OCI layouts, oci-archive and docker-archive, including hostile manifests."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from conftest import require_tool
from fixtures import D, F, layer, oci_image
from imagefs import media
from imagefs.errors import (
    BadReferenceError,
    DigestMismatchError,
    ImagefsError,
    InvalidImageError,
    NotFoundError,
    UnsupportedError,
)
from imagefs.oci_writer import ImageSpec, build_image, canonical_json, sha256, write_docker_archive, write_oci_layout
from imagefs.platform import Platform
from imagefs.sources import open_image

L1 = layer(D("etc"), F("etc/os-release", b"ID=test\n"), F("bin/sh", b"\x7fELF" * 100, mode=0o755))
L2 = layer(F("etc/hostname", b"box\n"), F("usr/share/big", bytes(range(256)) * 2000))
LAYERS = [L1, L2]


def read_layers(ref, **kw) -> tuple[str, list[bytes], list[str]]:
    with open_image(ref, **kw) as im:
        layers = im.layers()
        data = []
        for lay in layers:
            with lay.open() as s:
                data.append(s.read())
        return im.manifest_digest, data, [lay.diff_id for lay in layers]


def tar_dir(src: Path, dest: Path, *, prefix: str = ".") -> Path:
    with tarfile.open(dest, "w") as tf:
        tf.add(src, arcname=prefix)
    return dest


# --- OCI layouts --------------------------------------------------------------------------


@pytest.mark.parametrize("select", ["tag", "digest", "only"], ids=["by-tag", "by-digest", "only-image"])
def test_oci_dir_selection(tmp_path, select):
    ref, img = oci_image(tmp_path / "lay", *LAYERS, tag="v1")
    text = {"tag": ref, "digest": f"oci:{tmp_path / 'lay'}@{img.manifest_digest}", "only": f"oci:{tmp_path / 'lay'}"}[select]
    digest, data, _ = read_layers(text)
    assert digest == img.manifest_digest and data == LAYERS


def test_oci_layout_several_tags(tmp_path):
    a = build_image(ImageSpec([L1]))
    b = build_image(ImageSpec([L2]))
    write_oci_layout(tmp_path, [a], tag="a")
    write_oci_layout(tmp_path, [b], tag="b")
    assert read_layers(f"oci:{tmp_path}:b")[1] == [L2]
    with pytest.raises(NotFoundError, match=r"no image tagged 'c'; tags: a, b"):
        open_image(f"oci:{tmp_path}:c")
    with pytest.raises(NotFoundError, match=r"holds 2 images; name one with :TAG or @DIGEST \(tags: a, b\)"):
        open_image(f"oci:{tmp_path}")


def test_oci_digest_of_child_manifest_not_in_index_json(tmp_path):
    imgs = [build_image(ImageSpec([L1], platform=Platform("linux", a))) for a in ("amd64", "arm64")]
    write_oci_layout(tmp_path, imgs, tag="multi")
    digest, data, _ = read_layers(f"oci:{tmp_path}@{imgs[1].manifest_digest}")
    assert digest == imgs[1].manifest_digest


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_oci_multi_arch_index_platform(tmp_path, arch):
    imgs = [build_image(ImageSpec([L1 if a == "amd64" else L2], platform=Platform("linux", a))) for a in ("amd64", "arm64")]
    write_oci_layout(tmp_path, imgs, tag="multi")
    with open_image(f"oci:{tmp_path}:multi", platform=f"linux/{arch}") as im:
        assert str(im.platform) == f"linux/{arch}"
        assert im.index_digest is not None
    with pytest.raises(NotFoundError, match="available: linux/amd64, linux/arm64"):
        open_image(f"oci:{tmp_path}:multi", platform="linux/s390x")


@pytest.mark.parametrize("prefix", [".", "", "./"], ids=["dot-prefix", "bare-names", "dot-slash"])
def test_oci_archive(tmp_path, prefix):
    ref, img = oci_image(tmp_path / "lay", *LAYERS, tag="v1")
    arc = tmp_path / "lay.tar"
    with tarfile.open(arc, "w") as tf:
        for p in sorted((tmp_path / "lay").rglob("*")):
            rel = p.relative_to(tmp_path / "lay").as_posix()
            tf.add(p, arcname=(prefix.rstrip("/") + "/" + rel) if prefix else rel, recursive=False)
    digest, data, _ = read_layers(f"oci-archive:{arc}:v1")
    assert digest == img.manifest_digest and data == LAYERS


def test_oci_archive_gzipped(tmp_path):
    import gzip

    _, img = oci_image(tmp_path / "lay", *LAYERS)
    plain = tar_dir(tmp_path / "lay", tmp_path / "lay.tar")
    gz = tmp_path / "lay.tar.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    assert read_layers(f"oci-archive:{gz}")[0] == img.manifest_digest


@pytest.mark.parametrize(
    "setup, exc, pattern",
    [
        (lambda d: (d / "oci-layout").unlink(), InvalidImageError, "no oci-layout file"),
        (lambda d: (d / "oci-layout").write_text('{"imageLayoutVersion":"2.0.0"}'), UnsupportedError, "version '2.0.0'"),
        (lambda d: (d / "oci-layout").write_text("nope"), InvalidImageError, "oci-layout is not valid"),
        (lambda d: (d / "index.json").unlink(), InvalidImageError, "no index.json"),
        (lambda d: (d / "index.json").write_text("{}"), InvalidImageError, "no 'manifests' list"),
        (lambda d: (d / "index.json").write_text('{"manifests":[]}'), NotFoundError, "lists no images"),
    ],
    ids=["no-oci-layout", "layout-version-2", "oci-layout-garbage", "no-index-json", "index-without-manifests", "empty-index"],
)
def test_broken_layouts(tmp_path, setup, exc, pattern):
    oci_image(tmp_path, *LAYERS)
    setup(tmp_path)
    with pytest.raises(exc, match=pattern):
        open_image(f"oci:{tmp_path}")


def test_missing_directory_and_file_not_dir(tmp_path):
    with pytest.raises(NotFoundError, match="no such directory"):
        open_image(f"oci:{tmp_path / 'nope'}")
    (tmp_path / "f").write_bytes(b"x")
    with pytest.raises(InvalidImageError, match="oci-archive:"):
        open_image(f"oci:{tmp_path / 'f'}")


def _blob(d: Path, digest: str) -> Path:
    return d / "blobs" / "sha256" / digest.split(":", 1)[1]


def test_missing_layer_blob_names_digest_and_layout(tmp_path):
    ref, img = oci_image(tmp_path, *LAYERS)
    layer_digest = json.loads(img.manifest)["layers"][1]["digest"]
    _blob(tmp_path, layer_digest).unlink()
    with open_image(ref) as im:
        lay = im.layers()[1]
        with pytest.raises(NotFoundError) as ei:
            lay.open()
    assert layer_digest in str(ei.value) and str(tmp_path) in str(ei.value)


def test_missing_manifest_blob(tmp_path):
    ref, img = oci_image(tmp_path, *LAYERS)
    _blob(tmp_path, img.manifest_digest).unlink()
    with pytest.raises(NotFoundError, match=f"manifest blob {img.manifest_digest} is missing"):
        open_image(ref)


def test_tampered_manifest_blob(tmp_path):
    ref, img = oci_image(tmp_path, *LAYERS)
    p = _blob(tmp_path, img.manifest_digest)
    p.write_bytes(p.read_bytes().replace(b'"schemaVersion":2', b'"schemaVersion":2 '))
    with pytest.raises(DigestMismatchError, match="size is"):
        open_image(ref)


def test_tampered_layer_blob_names_the_layer(tmp_path):
    ref, img = oci_image(tmp_path, *LAYERS, compression="none")
    d = json.loads(img.manifest)["layers"][0]["digest"]
    p = _blob(tmp_path, d)
    data = bytearray(p.read_bytes())
    data[600] ^= 1
    p.write_bytes(bytes(data))
    with open_image(ref) as im, pytest.raises(DigestMismatchError) as ei:
        with im.layers()[0].open() as s:
            s.read()
    assert "layer 0" in str(ei.value) and d in str(ei.value)


def _foreign(m):
    m["layers"][0]["urls"] = ["https://example.invalid/layer.tar.gz"]
    m["layers"][0]["mediaType"] = media.OCI_LAYER_NONDIST_GZIP


def test_foreign_layer_not_fetched(tmp_path):
    ref, img = oci_image(tmp_path, *LAYERS, mutate_manifest=_foreign)
    _blob(tmp_path, json.loads(img.manifest)["layers"][0]["digest"]).unlink()
    with open_image(ref) as im, pytest.raises(UnsupportedError, match="foreign layer .* not fetched"):
        im.layers()[0].open()


def test_foreign_layer_present_is_read(tmp_path):
    ref, img = oci_image(tmp_path, *LAYERS, mutate_manifest=_foreign)
    assert read_layers(ref)[1] == LAYERS


@pytest.mark.parametrize(
    "evil",
    ["sha256:../../x", "sha256:../../../etc/passwd", "sha256:" + "A" * 64, "sha256:/etc/passwd", "md5:" + "0" * 32],
    ids=["dotdot", "dotdot-etc-passwd", "uppercase-hex", "absolute", "md5"],
)
def test_evil_layer_digest_never_reaches_the_filesystem(tmp_path, evil, monkeypatch):
    def mutate(m):
        m["layers"][0]["digest"] = evil

    ref, _ = oci_image(tmp_path / "lay", *LAYERS, mutate_manifest=mutate)
    opened = []
    real_open = open

    def spy(path, *a, **k):
        opened.append(str(path))
        return real_open(path, *a, **k)

    monkeypatch.setattr("builtins.open", spy)
    with open_image(ref) as im, pytest.raises(InvalidImageError, match="invalid digest"):
        im.layers()
    assert not any(".." in p or "passwd" in p for p in opened)


@pytest.mark.parametrize("evil", ["sha256:../../x", "sha256:" + "g" * 64], ids=["dotdot", "non-hex"])
def test_evil_digest_in_index_json(tmp_path, evil):
    oci_image(tmp_path, *LAYERS)
    idx = json.loads((tmp_path / "index.json").read_bytes())
    idx["manifests"][0]["digest"] = evil
    (tmp_path / "index.json").write_bytes(canonical_json(idx))
    with pytest.raises(InvalidImageError, match="invalid digest"):
        open_image(f"oci:{tmp_path}")


def test_evil_digest_in_reference_is_rejected():
    with pytest.raises(BadReferenceError):
        open_image("oci:/tmp@sha256:../../x")


def test_index_pointing_to_itself(tmp_path):
    oci_image(tmp_path, *LAYERS)
    # An index blob stored under digest D that lists D: it cannot hash to D, and even if
    # it could, resolve() would stop at the cycle.
    fake = "sha256:" + "ab" * 32
    body = canonical_json({"schemaVersion": 2, "mediaType": media.OCI_INDEX,
                           "manifests": [{"mediaType": media.OCI_INDEX, "digest": fake, "size": 10}]})
    _blob(tmp_path, fake).write_bytes(body)
    idx = {"schemaVersion": 2, "manifests": [{"mediaType": media.OCI_INDEX, "digest": fake, "size": len(body)}]}
    (tmp_path / "index.json").write_bytes(canonical_json(idx))
    with pytest.raises(DigestMismatchError):
        open_image(f"oci:{tmp_path}")


def test_index_cycle_detected_even_with_matching_digests(tmp_path, monkeypatch):
    from imagefs.sources import _blobs

    oci_image(tmp_path, *LAYERS)
    fake = "sha256:" + "cd" * 32
    body = canonical_json({"schemaVersion": 2, "mediaType": media.OCI_INDEX,
                           "manifests": [{"mediaType": media.OCI_INDEX, "digest": fake, "size": 0,
                                          "platform": {"os": "linux", "architecture": "amd64"}}]})
    _blob(tmp_path, fake).write_bytes(body)
    (tmp_path / "index.json").write_bytes(canonical_json(
        {"schemaVersion": 2, "manifests": [{"mediaType": media.OCI_INDEX, "digest": fake, "size": len(body)}]}))
    monkeypatch.setattr(_blobs, "verify_bytes", lambda *a: None)  # pretend the hash matched
    with pytest.raises(InvalidImageError, match="refers to itself"):
        open_image(f"oci:{tmp_path}", platform="linux/amd64")


def test_manifest_holding_manifests_is_rejected(tmp_path):
    ref, _ = oci_image(tmp_path, *LAYERS, mutate_manifest=lambda m: m.__setitem__("manifests", []))
    with pytest.raises(InvalidImageError, match="media-type confusion"):
        open_image(ref)


def test_diff_id_count_mismatch(tmp_path):
    ref, _ = oci_image(tmp_path, *LAYERS, mutate_config=lambda c: c["rootfs"]["diff_ids"].pop())
    with open_image(ref) as im, pytest.raises(InvalidImageError, match="2 layers but the config has 1 diff_ids"):
        im.layers()


def test_diff_id_mismatch_names_the_layer(tmp_path):
    def swap(c):
        c["rootfs"]["diff_ids"].reverse()

    ref, _ = oci_image(tmp_path, *LAYERS, mutate_config=swap)
    with open_image(ref) as im, pytest.raises(DigestMismatchError, match="layer 0 .*diff_id"):
        with im.layers()[0].open() as s:
            s.read()


def test_layer_progress(tmp_path):
    ref, img = oci_image(tmp_path, *LAYERS)
    seen: list[int] = []
    with open_image(ref) as im:
        lay = im.layers()[1]
        with lay.open(progress=seen.append) as s:
            s.read()
    assert sum(seen) == lay.descriptor.size


# --- docker archives ----------------------------------------------------------------------


@pytest.mark.parametrize("oci_inside", [False, True], ids=["classic", "oci-inside"])
@pytest.mark.parametrize("gzip_outer", [False, True], ids=["tar", "tar.gz"])
@pytest.mark.parametrize("suffix", ["", ":app:1", ":docker.io/library/app:1", ":@0"], ids=["only", "repo-tag", "normalised-tag", "index"])
def test_docker_archive(tmp_path, oci_inside, gzip_outer, suffix):
    img = build_image(ImageSpec(LAYERS))
    arc = tmp_path / ("img.tar.gz" if gzip_outer else "img.tar")
    write_docker_archive(arc, img, repo_tags=["app:1"], oci_inside=oci_inside, gzip_outer=gzip_outer)
    digest, data, diff_ids = read_layers(f"docker-archive:{arc}{suffix}")
    assert data == LAYERS
    assert diff_ids == [sha256(x) for x in LAYERS]
    if oci_inside:
        assert digest == img.manifest_digest  # the real manifest, from index.json
    else:
        assert digest != img.manifest_digest  # synthetic...
        assert read_layers(f"docker-archive:{arc}")[0] == digest  # ...and stable


def test_docker_archive_synthetic_manifest_shape(tmp_path):
    img = build_image(ImageSpec(LAYERS))
    write_docker_archive(tmp_path / "a.tar", img)
    with open_image(f"docker-archive:{tmp_path / 'a.tar'}") as im:
        m = im.manifest
        assert m["mediaType"] == media.DOCKER_MANIFEST
        assert [d["digest"] for d in m["layers"]] == [sha256(x) for x in LAYERS]
        assert im.config_descriptor.digest == sha256(img.config)
        assert im.media_type == media.DOCKER_MANIFEST


def _merge_archives(dest: Path, archives: list[Path]) -> Path:
    """One classic archive holding the images of several (manifest.json entries joined)."""
    entries, seen = [], set()
    with tarfile.open(dest, "w") as out:
        for a in archives:
            with tarfile.open(a) as tf:
                for ti in tf:
                    if ti.name == "manifest.json":
                        entries += json.loads(tf.extractfile(ti).read())
                    elif ti.name not in seen:
                        seen.add(ti.name)
                        out.addfile(ti, tf.extractfile(ti) if ti.isreg() else None)
        data = canonical_json(entries)
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        out.addfile(info, io.BytesIO(data))
    return dest


@pytest.fixture
def two_image_archive(tmp_path) -> Path:
    a, b = build_image(ImageSpec([L1])), build_image(ImageSpec([L2]))
    write_docker_archive(tmp_path / "a.tar", a, repo_tags=["app:1", "ghcr.io/o/app:1"])
    write_docker_archive(tmp_path / "b.tar", b, repo_tags=["localhost:5000/tool:dev"])
    return _merge_archives(tmp_path / "ab.tar", [tmp_path / "a.tar", tmp_path / "b.tar"])


@pytest.mark.parametrize(
    "suffix, expected",
    [(":app:1", [L1]), (":ghcr.io/o/app:1", [L1]), (":localhost:5000/tool:dev", [L2]), (":@1", [L2]), (":@0", [L1])],
    ids=["first-tag", "second-tag-same-image", "registry-with-port", "index-1", "index-0"],
)
def test_docker_archive_repo_tags_selection(two_image_archive, suffix, expected):
    assert read_layers(f"docker-archive:{two_image_archive}{suffix}")[1] == expected


@pytest.mark.parametrize(
    "suffix, pattern",
    [
        ("", r"holds 2 images; name one .*app:1, ghcr.io/o/app:1; localhost:5000/tool:dev"),
        (":app:2", r"no image tagged 'app:2'; the archive holds: app:1"),
        (":@5", r"holds 2 image\(s\); @5 is out of range"),
    ],
    ids=["no-tag-several-images", "missing-tag", "index-out-of-range"],
)
def test_docker_archive_selection_errors(two_image_archive, suffix, pattern):
    with pytest.raises(NotFoundError, match=pattern):
        open_image(f"docker-archive:{two_image_archive}{suffix}")


def test_docker_archive_symlinked_duplicate_layer(tmp_path):
    """Docker's classic save links a repeated layer.tar to the first copy."""
    img = build_image(ImageSpec([L1, L1]))
    write_docker_archive(tmp_path / "a.tar", img)
    out = tmp_path / "b.tar"
    with tarfile.open(tmp_path / "a.tar") as src, tarfile.open(out, "w") as dst:
        m = json.loads(src.extractfile("manifest.json").read())
        first = m[0]["Layers"][0]
        m[0]["Layers"][1] = "dup/layer.tar"
        for ti in src:
            if ti.name != "manifest.json":
                dst.addfile(ti, src.extractfile(ti) if ti.isreg() else None)
        link = tarfile.TarInfo("dup/layer.tar")
        link.type = tarfile.SYMTYPE
        link.linkname = "../" + first
        dst.addfile(link)
        data = canonical_json(m)
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        dst.addfile(info, io.BytesIO(data))
    assert read_layers(f"docker-archive:{out}")[1] == [L1, L1]


@pytest.mark.parametrize(
    "content, exc, pattern",
    [
        (None, NotFoundError, "no such file"),
        (b"not a tar at all" * 100, InvalidImageError, "not a readable tar|holds no files"),
        ("empty-tar", InvalidImageError, "holds no files"),
        ("no-manifest", InvalidImageError, "not a docker save archive"),
        ("bad-json", InvalidImageError, "manifest.json is not valid JSON"),
        ("missing-layer", NotFoundError, "layer 'x/layer.tar' is missing"),
    ],
    ids=["missing-file", "garbage", "empty-tar", "no-manifest-json", "manifest-json-garbage", "missing-layer-member"],
)
def test_docker_archive_broken(tmp_path, content, exc, pattern):
    p = tmp_path / "a.tar"

    def tar_of(members: dict[str, bytes]) -> None:
        with tarfile.open(p, "w") as tf:
            for name, data in members.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))

    img = build_image(ImageSpec([L1]))
    cfg = img.config
    if content == "empty-tar":
        tar_of({})
    elif content == "no-manifest":
        tar_of({"x": b"y"})
    elif content == "bad-json":
        tar_of({"manifest.json": b"{nope"})
    elif content == "missing-layer":
        tar_of({"c.json": cfg, "manifest.json": canonical_json([{"Config": "c.json", "Layers": ["x/layer.tar"]}])})
    elif content is not None:
        p.write_bytes(content)
    with pytest.raises(exc, match=pattern):
        open_image(f"docker-archive:{p}")


def test_docker_archive_oci_inside_multi_image_by_containerd_name(tmp_path):
    """A Docker 25+ archive with two images: REPO:TAG matches io.containerd.image.name."""
    a, b = build_image(ImageSpec([L1])), build_image(ImageSpec([L2]))
    write_docker_archive(tmp_path / "a.tar", a, repo_tags=["app:1"], oci_inside=True)
    write_docker_archive(tmp_path / "b.tar", b, repo_tags=["app:2"], oci_inside=True)
    out = tmp_path / "ab.tar"
    entries, index, seen = [], [], set()
    with tarfile.open(out, "w") as dst:
        for src_path in (tmp_path / "a.tar", tmp_path / "b.tar"):
            with tarfile.open(src_path) as src:
                for ti in src:
                    if ti.name == "manifest.json":
                        entries += json.loads(src.extractfile(ti).read())
                    elif ti.name == "index.json":
                        index += json.loads(src.extractfile(ti).read())["manifests"]
                    elif ti.name not in seen:
                        seen.add(ti.name)
                        dst.addfile(ti, src.extractfile(ti) if ti.isreg() else None)
        for name, doc in (("manifest.json", entries), ("index.json", {"schemaVersion": 2, "manifests": index})):
            data = canonical_json(doc)
            info = tarfile.TarInfo(name)
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))
    d2, data2, _ = read_layers(f"docker-archive:{out}:app:2")
    assert d2 == b.manifest_digest and data2 == [L2]
    assert read_layers(f"docker-archive:{out}:@0")[0] == a.manifest_digest
    with pytest.raises(NotFoundError, match="holds 2 images"):
        open_image(f"docker-archive:{out}")


def test_gzip_archive_does_not_write_to_disk(tmp_path, monkeypatch):
    img = build_image(ImageSpec(LAYERS))
    arc = tmp_path / "img.tar.gz"
    write_docker_archive(arc, img, gzip_outer=True)
    import tempfile

    def boom(*a, **k):
        raise AssertionError("a temporary file was created")

    monkeypatch.setattr(tempfile, "TemporaryFile", boom)
    monkeypatch.setattr(tempfile, "NamedTemporaryFile", boom)
    monkeypatch.setattr(tempfile, "mkstemp", boom)
    before = set(os.listdir(tmp_path))
    assert read_layers(f"docker-archive:{arc}")[1] == LAYERS
    assert set(os.listdir(tmp_path)) == before


# --- cross-checks with skopeo ---------------------------------------------------------------


@pytest.mark.parametrize("dest", ["docker-archive", "oci-archive"])
def test_skopeo_written_archives(tmp_path, dest):
    skopeo = require_tool("skopeo")
    ref, img = oci_image(tmp_path / "lay", *LAYERS, tag="v1")
    out = tmp_path / "out.tar"
    target = f"{dest}:{out}:app:1" if dest == "docker-archive" else f"{dest}:{out}:v1"
    subprocess.run(
        [skopeo, "--insecure-policy", "copy", "-q", ref, target],
        check=True, capture_output=True, timeout=120,
    )
    digest, data, diff_ids = read_layers(target)
    assert data == LAYERS
    assert diff_ids == [sha256(x) for x in LAYERS]
    if dest == "oci-archive":
        assert digest == img.manifest_digest


def test_skopeo_reads_what_imagefs_reads(tmp_path):
    """skopeo copies our docker-archive to an OCI layout; both give the same layers."""
    skopeo = require_tool("skopeo")
    img = build_image(ImageSpec(LAYERS, compression="zstd"))
    write_docker_archive(tmp_path / "a.tar", img, repo_tags=["app:1"], oci_inside=False)
    subprocess.run(
        [skopeo, "--insecure-policy", "copy", "-q", f"docker-archive:{tmp_path / 'a.tar'}", f"oci:{tmp_path / 'lay'}:x"],
        check=True, capture_output=True, timeout=120,
    )
    _, a, ida = read_layers(f"docker-archive:{tmp_path / 'a.tar'}:app:1")
    _, b, idb = read_layers(f"oci:{tmp_path / 'lay'}:x")
    assert a == b == LAYERS and ida == idb


def test_errors_are_one_line(tmp_path):
    for text in (f"oci:{tmp_path}", f"docker-archive:{tmp_path / 'x.tar'}", f"oci-archive:{tmp_path}"):
        with pytest.raises(ImagefsError) as ei:
            open_image(text)
        assert "\n" not in str(ei.value)


def test_docker_transport_has_a_clear_error_until_the_registry_lands():
    try:
        import imagefs.sources.registry  # noqa: F401
    except ImportError:
        with pytest.raises(UnsupportedError, match="not supported yet; copy the image locally first"):
            open_image("debian:12")
    else:
        pytest.skip("the registry source is present")


def test_gzip_archive_members_in_any_order(tmp_path, monkeypatch):
    """Big members of a .tar.gz are reached by re-inflating; a parked reader is reused
    when the next member lies further on, and any order still gives the right bytes."""
    from imagefs.sources import _archive

    monkeypatch.setattr(_archive, "SMALL_MEMBER", 16)  # force every member through a window
    layers = [layer(F(f"f{i}", bytes([i]) * (3000 * (i + 1)))) for i in range(5)]
    img = build_image(ImageSpec(layers, compression="none"))
    arc = tmp_path / "img.tar.gz"
    write_docker_archive(arc, img, oci_inside=True, gzip_outer=True)
    opened = []
    real = _archive._open_gzip
    monkeypatch.setattr(_archive, "_open_gzip", lambda p: opened.append(p) or real(p))
    with open_image(f"docker-archive:{arc}") as im:
        lays = im.layers()
        by_offset = sorted(lays, key=lambda la: im.source.store.archive.members[f"blobs/sha256/{la.digest[7:]}"][0])
        opened.clear()
        for order in (by_offset, list(reversed(by_offset)), [by_offset[2], by_offset[0], by_offset[4]]):
            for la in order:
                with la.open() as s:
                    assert s.read() == layers[la.index]
        # in file order, one inflating reader serves all five layers
        assert len(opened) <= 1 + 5 + 2
    first_pass_opens = None
    with open_image(f"docker-archive:{arc}") as im:
        lays = sorted(im.layers(), key=lambda la: im.source.store.archive.members[f"blobs/sha256/{la.digest[7:]}"][0])
        opened.clear()
        for la in lays:
            with la.open() as s:
                s.read()
        first_pass_opens = len(opened)
    assert first_pass_opens <= 1  # 0 when the parked config reader already lies before them


@pytest.mark.parametrize("oci_inside", [False, True], ids=["classic", "oci-inside"])
def test_gzip_archive_big_config_read_in_full(tmp_path, oci_inside):
    """A config bigger than the in-memory member cache is read through a window, fully."""
    big = {"Labels": {f"k{i}": "v" * 100 for i in range(4000)}}  # ~450 KB of config
    img = build_image(ImageSpec(LAYERS, config=big))
    arc = tmp_path / "img.tar.gz"
    write_docker_archive(arc, img, oci_inside=oci_inside, gzip_outer=True)
    with open_image(f"docker-archive:{arc}") as im:
        assert len(im.config["config"]["Labels"]) == 4000
        assert [la.open().read() for la in im.layers()] == LAYERS


def test_skopeo_docker_archive_additional_tags(tmp_path):
    skopeo = require_tool("skopeo")
    ref, _ = oci_image(tmp_path / "lay", *LAYERS, tag="v1")
    out = tmp_path / "out.tar"
    subprocess.run(
        [skopeo, "--insecure-policy", "copy", "-q", "--additional-tag", "ghcr.io/o/app:2", ref, f"docker-archive:{out}:app:1"],
        check=True, capture_output=True, timeout=120,
    )
    a = read_layers(f"docker-archive:{out}:app:1")
    b = read_layers(f"docker-archive:{out}:ghcr.io/o/app:2")
    assert a == b and a[1] == LAYERS
    with pytest.raises(NotFoundError, match="app:1, ghcr.io/o/app:2"):
        open_image(f"docker-archive:{out}:app:3")


@pytest.mark.parametrize("gzip_outer", [False, True], ids=["tar", "tar.gz"])
def test_archive_layers_read_concurrently(tmp_path, gzip_outer):
    from concurrent.futures import ThreadPoolExecutor

    layers = [layer(F(f"f{i}", bytes([i]) * 50000)) for i in range(6)]
    img = build_image(ImageSpec(layers, compression="gzip"))
    arc = tmp_path / "a.tar"
    write_docker_archive(arc, img, oci_inside=True, gzip_outer=gzip_outer)
    with open_image(f"docker-archive:{arc}") as im:
        def read(la):
            with la.open() as s:
                return s.read()

        with ThreadPoolExecutor(4) as pool:
            assert list(pool.map(read, im.layers() * 3)) == layers * 3
