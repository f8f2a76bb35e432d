"""The command line through ``main([...])``: formats, paths, exit codes, one-line errors.

Two kinds of tests: CLI wiring over a hand-built tree (``fake_listing`` replaces the
engine step, so these prove options -> renderer and error mapping), and end to end over
fixture images written with the fixture builders (engine + sources + renderers).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures import D, F, H, L, layer, oci_image
from golden import check_golden
from imagefs import cli
from imagefs.commands import _common
from imagefs.tree import Tree
from render_samples import sample_tree

ROOT = Path(__file__).resolve().parent.parent


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def fake_listing(monkeypatch):
    """Make ``list_tree`` return the hand-built sample tree for any IMAGE."""
    seen = []

    def fake(args, reference):
        seen.append((reference, _common.source_options(args), _common.limits(args), args.symlinks, args.no_cache))
        return sample_tree()

    monkeypatch.setattr(_common, "list_tree", fake)  # commands call _common.list_tree
    return seen


# -- wiring over a hand-built tree -----------------------------------------------------

FORMAT_CASES = [
    ("tree", ["x"], "tree-root.txt"),
    ("tree-markers-layer", ["x", "--markers", "--show-layer"], "tree-markers-layers.txt"),
    ("tree-depth", ["x", "-L", "1"], "tree-depth1.txt"),
    ("tree-path-depth", ["x", "/etc", "--depth", "2"], "tree-etc-depth2.txt"),
    ("path-after-options", ["--depth", "2", "x", "--markers", "/etc"], "tree-etc-depth2-markers.txt"),
    ("ls", ["x", "-f", "ls"], "ls-la-root.txt"),
    ("ls-h", ["x", "/bin", "--format", "ls", "-h"], "ls-la-bin-human.txt"),
    ("ls-R", ["x", "etc", "-f", "ls", "-R"], "ls-laR-etc.txt"),
    ("ls-one-file", ["x", "/etc/shadow", "-f", "ls"], "ls-one-file.txt"),
    ("ls-A-R-depth", ["x", "-f", "ls", "-A", "-R", "-L", "1"], "ls-lAR-depth1.txt"),
    ("layers", ["x", "-f", "layers"], "layers.txt"),
    ("layers-no-width", ["x", "-f", "layers", "--width", "0"], "layers-full-width.txt"),
    ("json", ["x", "-f", "json"], "listing.json"),
]


@pytest.mark.parametrize("case,argv,golden", FORMAT_CASES, ids=[c[0] for c in FORMAT_CASES])
def test_list_formats_reach_the_renderers(capsys, fake_listing, case, argv, golden):
    code, out, err = run(capsys, "list", *argv)
    assert (code, err) == (0, "")
    check_golden(golden, out)


def test_list_json_of_a_path_keeps_ancestors_and_round_trips(capsys, fake_listing):
    code, out, _ = run(capsys, "list", "x", "/etc/ssl", "-f", "json")
    assert code == 0
    tree = Tree.from_json(json.loads(out))
    assert [e.path for e in tree.entries()] == ["/etc", "/etc/ssl", "/etc/ssl/certs", "/etc/ssl/certs/ca.pem"]


def test_options_reach_the_source_and_budgets(capsys, fake_listing, monkeypatch):
    monkeypatch.setenv("IMAGEFS_REGISTRY_CREDS", "env:secret")
    code, _, _ = run(
        capsys, "list", "docker://r/x", "--insecure-registry", "a:5000", "--insecure-registry", "b",
        "--tls-verify=false", "--max-inflated-bytes", "1.5G", "--max-entries", "none",
        "--symlinks", "follow", "--no-cache",
    )
    assert code == 0
    ref, opts, limits, symlinks, no_cache = fake_listing[0]
    assert ref == "docker://r/x"
    assert opts == {"creds": "env:secret", "insecure_registries": ("a:5000", "b"), "tls_verify": False}
    assert limits.max_inflated_bytes == int(1.5 * 1024**3) and limits.max_entries is None
    assert (symlinks, no_cache) == ("follow", True)
    run(capsys, "list", "x", "--creds", "me:pw")
    assert fake_listing[1][1]["creds"] == "me:pw"


USAGE_CASES = [
    ("no-command", []),
    ("unknown-format", ["list", "x", "-f", "xml"]),
    ("depth-zero", ["list", "x", "-L", "0"]),
    ("bad-size", ["list", "x", "--max-inflated-bytes", "lots"]),
    ("bad-tls-verify", ["list", "x", "--tls-verify=maybe"]),
    ("bad-symlinks-model", ["list", "x", "--symlinks", "sideways"]),
    ("layers-with-path", ["list", "x", "/etc", "-f", "layers"]),
    ("creds-without-colon", ["list", "x", "--creds", "justuser"]),
    ("bad-platform", ["list", "x", "--platform", "linux"]),
    ("diff-one-image", ["diff", "x"]),
    ("inspect-bad-format", ["inspect", "x", "-f", "yaml"]),
]


@pytest.mark.parametrize("case,argv", USAGE_CASES, ids=[c[0] for c in USAGE_CASES])
def test_bad_usage_exits_2_with_one_error_line(capsys, fake_listing, monkeypatch, case, argv):
    monkeypatch.delenv("IMAGEFS_REGISTRY_CREDS", raising=False)
    if case == "bad-platform":
        monkeypatch.setattr(_common, "list_tree", lambda args, ref: _common.open_image(args, "oci:/nonexistent:x"))
    try:
        code = cli.main(argv)
    except SystemExit as exit_:  # argparse errors
        code = exit_.code
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    errors = [line for line in err.splitlines() if line.startswith("imagefs: error:")]
    assert len(errors) == 1, err
    assert err.endswith("\n") and errors[0] == err.splitlines()[-1]


@pytest.mark.parametrize(
    "path,message",
    [("/etc/nope", "imagefs: error: x: no /etc/nope in the image; the nearest existing parent is /etc "),
     ("/etc/passwd/y", "imagefs: error: x: /etc/passwd/y: /etc/passwd is not a directory"),
     ("/tmp/\u202e\n", "imagefs: error: x: no /tmp/\\u202e\\n in the image")],
    ids=["missing-path-names-parent", "file-used-as-dir", "hostile-path-escaped"],
)
def test_missing_path_is_exit_1_naming_image_and_parent(capsys, fake_listing, path, message):
    code, out, err = run(capsys, "list", "x", path)
    assert (code, out) == (1, "")
    assert err.startswith(message) and err.count("\n") == 1


def test_diff_wiring(capsys, fake_listing):
    code, out, err = run(capsys, "diff", "a", "b")
    assert (code, err) == (0, "")
    assert out.splitlines()[-1] == "0 added, 0 removed, 0 changed"
    code, out, _ = run(capsys, "diff", "a", "b", "--format", "json")
    assert json.loads(out)["counts"] == {"added": 0, "removed": 0, "changed": 0}


def test_script_entry_point_version(subprocess_env):
    res = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "extract_image_fs.py"), "--version"],
        capture_output=True, text=True, env=subprocess_env, cwd="/", check=False,
    )
    assert (res.returncode, res.stdout.strip()) == (0, "imagefs 0.1.0")


def test_script_entry_point_works_without_pythonpath():
    res = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "extract_image_fs.py"), "inspect", "oci:/nonexistent/dir:x"],
        capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, cwd="/", check=False,
    )
    assert res.returncode == 1
    assert res.stderr.startswith("imagefs: error: oci:/nonexistent/dir:x") and res.stderr.count("\n") == 1


# -- inspect over a fixture image (sources only) ------------------------------------------------


@pytest.fixture(scope="module")
def two_images(tmp_path_factory):
    base = tmp_path_factory.mktemp("images")
    l0 = layer(D("etc"), F("etc/passwd", b"root:x:0:0\n"), F("etc/motd", b"hi\n"), D("usr"), D("usr/bin"),
               F("usr/bin/tool", b"#!/bin/sh\n", mode=0o4755), L("bin", "usr/bin"),
               H("usr/bin/tool2", "usr/bin/tool"))
    l1 = layer(F("etc/motd", b"hello there\n"), F("etc/.wh.passwd"), D("var"), F("var/log", b"x", mode=0o600))
    a_ref, a_img = oci_image(base / "a", l0)
    b_ref, b_img = oci_image(base / "b", l0, l1)
    return a_ref, a_img, b_ref, b_img


def test_inspect_text_and_digest_only(capsys, two_images):
    _, _, b_ref, b_img = two_images
    code, out, err = run(capsys, "inspect", b_ref)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"Reference:        {b_ref}"
    assert lines[1] == f"Manifest digest:  {b_img.manifest_digest}"
    assert "Layers:           2" in lines
    code, out, _ = run(capsys, "inspect", b_ref, "--digest-only")
    assert (code, out) == (0, b_img.manifest_digest + "\n")


def test_inspect_json(capsys, two_images):
    _, _, b_ref, b_img = two_images
    code, out, _ = run(capsys, "inspect", b_ref, "-f", "json")
    doc = json.loads(out)
    assert code == 0
    assert doc["manifest_digest"] == b_img.manifest_digest
    assert [layer["index"] for layer in doc["layers"]] == [0, 1]
    assert all(layer["digest"].startswith("sha256:") and layer["size"] > 0 for layer in doc["layers"])


@pytest.mark.parametrize(
    "ref,needle",
    [("oci:{base}/missing:latest", "no such directory"), ("oci:{a}:nosuchtag", "nosuchtag")],
    ids=["missing-layout", "missing-tag"],
)
def test_inspect_broken_image_exits_1(capsys, two_images, tmp_path, ref, needle):
    a_dir = two_images[0].split(":")[1]
    code, out, err = run(capsys, "inspect", ref.format(base=tmp_path, a=a_dir))
    assert (code, out) == (1, "")
    assert err.startswith("imagefs: error: ") and err.count("\n") == 1 and needle in err


@pytest.fixture(scope="module")
def multiarch(tmp_path_factory):
    from imagefs.oci_writer import ImageSpec, build_image, write_oci_layout
    from imagefs.platform import Platform

    d = tmp_path_factory.mktemp("multiarch") / "layout"
    imgs = [
        build_image(ImageSpec([layer(F(f"{arch}.txt", arch.encode()))], platform=Platform("linux", arch, variant)))
        for arch, variant in (("amd64", None), ("arm64", "v8"))
    ]
    index_digest = write_oci_layout(d, imgs, tag="multi")
    return f"oci:{d}:multi", index_digest, imgs


@pytest.mark.parametrize("platform,which", [("linux/amd64", 0), ("linux/arm64", 1), ("linux/arm64/v8", 1)],
                         ids=["amd64", "arm64-means-v8", "arm64-v8"])
def test_inspect_picks_the_platform_from_an_index(capsys, multiarch, platform, which):
    ref, index_digest, imgs = multiarch
    code, out, _ = run(capsys, "inspect", ref, "--platform", platform, "-f", "json")
    doc = json.loads(out)
    assert code == 0
    assert doc["index_digest"] == index_digest
    assert doc["manifest_digest"] == imgs[which].manifest_digest
    code, out, _ = run(capsys, "inspect", ref, "--platform", platform, "--digest-only")
    assert out == imgs[which].manifest_digest + "\n"


def test_missing_platform_exits_1_listing_the_available_ones(capsys, multiarch):
    code, out, err = run(capsys, "inspect", multiarch[0], "--platform", "linux/s390x")
    assert (code, out) == (1, "")
    assert "available: linux/amd64, linux/arm64/v8" in err and err.count("\n") == 1
