"""The ``ls`` and ``tree`` renderers against GNU ``ls`` and ``tree(1)`` on the same files.

A directory is built on disk, packed as a layer, listed through ``imagefs list``, and
compared with what the real tools print for the directory. Documented differences are
normalised, nothing else: ``ls`` prints ``total`` lines (an image has no blocks), sizes
of directories (4096 on ext4, 0 in a tar), ``..`` of the image root (on disk, the
directory above it), and ``tree`` 2.x indents with no-break spaces. The directory on
disk gets the image root's implicit metadata (0755, time 0). Names avoid characters the
tools quote differently (covered by the hostile-name tests instead).
"""

from __future__ import annotations

import os
import subprocess
import tarfile
from pathlib import Path

import pytest
from conftest import require_tool
from fixtures import oci_image
from imagefs import cli

MTIME = 1_700_000_000


def build_dir(root: Path) -> None:
    (root / "etc/ssl/certs").mkdir(parents=True)
    (root / "usr/lib/x86_64").mkdir(parents=True)
    (root / "usr/bin").mkdir(parents=True)
    (root / "tmp").mkdir()
    (root / "var/empty").mkdir(parents=True)
    (root / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (root / "etc/shadow").write_text("root:*::0:::::\n")
    os.chmod(root / "etc/shadow", 0o640)
    (root / "usr/bin/tool").write_bytes(b"\x7fELF" + b"\0" * 5000)
    os.chmod(root / "usr/bin/tool", 0o4755)
    (root / "usr/bin/wall").write_bytes(b"x" * 70_000)
    os.chmod(root / "usr/bin/wall", 0o2755)
    os.link(root / "usr/bin/tool", root / "usr/bin/tool2")
    (root / "usr/lib/x86_64/libc.so.6").write_bytes(b"l" * 2_000_000)
    os.chown(root / "usr/lib/x86_64/libc.so.6", 1000, 1000)
    os.symlink("usr/lib", root / "lib")
    os.symlink("usr/bin", root / "bin")
    os.symlink("../../usr/lib/x86_64/libc.so.6", root / "etc/ssl/libc")
    os.symlink("missing-target", root / "etc/dangling")
    os.chmod(root / "tmp", 0o1777)
    os.chmod(root / "var/empty", 0o1700)
    (root / ".hidden").write_text("dot file\n")
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames + dirnames:
            os.utime(os.path.join(dirpath, name), (MTIME, MTIME), follow_symlinks=False)
    # The image root is not an entry: imagefs shows it as 0755 root:root at time 0.
    os.chmod(root, 0o755)
    os.utime(root, (0, 0))


def layer_of(root: Path) -> bytes:
    import io

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name in sorted(os.listdir(root)):
            tf.add(root / name, arcname=name)
    return buf.getvalue()


@pytest.fixture(scope="module")
def disk_and_image(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("needs root to chown a test file")
    base = tmp_path_factory.mktemp("gnu")
    root = base / "root"
    root.mkdir()
    build_dir(root)
    ref, _ = oci_image(base / "img", layer_of(root))
    return root, ref


def imagefs(capsys, *argv: str) -> str:
    code = cli.main(["list", *argv, "--no-cache"])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    return out


def tool(args: list[str], cwd: Path) -> str:
    env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", "TZ": "UTC"}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=True).stdout


def normalise_ls(text: str, *, top: str) -> list[list[str]]:
    """Fields of every line; header paths made absolute; documented differences removed."""
    out, block = [], None
    for line in text.splitlines():
        if line.endswith(":") and not line.startswith(("d", "-", "l", "c", "b", "p")):
            block = "/" + line[:-1].lstrip(".").lstrip("/")
            out.append([block.rstrip("/") or "/"])
            continue
        f = line.split()
        if not f or f[0] == "total":
            continue
        if top == "/" and block in (None, "/") and f[-1] == "..":
            continue  # the parent of the image root is the root itself; on disk it is not
        if f[0].startswith("d"):
            f[4] = "0"  # directory sizes: 4096 on disk, 0 in a tar
        out.append(f)
    return out


LS_CASES = [
    # (imagefs PATH, ls flags, ls operand) ; a single entry is shown by the name given
    ("/", [], "."),
    ("/", ["-R"], "."),
    ("/etc", [], "etc"),
    ("/usr", ["-R"], "usr"),
    ("/usr/bin/tool", [], "usr/bin/tool"),
    ("/lib", [], "lib"),
    ("/lib/", [], "lib/"),
]


@pytest.mark.parametrize(
    "path,flags,operand", LS_CASES,
    ids=["top", "recursive", "subdir", "recursive-subdir", "one-file", "symlink-itself", "symlink-followed"],
)
def test_ls_matches_gnu_ls(capsys, disk_and_image, path, flags, operand):
    root, ref = disk_and_image
    ours = imagefs(capsys, ref, path, "-f", "ls", *flags)
    theirs = tool(["ls", "-lan", "--time-style=long-iso", *flags, operand], root)
    if (root / operand).is_file() or (root / operand).is_symlink() and not operand.endswith("/"):
        theirs = theirs.replace(f" {operand}", f" {path}", 1)
    top = path.rstrip("/") or "/"
    if (root / operand).is_symlink():
        top = "/" + os.path.relpath(os.path.realpath(root / operand), root)
    assert normalise_ls(ours, top=top) == normalise_ls(theirs, top=top)


@pytest.mark.parametrize(
    "args,tree_args",
    [([], []), (["-L", "1"], ["-L", "1"]), (["-L", "2"], ["-L", "2"]), (["/usr"], ["usr"]), (["/etc"], ["etc"])],
    ids=["whole", "depth-1", "depth-2", "subdir", "subdir-with-symlinks"],
)
def test_tree_matches_tree1(capsys, disk_and_image, args, tree_args):
    require_tool("tree")
    root, ref = disk_and_image
    ours = imagefs(capsys, ref, *args)
    theirs = tool(["tree", "-a", "-n", "--charset=utf-8", *(tree_args or ["."])], root)
    head = "/" + (tree_args[0] if tree_args and not tree_args[0].startswith("-") else "")
    theirs_lines = theirs.replace("\u00a0", " ").splitlines()  # tree 2.x indents with no-break spaces
    theirs_lines[0] = head.rstrip("/") if head != "/" else "/"
    assert ours.splitlines() == theirs_lines
