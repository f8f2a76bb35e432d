"""Recipes: the reproducible tar helpers (fast), and real builds from Debian packages (slow).

The slow tests download .deb files once into build/debs/ (shared between runs, never
committed) and build into tmp_path, so two builds with fresh state must give equal digests.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
from conftest import ROOT, require_tool
from imagefs import recipes
from imagefs.errors import ImagefsError
from imagefs.oci_writer import TarMember
from imagefs.recipes.debs import _ar_members, iter_deb_members
from imagefs.recipes.images import ca_bundle
from imagefs.recipes.rootfs import RootFS, dir_to_members, norm

SDE = 1_700_000_000
BUILD = ROOT / "build"


# --- fast: the reproducible layer helpers -------------------------------------------------


@pytest.mark.parametrize(
    "given, want",
    [("./etc/passwd", "etc/passwd"), ("/etc/", "etc"), ("a//b/./c", "a/b/c"), (".", "")],
    ids=["dot-prefix", "abs-trailing-slash", "doubled-and-dot", "root"],
)
def test_norm(given, want):
    assert norm(given) == want


def test_norm_refuses_dotdot():
    with pytest.raises(ImagefsError, match="'..'"):
        norm("etc/../../x")


def test_members_sorted_parents_implicit_mtimes_clamped():
    fs = RootFS()
    fs.file("usr/bin/z", b"z")
    fs.put(TarMember("./usr/bin/a", "file", data=b"a", mtime=5, uid=7, gid=8))
    fs.dir("tmp", 0o1777)
    ms = fs.members(SDE)
    assert [m.name for m in ms] == ["tmp/", "usr/", "usr/bin/", "usr/bin/a", "usr/bin/z"]
    by = {m.name: m for m in ms}
    assert by["usr/bin/a"].mtime == 5, "older mtimes are kept"
    assert by["usr/bin/z"].mtime == SDE, "newer mtimes are clamped to SOURCE_DATE_EPOCH"
    assert (by["usr/bin/a"].uid, by["usr/bin/a"].gid) == (7, 8), "owners come from the source"
    assert by["tmp/"].mode == 0o1777


def test_hardlink_group_written_target_first():
    fs = RootFS()
    fs.file("z/original", b"data")
    fs.hardlink("a/link", "z/original")
    ms = {m.name: m for m in fs.members(SDE)}
    assert ms["a/link"].type == "file" and ms["a/link"].data == b"data"
    assert ms["z/original"].type == "hardlink" and ms["z/original"].linkname == "a/link"


def test_hardlink_to_missing_target_is_an_error():
    fs = RootFS()
    fs.hardlink("a", "nowhere")
    with pytest.raises(ImagefsError, match="target missing"):
        fs.members(SDE)


def test_whiteout_and_opaque_names():
    fs = RootFS()
    fs.whiteout("/etc/services")
    fs.whiteout("top")
    fs.opaque("var/cache/app")
    names = [m.name for m in fs.members(SDE)]
    assert "etc/.wh.services" in names and ".wh.top" in names and "var/cache/app/.wh..wh..opq" in names


def test_layer_tar_is_reproducible_and_owner_names_empty():
    def build():
        fs = RootFS()
        fs.file("b", b"2")
        fs.file("a", b"1", uid=65532, gid=65532)
        return fs.layer_tar(SDE)

    t1, t2 = build(), build()
    assert t1 == t2
    with tarfile.open(fileobj=io.BytesIO(t1)) as tf:
        infos = tf.getmembers()
    assert [i.name for i in infos] == ["a", "b"]
    assert all(i.uname == "" and i.gname == "" for i in infos)


def test_dir_to_members(tmp_path):
    root = tmp_path / "root"
    (root / "d").mkdir(parents=True)
    (root / "d" / "f").write_bytes(b"hello")
    os.link(root / "d" / "f", root / "g")
    os.symlink("d/f", root / "s")
    os.mkfifo(root / "p")
    os.chmod(root / "d", 0o750)
    ms = {m.name: m for m in dir_to_members(root)}
    assert ms["d"].type == "dir" and ms["d"].mode == 0o750
    assert ms["d/f"].type == "file" and ms["d/f"].data == b"hello"
    assert ms["g"].type == "hardlink" and ms["g"].linkname == "d/f"
    assert ms["s"].type == "symlink" and ms["s"].linkname == "d/f"
    assert ms["p"].type == "fifo"


def _fake_deb(members: list[tuple[str, bytes]]) -> bytes:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:xz") as tf:
        for name, body in members:
            info = tarfile.TarInfo(name)
            info.size = len(body)
            info.uid = 0
            tf.addfile(info, io.BytesIO(body))
    out = b"!<arch>\n"
    for name, blob in [("debian-binary", b"2.0\n"), ("control.tar.xz", b""), ("data.tar.xz", data.getvalue())]:
        out += f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(blob):<10}`\n".encode() + blob
        if len(blob) & 1:
            out += b"\n"
    return out


def test_deb_reader_reads_data_tar(tmp_path):
    deb = tmp_path / "x.deb"
    deb.write_bytes(_fake_deb([("./etc/x.conf", b"odd"), ("./usr/share/doc/x/copyright", b"c")]))
    got = [(i.name, body) for i, body in iter_deb_members(deb)]
    assert got == [("./etc/x.conf", b"odd"), ("./usr/share/doc/x/copyright", b"c")]


@pytest.mark.parametrize(
    "blob, match", [(b"PK\x03\x04", "no ar magic"), (b"!<arch>\n", "no data.tar")], ids=["not-ar", "no-data-member"]
)
def test_deb_reader_rejects_non_debs(tmp_path, blob, match):
    deb = tmp_path / "bad.deb"
    deb.write_bytes(blob)
    with pytest.raises(ImagefsError, match=match):
        list(iter_deb_members(deb))


def test_ar_members_pad_odd_sizes():
    deb = _fake_deb([("a", b"x")])
    assert [n for n, _ in _ar_members(deb, "t")] == ["debian-binary", "control.tar.xz", "data.tar.xz"]


def test_ca_bundle_concatenates_in_path_order():
    assert ca_bundle({"b.crt": b"B\n", "a.crt": b"A"}) == b"A\nB\n"


def test_unknown_recipe_names_the_known_ones():
    with pytest.raises(ImagefsError, match="known: distroless-static"):
        recipes.get("nope")


# --- slow: real builds from Debian packages -------------------------------------------------


def _read_layout(layout: Path) -> tuple[dict, list[dict]]:
    index = json.loads((layout / "index.json").read_bytes())
    top = index["manifests"][0]
    blob = json.loads((layout / "blobs" / "sha256" / top["digest"].split(":")[1]).read_bytes())
    manifests = [blob] if "layers" in blob else [
        json.loads((layout / "blobs" / "sha256" / m["digest"].split(":")[1]).read_bytes()) for m in blob["manifests"]
    ]
    return top, manifests


def _layer_members(layout: Path, desc: dict) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(layout / "blobs" / "sha256" / desc["digest"].split(":")[1]) as tf:
        return {i.name: i for i in tf.getmembers()}


def _build_twice(name: str, tmp_path: Path) -> tuple[recipes.BuildResult, recipes.BuildResult]:
    require_tool("apt-get")
    r1 = recipes.build_recipe(name, recipes.Context(BUILD, sde=SDE, images_dir=tmp_path / "one"))
    r2 = recipes.build_recipe(name, recipes.Context(BUILD, sde=SDE, images_dir=tmp_path / "two"))
    return r1, r2


@pytest.mark.slow
@pytest.mark.parametrize("name", ["distroless-static", "distroless-base", "go-scratch", "go-static", "multilayer",
                                  "distroless-static-multiarch"])
def test_two_builds_give_identical_digests(name, tmp_path):
    if name.startswith("go"):
        require_tool("go")
    r1, r2 = _build_twice(name, tmp_path)
    assert r1.built and r2.built
    assert r1.digest == r2.digest
    assert r1.input_key == r2.input_key
    # every blob is byte-identical, not just the manifest
    blobs1 = sorted(p.name for p in (r1.layout / "blobs" / "sha256").iterdir())
    blobs2 = sorted(p.name for p in (r2.layout / "blobs" / "sha256").iterdir())
    assert blobs1 == blobs2


@pytest.mark.slow
def test_distroless_static_content(tmp_path):
    require_tool("apt-get")
    r = recipes.build_recipe("distroless-static", recipes.Context(BUILD, sde=SDE, images_dir=tmp_path))
    top, (manifest,) = _read_layout(r.layout)
    assert top["annotations"][recipes.KEY_ANNOTATION] == r.input_key
    (layer,) = manifest["layers"]
    ms = _layer_members(r.layout, layer)
    with tarfile.open(r.layout / "blobs" / "sha256" / layer["digest"].split(":")[1]) as tf:
        passwd = tf.extractfile("etc/passwd").read().decode()
        group = tf.extractfile("etc/group").read().decode()
        bundle = tf.extractfile("etc/ssl/certs/ca-certificates.crt").read()
        osr = tf.extractfile("etc/os-release").read().decode()
    assert [line.split(":")[:3] for line in passwd.splitlines()] == [
        ["root", "x", "0"], ["nobody", "x", "65534"], ["nonroot", "x", "65532"]]
    assert "nonroot:x:65532:" in group
    assert bundle.count(b"-----BEGIN CERTIFICATE-----") > 100
    assert "ID=\"debian\"" in osr
    assert ms["tmp"].mode == 0o1777
    assert (ms["home/nonroot"].uid, ms["home/nonroot"].gid, ms["home/nonroot"].mode) == (65532, 65532, 0o700)
    assert "usr/share/zoneinfo/UTC" in ms and "etc/services" in ms
    assert not any(n.startswith("usr/share/ca-certificates/") for n in ms), "PEMs go into the bundle only"
    assert all(i.mtime <= SDE for i in ms.values())


@pytest.mark.slow
def test_unchanged_inputs_skip_the_build(tmp_path):
    require_tool("apt-get")
    ctx = recipes.Context(BUILD, sde=SDE, images_dir=tmp_path)
    first = recipes.build_recipe("distroless-static", ctx)
    before = (first.layout / "index.json").stat().st_mtime_ns
    again = recipes.build_recipe("distroless-static", ctx)
    assert first.built and not again.built and again.digest == first.digest
    assert (first.layout / "index.json").stat().st_mtime_ns == before
    other = recipes.build_recipe("distroless-static", recipes.Context(BUILD, sde=SDE + 1, images_dir=tmp_path))
    assert other.built and other.digest != first.digest, "SOURCE_DATE_EPOCH is an input"


@pytest.mark.slow
def test_multiarch_index_and_base_layers(tmp_path):
    require_tool("apt-get")
    ctx = recipes.Context(BUILD, sde=SDE, images_dir=tmp_path)
    r = recipes.build_recipe("distroless-static-multiarch", ctx)
    top, manifests = _read_layout(r.layout)
    assert top["mediaType"] == "application/vnd.oci.image.index.v1+json"
    index = json.loads((r.layout / "blobs" / "sha256" / top["digest"].split(":")[1]).read_bytes())
    assert [m["platform"]["architecture"] for m in index["manifests"]] == ["amd64", "arm64"]
    arm = _layer_members(r.layout, manifests[1]["layers"][0])
    assert "usr/share/doc/base-files/copyright" in arm
    base = recipes.build_recipe("distroless-base", ctx)
    _, (bm,) = _read_layout(base.layout)
    assert bm["layers"][0]["digest"] == manifests[0]["layers"][0]["digest"], "base shares the static layer"
    libs = _layer_members(base.layout, bm["layers"][1])
    assert "usr/bin/openssl" in libs and any("libssl.so.3" in n for n in libs) and any("libc.so.6" in n for n in libs)


@pytest.mark.slow
def test_go_binary_is_static(tmp_path):
    require_tool("go")
    r = recipes.build_recipe("go-scratch", recipes.Context(BUILD, sde=SDE, images_dir=tmp_path))
    _, (m,) = _read_layout(r.layout)
    with tarfile.open(r.layout / "blobs" / "sha256" / m["layers"][0]["digest"].split(":")[1]) as tf:
        assert tf.getnames() == ["hello"]
        binary = tf.extractfile("hello").read()
    assert binary[:4] == b"\x7fELF"
    assert b"/lib64/ld-linux" not in binary, "no dynamic loader: CGO_ENABLED=0 gives a static binary"


@pytest.mark.slow
def test_debian_minbase_reproducible_and_labelled(tmp_path):
    require_tool("mmdebstrap")
    if os.geteuid() != 0:
        pytest.skip("mmdebstrap --mode=root needs root")
    r1, r2 = _build_twice("debian-minbase", tmp_path)
    assert r1.digest == r2.digest
    _, (m,) = _read_layout(r1.layout)
    cfg = json.loads((r1.layout / "blobs" / "sha256" / m["config"]["digest"].split(":")[1]).read_bytes())
    labels = cfg["config"]["Labels"]
    assert labels["org.imagefs.build.variant"] == "minbase" and labels["org.imagefs.build.tool"].startswith("mmdebstrap ")
    assert "mmdebstrap" in cfg["history"][0]["created_by"]


@pytest.mark.slow
def test_deb_reader_agrees_with_dpkg_deb():
    """The pure-Python .deb reader sees exactly what dpkg-deb unpacks (names, types, modes, owners, sizes)."""
    require_tool("dpkg-deb")
    require_tool("apt-get")
    ctx = recipes.Context(BUILD, sde=SDE)
    for pkg in ctx.packages("amd64", ["base-files", "tzdata", "libc6"]):
        path = ctx.apt("amd64").fetch(pkg)
        ours = sorted((i.name, i.type, i.mode, i.uid, i.gid, i.size, i.linkname) for i, _ in iter_deb_members(path))
        tar = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(path)], capture_output=True, check=True).stdout
        with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
            theirs = sorted((i.name, i.type, i.mode, i.uid, i.gid, i.size, i.linkname) for i in tf)
        assert ours == theirs, pkg.name


@pytest.mark.slow
def test_layouts_unpack_with_umoci_and_skopeo(tmp_path):
    """Peers read the recipe's layout: skopeo inspects it and umoci unpacks the same tree."""
    require_tool("umoci")
    require_tool("skopeo")
    require_tool("apt-get")
    r = recipes.build_recipe("distroless-static", recipes.Context(BUILD, sde=SDE, images_dir=tmp_path / "img"))
    raw = subprocess.run(["skopeo", "inspect", "--raw", f"oci:{r.layout}:latest"], capture_output=True, text=True, check=True).stdout
    assert json.loads(raw)["layers"]
    bundle = tmp_path / "bundle"
    subprocess.run(["umoci", "unpack", "--rootless", "--image", f"{r.layout}:latest", str(bundle)], capture_output=True, check=True)
    rootfs = bundle / "rootfs"
    unpacked = sorted(str(p.relative_to(rootfs)) for p in rootfs.rglob("*"))
    _, (m,) = _read_layout(r.layout)
    listed = sorted(_layer_members(r.layout, m["layers"][0]))
    assert unpacked == listed
    assert (rootfs / "etc" / "passwd").read_text().startswith("root:x:0:0:")
