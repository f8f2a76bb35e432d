"""End to end through ``main([...])`` over fixture images: sources + engine + renderers.

The fixture images are written reproducibly (``imagefs.oci_writer``), so their listings
are golden files too (``IMAGEFS_UPDATE_GOLDEN=1`` rewrites them).
"""

from __future__ import annotations

import json

import pytest
from fixtures import D, F, H, L, TarMember, layer, oci_image
from golden import check_golden
from imagefs import cli
from imagefs.tree import Tree

HOSTILE_DIR = "tmp"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Image A (one layer) and image B (A's layer plus one that edits, deletes and adds)."""
    base = tmp_path_factory.mktemp("cli-images")
    l0 = layer(
        D("etc"), F("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"), F("etc/motd", b"hi\n"),
        D("usr"), D("usr/bin"), F("usr/bin/tool", b"#!/bin/sh\necho tool\n", mode=0o4755),
        H("usr/bin/tool2", "usr/bin/tool"), L("bin", "usr/bin"),
        D("tmp", mode=0o1777), F("tmp/<script>x", b"1"), F("tmp/new\nline", b"22"),
        F("tmp/evil\u202etxt", b"333"), F("tmp/bad\udcffname", b"4444"),
        TarMember("dev", "dir"), TarMember("dev/null", "char", mode=0o666, devmajor=1, devminor=3),
        D("opt"), D("opt/app"), F("opt/app/a.txt", b"a" * 3000),
    )
    l1 = layer(
        F("etc/motd", b"hello there, world\n"), F("etc/.wh.passwd"),
        D("opt"), F("opt/.wh..wh..opq"), F("opt/new.txt", b"n"),
        D("var"), D("var/log"), F("var/log/app.log", b"x" * 5000, mode=0o600, uid=1000, gid=1000),
    )
    a_ref, a_img = oci_image(base / "a", l0)
    b_ref, b_img = oci_image(base / "b", l0, l1)
    return {"a": a_ref, "b": b_ref, "a_img": a_img, "b_img": b_img}


GOLDEN_RUNS = [
    ("image-tree.txt", ["list", "{b}", "--markers"]),
    ("image-tree-a.txt", ["list", "{a}"]),
    ("image-ls-laR.txt", ["list", "{b}", "-f", "ls", "-R"]),
    ("image-ls-h-etc.txt", ["list", "{b}", "/etc", "-f", "ls", "-h"]),
    ("image-ls-through-symlink.txt", ["list", "{b}", "/bin/", "-f", "ls"]),
    ("image-layers.txt", ["list", "{b}", "-f", "layers"]),
    ("image-diff.txt", ["diff", "{a}", "{b}"]),
    ("image-diff.json", ["diff", "{a}", "{b}", "--format", "json"]),
    ("image-diff-collapse.txt", ["diff", "{a}", "{b}", "--collapse"]),
    ("image-diff-reverse-collapse.txt", ["diff", "{b}", "{a}", "--collapse"]),
]


@pytest.mark.parametrize("golden,argv", GOLDEN_RUNS, ids=[g for g, _ in GOLDEN_RUNS])
def test_image_outputs_match_golden(capsys, images, golden, argv):
    code, out, err = run(capsys, *[a.format(**images) for a in argv])
    assert (code, err) == (0, "")
    # The references hold tmp paths: golden files name them A and B.
    out = out.replace(images["a"], "A").replace(images["b"], "B")
    check_golden(golden, out)


def test_json_round_trips_to_an_equal_tree(capsys, images):
    code, out, err = run(capsys, "list", images["b"], "--format", "json")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert doc["schema"] == 1
    assert doc["image"]["manifest_digest"] == images["b_img"].manifest_digest
    tree = Tree.from_json(doc)
    paths = [e.path for e in tree.entries()]
    assert "/etc/passwd" not in paths and "/opt/app" not in paths and "/opt/new.txt" in paths
    assert "/tmp/bad\udcffname" in paths
    # Serialising the parsed tree again gives the same bytes.
    from imagefs.render.json import render

    assert render(tree) == out


def test_list_of_a_path_and_a_missing_path(capsys, images):
    code, out, _ = run(capsys, "list", images["b"], "/etc", "-f", "ls", "-A")
    assert code == 0 and [line.split()[-1] for line in out.splitlines()] == ["motd"]
    code, out, err = run(capsys, "list", images["b"], "/etc/passwd")
    assert (code, out) == (1, "")
    assert err == f"imagefs: error: {images['b']}: no /etc/passwd in the image; the nearest existing parent is /etc (list it to see what is there)\n"


def test_hostile_names_are_escaped_end_to_end(capsys, images):
    for fmt in ("tree", "ls"):
        code, out, _ = run(capsys, "list", images["b"], "/tmp", "-f", fmt)
        assert code == 0
        assert "new\\nline" in out and "evil\\u202etxt" in out and "bad\\xffname" in out
        assert "\u202e" not in out


def test_broken_image_exits_1(capsys, images, tmp_path):
    import shutil
    from pathlib import Path

    broken = tmp_path / "broken"
    shutil.copytree(images["b"].split(":")[1], broken)
    blobs = sorted((Path(broken) / "blobs" / "sha256").iterdir(), key=lambda p: p.stat().st_size)
    victim = blobs[-1]  # the biggest blob is a layer
    data = bytearray(victim.read_bytes())
    data[-20] ^= 0xFF
    victim.write_bytes(bytes(data))
    code, out, err = run(capsys, "list", f"oci:{broken}:latest", "--no-cache")
    assert (code, out) == (1, "")
    assert err.startswith("imagefs: error: ") and err.count("\n") == 1


@pytest.mark.parametrize(
    "kind", ["docker-archive-classic", "docker-archive-oci-inside", "docker-archive-gzip", "oci-zstd"]
)
def test_every_local_transport_lists_the_same_tree(capsys, images, tmp_path, kind):
    from fixtures import build_image, write_docker_archive
    from imagefs.oci_writer import ImageSpec, make_layer_tar

    l0 = make_layer_tar([D("etc"), F("etc/hostname", b"box\n"), L("bin", "usr/bin"), D("usr"), D("usr/bin")])
    l1 = make_layer_tar([F("etc/.wh.hostname"), F("etc/os-release", b"ID=test\n")])
    if kind == "oci-zstd":
        ref, _ = oci_image(tmp_path / "z", l0, l1, compression="zstd")
    else:
        img = build_image(ImageSpec([l0, l1]))
        path = tmp_path / ("img.tar.gz" if kind.endswith("gzip") else "img.tar")
        write_docker_archive(path, img, repo_tags=["demo:1"], oci_inside=kind.endswith("oci-inside"),
                             gzip_outer=kind.endswith("gzip"))
        ref = f"docker-archive:{path}"
    code, out, err = run(capsys, "list", ref, "--no-cache")
    assert (code, err) == (0, "")
    assert out == "/\n├── bin -> usr/bin\n├── etc\n│   └── os-release\n└── usr\n    └── bin\n\n5 directories, 1 file\n"


def test_jobs_read_layers_concurrently_with_the_same_result(capsys, images):
    code1, one, _ = run(capsys, "list", images["b"], "-f", "json", "--no-cache", "-j", "1")
    code4, four, _ = run(capsys, "list", images["b"], "-f", "json", "--no-cache", "--jobs", "4")
    assert (code1, code4) == (0, 0) and one == four


@pytest.mark.parametrize("quiet", [False, True], ids=["tty-draws-progress", "quiet-draws-nothing"])
def test_progress_line_on_a_terminal(monkeypatch, capsys, images, quiet):
    import io

    class TTY(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("IMAGEFS_NO_PROGRESS", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    err = TTY()
    monkeypatch.setattr("sys.stderr", err)
    code = cli.main(["list", images["b"], "--no-cache", "-f", "layers"] + (["-q"] if quiet else []))
    out = capsys.readouterr().out
    assert code == 0 and out.startswith("#  DIGEST")
    text = err.getvalue()
    if quiet:
        assert text == ""
    else:
        assert "[2/2 layers done]" in text and text.endswith("\r") and "\n" not in text
