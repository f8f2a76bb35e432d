"""Trees for the site tests (fence, HTML views, plugin), built by hand.

The engine branch had not landed when these tests were written, so the trees are built
directly with :class:`imagefs.tree.Tree` the way the merge would produce them (parents
first, per-layer stats filled). ``write(dir, name, tree)`` stores them as snapshots.
"""

from __future__ import annotations

from imagefs.snapshot import write_snapshot
from imagefs.tree import Entry, ImageInfo, LayerInfo, Tree

DIGEST_A = "sha256:" + "a1" * 32
DIGEST_B = "sha256:" + "b2" * 32


def _layers(n: int) -> list[LayerInfo]:
    return [
        LayerInfo(index=i, digest="sha256:" + f"{i:02x}" * 32, diff_id="sha256:" + f"{i + 16:02x}" * 32,
                  size=1000 * (i + 1) ** 3, media_type="application/vnd.oci.image.layer.v1.tar+gzip",
                  created_by=f"RUN step {i} && echo layer-{i}", uncompressed_size=3000 * (i + 1) ** 3,
                  entries=5 + i, added=4 + i, modified=i, deleted=i // 2, wasted=100 * i)
        for i in range(n)
    ]


def make_tree(entries: list[Entry], *, reference: str = "oci:fixture:latest", digest: str | None = DIGEST_A,
              layers: int = 2) -> Tree:
    tree = Tree(ImageInfo(reference=reference, manifest_digest=digest, platform="linux/amd64",
                          media_type="application/vnd.oci.image.manifest.v1+json",
                          config_digest="sha256:" + "cc" * 32, created="2024-01-02T03:04:05Z",
                          config={"Env": ["PATH=/usr/bin"], "Cmd": ["/bin/sh"]}, layers=_layers(layers)))
    for e in sorted(entries, key=lambda e: e.path.count("/")):
        tree.add(e)
    return tree


def D(path, mode=0o755, layer=0, **kw):
    return Entry(path=path, type="dir", mode=mode, layer=layer, mtime=1700000000, **kw)


def F(path, size=10, mode=0o644, layer=0, **kw):
    return Entry(path=path, type="file", mode=mode, size=size, layer=layer, mtime=1700000000, **kw)


def L(path, target, layer=0):
    return Entry(path=path, type="symlink", mode=0o777, target=target, layer=layer, mtime=1700000000)


def small_tree(**kw) -> Tree:
    return make_tree([
        D("/bin"), F("/bin/sh", 125000, 0o755), L("/bin/bash", "sh"),
        D("/etc"), F("/etc/passwd", 1234, layer=1), F("/etc/shadow", 500, 0o640, gid=42),
        D("/etc/ssl"), D("/etc/ssl/certs"), F("/etc/ssl/certs/ca.pem", 200000, layer=1),
        D("/tmp", 0o1777), F("/usr/bin/passwd", 60000, 0o4755, xattrs=("security.capability",)),
        D("/usr"), D("/usr/bin"),
        Entry(path="/dev", type="dir", mode=0o755), Entry(path="/dev/null", type="char", mode=0o666, devmajor=1, devminor=3),
        Entry(path="/bin/sh.hard", type="hardlink", target="/bin/sh", size=125000),
    ], **kw)


def other_tree() -> Tree:
    """``small_tree`` with one file added, one removed, and one changed (size + mode)."""
    return make_tree([
        D("/bin"), F("/bin/sh", 125000, 0o755), L("/bin/bash", "dash"),
        D("/etc"), F("/etc/passwd", 2000, 0o600, layer=1),
        D("/etc/ssl"), D("/etc/ssl/certs"), F("/etc/ssl/certs/ca.pem", 200000, layer=1),
        F("/etc/hostname", 5, layer=2),
        D("/tmp", 0o1777), D("/usr"), D("/usr/bin"), F("/usr/bin/passwd", 60000, 0o4755),
        Entry(path="/dev", type="dir", mode=0o755), Entry(path="/dev/null", type="char", mode=0o666, devmajor=1, devminor=3),
        Entry(path="/bin/sh.hard", type="hardlink", target="/bin/sh", size=125000),
    ], digest=DIGEST_B, reference="oci:fixture:v2", layers=3)


HOSTILE_NAMES = [
    "<script>alert(1)",
    "\"onmouseover=\"alert(1)",
    "'single'quote",
    "new\nline",
    "rtl\u202eexe.txt",
    "bad\udcffbyte",
    "amp&lt;entity",
    "back\\slash",
    "<img src=x onerror=alert(1)>",
]


def hostile_tree() -> Tree:
    entries = [D("/h"), D("/h/<svg onload=alert(1)>dir")]
    for i, name in enumerate(HOSTILE_NAMES):
        entries.append(F(f"/h/{name}", 10 + i))
        entries.append(F(f"/h/<svg onload=alert(1)>dir/{name}", 1))
    entries.append(L("/h/link", "<script>x</script>\"'\u202e\udcfe"))
    tree = make_tree(entries, reference="evil<script>:tag\"", digest="sha256:<b>" + "0" * 60)
    tree.image.layers[0].created_by = "/bin/sh -c echo '<script>alert(1)</script>' \"x\""
    tree.image.platform = "linux/<i>amd64</i>"
    return tree


def big_tree(n: int = 10000) -> Tree:
    entries = [D("/data")]
    per_dir = 100
    for d in range(n // per_dir):
        entries.append(D(f"/data/dir{d:04d}"))
        for f in range(per_dir - 1):
            entries.append(F(f"/data/dir{d:04d}/file-with-a-longish-name-{f:04d}.txt", 1000 + f))
    return make_tree(entries)


def write(directory, name, tree, reference=None):
    return write_snapshot(directory, name, tree, reference=reference or tree.image.reference,
                          platform=tree.image.platform)
