"""User mistakes through ``imagefs.cli.main``: one line on stderr, the right exit code, no traceback.

Each row is a mistake a real user makes (a bare path, a misspelt transport, a wrong tag, a
broken layer, an unwritable output...). The error must be ONE line starting with
``imagefs: error:``, exit 1 for a bad or broken image and 2 for bad usage, and contain the
key words: the thing it is about and what to do.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest
from fixtures import D, F, layer, oci_image
from imagefs import cli
from imagefs.oci_writer import ImageSpec, build_image, write_docker_archive, write_oci_layout
from imagefs.platform import Platform


@pytest.fixture
def world(tmp_path, monkeypatch):
    """Images and files the table's commands point at, all under ``tmp_path``."""
    monkeypatch.setenv("IMAGEFS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    _, img = oci_image(tmp_path / "img", layer(D("etc"), F("etc/hosts", b"127.0.0.1 localhost\n")))
    write_docker_archive(tmp_path / "img.tar", img, repo_tags=["foo/bar:1"])
    multi = [
        build_image(ImageSpec([layer(F("arch", p.encode()))], platform=Platform.parse(p)))
        for p in ("linux/amd64", "linux/arm64")
    ]
    write_oci_layout(tmp_path / "multi", multi, tag="latest")
    # A layout whose layer blob has one byte flipped inside the deflate stream (same size).
    shutil.copytree(tmp_path / "img", tmp_path / "flipped")
    manifest = json.loads(img.manifest)
    flipped = tmp_path / "flipped/blobs/sha256" / manifest["layers"][0]["digest"].split(":", 1)[1]
    data = bytearray(flipped.read_bytes())
    data[40] ^= 0xFF
    flipped.write_bytes(bytes(data))
    # A layout whose only layer blob is cut in half.
    shutil.copytree(tmp_path / "img", tmp_path / "trunc")
    manifest = json.loads(img.manifest)
    blob = tmp_path / "trunc/blobs/sha256" / manifest["layers"][0]["digest"].split(":", 1)[1]
    blob.write_bytes(blob.read_bytes()[: blob.stat().st_size // 2])
    (tmp_path / "afile").write_text("not a directory\n")
    (tmp_path / "notlayout").mkdir()
    (tmp_path / "notlayout/readme").write_text("hi\n")
    (tmp_path / "full").mkdir()
    (tmp_path / "full/x").write_text("x\n")
    (tmp_path / "empty.tar").write_bytes(b"")
    (tmp_path / "notindex").mkdir()
    (tmp_path / "notindex/oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (tmp_path / "notindex/index.json").write_text('{"hello": 1}')
    (tmp_path / "listings.yml").write_text(
        textwrap.dedent(
            f"""\
            snapshots:
              - name: img
                image: oci:{tmp_path}/img:latest
                description: a one-layer test image
            """
        )
    )
    return tmp_path


# id, argv ({t} is the world directory), exit code, words the message must contain
CASES = [
    ("oci-layout-dir-missing", "list oci:{t}/nope:latest", 1, ["oci:{t}/nope", "no such directory"]),
    ("docker-archive-file-missing", "list docker-archive:{t}/nope.tar", 1, ["{t}/nope.tar", "no such file"]),
    ("oci-archive-file-missing", "list oci-archive:{t}/nope.tar", 1, ["{t}/nope.tar", "no such file"]),
    ("dir-is-not-an-oci-layout", "list oci:{t}/notlayout", 1, ["oci:{t}/notlayout", "not an OCI image layout", "skopeo copy"]),
    ("oci-transport-on-a-file", "list oci:{t}/afile", 1, ["not a directory", "oci-archive:"]),
    ("wrong-tag", "list oci:{t}/img:nope", 1, ["no image tagged 'nope'", "tags: latest"]),
    ("bare-tar-path-without-transport", "list {t}/img.tar", 2, ["needs a transport", "docker-archive:{t}/img.tar", "oci-archive:"]),
    ("bare-relative-tar-path", "list ./image.tar", 2, ["needs a transport", "docker-archive:./image.tar"]),
    ("bare-layout-dir-without-transport", "list {t}/img", 2, ["needs a transport", "oci:{t}/img"]),
    ("misspelt-transport", "list oci-arhive:{t}/img.tar", 2, ["unknown transport 'oci-arhive:'", "did you mean 'oci-archive:'"]),
    ("misspelt-docker-archive", "list docker-archve:{t}/img.tar", 2, ["did you mean 'docker-archive:'"]),
    ("uppercase-docker-ref", "list Foo/Bar:latest", 2, ["must be lowercase", "try 'foo/bar'"]),
    ("platform-without-arch", "list --platform linux oci:{t}/img", 2, ["--platform 'linux'", "OS/ARCH"]),
    ("platform-not-in-single-image", "list --platform linux/riscv64 oci:{t}/img", 1,
     ["single-platform image for linux/amd64", "not linux/riscv64", "--platform linux/amd64"]),
    ("platform-not-in-index", "list --platform linux/riscv64 oci:{t}/multi", 1,
     ["linux/riscv64", "available: linux/amd64, linux/arm64", "--platform"]),
    ("path-not-in-image", "list oci:{t}/img /nope", 1, ["/nope", "nearest existing parent is /"]),
    ("negative-depth", "list --depth -1 oci:{t}/img", 2, ["--depth", "at least 1"]),
    ("negative-width", "list -f layers --width -3 oci:{t}/img", 2, ["--width", "0 or more"]),
    ("unknown-format", "list --format yaml oci:{t}/img", 2, ["--format", "'yaml'", "tree"]),
    ("extract-into-non-empty-dir", "extract oci:{t}/img {t}/full", 2, ["{t}/full is not empty", "new or empty directory"]),
    ("extract-onto-a-file", "extract oci:{t}/img {t}/afile", 2, ["{t}/afile", "not a directory"]),
    ("extract-under-a-file", "extract oci:{t}/img {t}/afile/out", 2, ["cannot create {t}/afile/out", "directory you can write to"]),
    ("extract-into-empty-string", "extract oci:{t}/img ''", 2, ["DIR is an empty string", "./rootfs"]),
    ("diff-with-one-bad-image", "diff oci:{t}/img oci:{t}/nope", 1, ["oci:{t}/nope"]),
    ("snapshot-bad-name", "snapshot Bad/Name oci:{t}/img --dir {t}/snaps", 2, ["'Bad/Name'", "lowercase letters"]),
    ("snapshot-dir-is-a-file", "snapshot good oci:{t}/img --dir {t}/afile", 1,
     ["snapshot directory {t}/afile", "a file is in the way", "--dir"]),
    ("refresh-only-unknown-name", "refresh --config {t}/listings.yml --check --offline --only NOPE", 1,
     ["no snapshot named 'NOPE'", "known: img"]),
    ("refresh-shard-out-of-range", "refresh --config {t}/listings.yml --check --offline --shard 3/2", 2,
     ["--shard '3/2'", "between 1 and N"]),
    ("refresh-summary-is-a-dir", "refresh --config {t}/listings.yml --offline --only img --summary {t}", 2,
     ["--summary {t}", "cannot write"]),
    ("refresh-config-missing", "refresh --config {t}/nope.yml --check --offline", 1, ["{t}/nope.yml", "does not exist"]),
    ("registry-unreachable", "list 127.0.0.1:1/x:y", 1, ["127.0.0.1:1", "is up", "host and port"]),
    ("inspect-digest-only-missing-image", "inspect --digest-only oci:{t}/nope", 1, ["oci:{t}/nope"]),
    ("truncated-layer-blob", "list --no-cache oci:{t}/trunc", 1, ["layer 0", "oci:{t}/trunc", "blob ended", "copy or pull the image again"]),
    ("corrupt-layer-blob", "list --no-cache oci:{t}/flipped", 1, ["layer 0", "oci:{t}/flipped", "corrupt gzip", "copy or pull the image again"]),
    ("empty-file-as-docker-archive", "list docker-archive:{t}/empty.tar", 1, ["docker-archive:{t}/empty.tar", "empty file"]),
    ("index-json-is-not-an-index", "list oci:{t}/notindex", 1, ["oci:{t}/notindex", "index.json", "manifests"]),
    ("inflated-bytes-budget-too-small", "list --no-cache --max-inflated-bytes 10 oci:{t}/img", 1,
     ["layer 0", "oci:{t}/img", "raise it with --max-inflated-bytes"]),
    ("entry-budget-too-small", "list --no-cache --max-entries 1 oci:{t}/img", 1,
     ["oci:{t}/img", "entry budget", "raise it with --max-entries"]),
    ("docker-archive-wrong-repo-tag", "list docker-archive:{t}/img.tar:foo/bar:2", 1, ["foo/bar:2", "holds: foo/bar:1"]),
]


@pytest.mark.parametrize("argv, code, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_mistake_gives_one_line_error(world, capsys, argv, code, words):
    args = ["" if a == "''" else a.format(t=world) for a in argv.split()]
    try:
        got = cli.main(args)
    except SystemExit as exc:  # argparse errors exit from inside parse_args
        got = exc.code
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert got == code, err
    assert len(lines) == 1, err
    assert lines[0].startswith("imagefs: error: "), err
    assert "Traceback" not in err
    for word in words:
        assert word.format(t=world) in lines[0], lines[0]


def test_failed_summary_write_leaves_no_temp_file(world, capsys):
    # --summary names a directory: the temp file is written next to it, then os.replace fails.
    code = cli.main(["refresh", "--config", f"{world}/listings.yml", "--offline", "--only", "img", "--summary", str(world / "full")])
    capsys.readouterr()
    assert code == 2
    assert not [p for p in world.iterdir() if p.name.startswith(".full.")]


@pytest.mark.parametrize(
    "ref",
    ["localhost:5000/app:1", "registry.example.com:5000/team/app@sha256:" + "a" * 64, "debian", "oci:./x", "myimage.tar"],
    ids=["registry-with-port", "registry-with-digest", "official-name", "oci-relative", "name-ending-in-tar"],
)
def test_valid_names_still_parse(ref):
    """The local-path and transport hints only apply to names that failed to parse anyway."""
    from imagefs.reference import parse

    parse(ref)


def test_matching_platform_on_single_platform_image_still_lists(world, capsys):
    assert cli.main(["list", "--platform", "linux/amd64", f"oci:{world}/img:latest"]) == 0
    assert "hosts" in capsys.readouterr().out


def test_cache_dir_that_is_a_file_warns_once_and_lists(world, capsys, caplog, monkeypatch):
    monkeypatch.setenv("IMAGEFS_CACHE_DIR", str(world / "afile"))
    assert cli.main(["list", f"oci:{world}/img:latest"]) == 0
    assert "hosts" in capsys.readouterr().out
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1, warnings
    assert "IMAGEFS_CACHE_DIR" in warnings[0] and "--no-cache" in warnings[0]


def test_snapshot_from_a_newer_schema_names_the_file(tmp_path):
    from imagefs.errors import UnsupportedError
    from imagefs.snapshot import load_snapshot

    (tmp_path / "future.json").write_text('{"schema": 99}')
    with pytest.raises(UnsupportedError) as info:
        load_snapshot(tmp_path, "future")
    msg = str(info.value)
    assert "\n" not in msg
    assert f"snapshot {tmp_path / 'future.json'}: listing schema 99" in msg
