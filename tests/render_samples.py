"""Hand-built trees for the renderer tests (no engine needed).

``sample_tree()`` holds one of everything the renderers must show: each entry type,
setuid/setgid/sticky bits, file capabilities, a hardlink, devices, nested directories,
implicit directories, and hostile names (``<script>``, a newline, U+202E, byte 0xff).
"""

from __future__ import annotations

from imagefs.tree import Entry, ImageInfo, LayerInfo, Tree

T0 = 1_700_000_000  # 2023-11-14 22:13:20 UTC
T1 = 1_714_568_820  # 2024-05-01 13:07:00 UTC

HOSTILE = ["<script>alert(1)", "new\nline", "evil\u202etxt.exe", "bad\udcffbyte", "esc\x1b[31mred"]


def build(entries: list[Entry], image: ImageInfo | None = None) -> Tree:
    tree = Tree(image)
    for e in sorted(entries, key=lambda e: e.path.count("/")):
        tree.add(e)
    return tree


def sample_image() -> ImageInfo:
    return ImageInfo(
        reference="oci:fixtures/sample:latest",
        manifest_digest="sha256:" + "ab" * 32,
        platform="linux/amd64",
        media_type="application/vnd.oci.image.manifest.v1+json",
        config_digest="sha256:" + "cd" * 32,
        created="2024-05-01T13:07:00Z",
        layers=[
            LayerInfo(0, "sha256:" + "1" * 64, "sha256:" + "a" * 64, 29_123_456, "application/vnd.oci.image.layer.v1.tar+gzip",
                      "/bin/sh -c #(nop) ADD file:0123456789abcdef in / ", 80_000_000, 20, 20, 0, 0, 1_500_000),
            LayerInfo(1, "sha256:" + "2" * 64, "sha256:" + "b" * 64, 4_096, "application/vnd.oci.image.layer.v1.tar+gzip",
                      "RUN /bin/sh -c apt-get update &&     apt-get install -y --no-install-recommends ca-certificates curl \\\n  && rm -rf /var/lib/apt/lists/*",
                      10_240, 5, 3, 2, 1, 0),
            LayerInfo(2, "sha256:" + "3" * 64, "sha256:" + "c" * 64, 512, "application/vnd.oci.image.layer.v1.tar+zstd",
                      "COPY evil\u202etxt.exe /tmp/ # buildkit", 2_048, 1, 1, 0, 0, 0),
        ],
    )


def sample_tree(image: bool = True) -> Tree:
    def d(path: str, mode: int = 0o755, **kw) -> Entry:
        return Entry(path, "dir", mode, **{"mtime": T0, "layer": 0, **kw})

    def f(path: str, size: int, mode: int = 0o644, **kw) -> Entry:
        return Entry(path, "file", mode, size=size, **{"mtime": T0, "layer": 0, **kw})

    entries = [
        d("/bin"),
        f("/bin/busybox", 1_048_577, 0o755),
        Entry("/bin/sh", "symlink", 0o777, size=7, mtime=T0, target="busybox", layer=0),
        Entry("/bin/ls", "hardlink", 0o755, size=1_048_577, mtime=T0, target="/bin/busybox", layer=0),
        f("/bin/su", 12_345, 0o4755, layer=1),
        f("/bin/ping", 70_000, 0o755, xattrs=("security.capability",), layer=1),
        f("/bin/wall", 30_000, 0o2755),
        d("/dev"),
        Entry("/dev/null", "char", 0o666, mtime=T0, devmajor=1, devminor=3, layer=0),
        Entry("/dev/sda", "block", 0o660, gid=6, mtime=T0, devmajor=8, devminor=0, layer=0),
        Entry("/dev/initctl", "fifo", 0o600, mtime=T0, layer=0),
        d("/etc"),
        f("/etc/passwd", 1_234),
        f("/etc/shadow", 567, 0o640, gid=42),
        d("/etc/ssl"),
        d("/etc/ssl/certs"),
        Entry("/etc/ssl/certs/ca.pem", "symlink", 0o777, size=40, mtime=T1,
              target="/usr/share/ca-certificates/mozilla/ca.crt", layer=1),
        Entry("/lib", "symlink", 0o777, size=7, mtime=T0, target="usr/lib", layer=0),
        d("/tmp", 0o1777),
        f("/tmp/" + HOSTILE[0], 1, layer=2),
        f("/tmp/" + HOSTILE[1], 2, layer=2),
        f("/tmp/" + HOSTILE[2], 3, layer=2),
        f("/tmp/" + HOSTILE[3], 4, layer=2),
        f("/tmp/" + HOSTILE[4], 5, layer=2),
        Entry("/tmp/link\u202e", "symlink", 0o777, size=5, mtime=T0, target="x\ny\udcfe", layer=2),
        d("/usr"),
        Entry("/usr/lib", "dir", 0o755, implicit=True),
        f("/usr/lib/libc.so.6", 2_000_000, uid=1000, gid=1000),
        d("/var", 0o755),
        d("/var/empty", 0o1755, mtime=-1, layer=1),
        f("/var/huge", 5 * 1024**3 + 7, mtime=2**62),
    ]
    return build(entries, sample_image() if image else None)
