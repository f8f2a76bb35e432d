"""``tests/data/hello.tar``: the tiny image the README's first command lists.

A two-layer ``docker save`` archive (classic layout) written reproducibly with
:mod:`imagefs.oci_writer`: the same bytes on every machine, so it is committed and
``tests/test_readme.py`` checks that the committed file is what this module writes.

Regenerate it with ``PYTHONPATH=plugins:tests python3 -m peers.hello tests/data/hello.tar``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from imagefs.oci_writer import (
    ImageSpec,
    TarMember,
    build_image,
    make_layer_tar,
    write_docker_archive,
)

REPO_TAG = "imagefs/hello:1"

HELLO_SH = b"#!/bin/sh\necho 'hello from an image nobody ran'\n"


def layers() -> list[bytes]:
    base = [
        TarMember("bin", "symlink", linkname="usr/bin"),
        TarMember("etc", "dir"),
        TarMember("etc/hostname", data=b"hello\n"),
        TarMember("etc/motd", data=b"Welcome.\n"),
        TarMember("etc/passwd", data=b"root:x:0:0:root:/root:/bin/sh\nweb:x:33:33:web:/srv/www:/bin/false\n"),
        TarMember("srv", "dir"),
        TarMember("srv/www", "dir", uid=33, gid=33, mode=0o2775),
        TarMember("srv/www/index.html", data=b"<p>hello</p>\n", uid=33, gid=33),
        TarMember("tmp", "dir", mode=0o1777),
        TarMember("usr", "dir"),
        TarMember("usr/bin", "dir"),
        TarMember("usr/bin/hello", data=HELLO_SH, mode=0o755),
        TarMember("usr/bin/hi", "hardlink", linkname="usr/bin/hello"),
    ]
    update = [
        TarMember("etc", "dir"),
        TarMember("etc/.wh.motd", mode=0),
        TarMember("etc/hostname", data=b"hello-2\n"),
        TarMember("usr/bin", "dir"),
        TarMember("usr/bin/su-hello", data=HELLO_SH, mode=0o4755),
    ]
    return [make_layer_tar(base), make_layer_tar(update)]


def write(path: Path) -> None:
    spec = ImageSpec(
        layers(),
        created_by=["ADD base.tar /", "RUN rm /etc/motd && echo hello-2 >/etc/hostname && install -m4755 hello su-hello"],
        config={"Cmd": ["/usr/bin/hello"]},
    )
    write_docker_archive(path, build_image(spec), repo_tags=[REPO_TAG])


if __name__ == "__main__":
    write(Path(sys.argv[1] if len(sys.argv) > 1 else "tests/data/hello.tar"))
