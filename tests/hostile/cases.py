"""The hostile image corpus: one row per attack, each named for what it proves.

Modelled on containerd ``pkg/archive/tar_test.go`` (breakout tables), moby
``testBreakout`` (a victim beside the target is byte-for-byte unchanged), umoci
``hardening.bats`` and CPython ``TestExtractionFilters``. Every row runs in listing mode
(library and CLI) and in extraction mode (library and CLI): see tests/test_hostile.py.

A row either succeeds (``tree`` and ``dest`` assert on the result) or fails with one typed
error class (``error``; ``extract_error`` when extraction differs). Whatever happens, the
harness checks that nothing outside ``dest`` changed and that a failed extraction left no
``dest`` behind.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imagefs import media
from imagefs.errors import (
    BudgetExceededError,
    DigestMismatchError,
    ImagefsError,
    InvalidImageError,
    NotFoundError,
    UnsupportedError,
)
from imagefs.tree import Tree

from . import rawtar as r
from .harness import Ctx

SAME = object()


@dataclass
class Case:
    id: str
    build: Callable[[Ctx], str]
    error: type[ImagefsError] | tuple[type[ImagefsError], ...] | None = None
    match: str | None = None  # a regex the one-line message must contain
    tree: Callable[[Tree, Ctx], None] | None = None
    dest: Callable[[Path, Ctx, Any], None] | None = None
    extract_error: Any = SAME
    limits: dict[str, Any] | None = None
    symlinks: str = "overlay"
    group: str = ""
    cli_extract: bool = (
        True  # False: the CLI run of a heavy case would only repeat the library's
    )

    @property
    def expect_extract(self):
        return self.error if self.extract_error is SAME else self.extract_error


# -- assertion helpers ---------------------------------------------------------------------


def has(tree: Tree, path: str, type: str | None = None, **attrs: Any) -> None:
    e = tree.get(path)
    assert e is not None, (
        f"{path!r} missing from the tree; has {sorted(x.path for x in tree.entries())[:20]}"
    )
    if type is not None:
        assert e.type == type, f"{path!r} is a {e.type}, expected {type}"
    for k, v in attrs.items():
        assert getattr(e, k) == v, f"{path!r}.{k} = {getattr(e, k)!r}, expected {v!r}"


def absent(tree: Tree, *paths: str) -> None:
    for p in paths:
        assert tree.get(p) is None, f"{p!r} should not be in the tree"


def d_file(
    dest: Path, rel: str, data: bytes | None = None, mode: int | None = None
) -> None:
    p = os.path.join(os.fsencode(dest), rel.encode("utf-8", "surrogateescape"))
    st = os.lstat(p)
    assert stat.S_ISREG(st.st_mode), f"{rel} is not a regular file in dest"
    if data is not None:
        with open(p, "rb") as f:
            assert f.read() == data
    if mode is not None:
        assert stat.S_IMODE(st.st_mode) == mode, (
            f"{rel} mode {oct(stat.S_IMODE(st.st_mode))} != {oct(mode)}"
        )


def d_dir(dest: Path, rel: str, mode: int | None = None) -> None:
    st = os.lstat(os.path.join(dest, rel))
    assert stat.S_ISDIR(st.st_mode), f"{rel} is not a directory in dest"
    if mode is not None:
        assert stat.S_IMODE(st.st_mode) == mode, (
            f"{rel} mode {oct(stat.S_IMODE(st.st_mode))} != {oct(mode)}"
        )


def d_link(dest: Path, rel: str, text: str) -> None:
    p = os.path.join(dest, rel)
    assert os.path.islink(p), f"{rel} is not a symlink in dest"
    assert os.readlink(p) == text


def d_missing(dest: Path, *rels: str) -> None:
    for rel in rels:
        assert not os.path.lexists(os.path.join(dest, rel)), (
            f"{rel} should not exist in dest"
        )


def same_inode(dest: Path, a: str, b: str) -> None:
    assert (
        os.lstat(os.path.join(dest, a)).st_ino == os.lstat(os.path.join(dest, b)).st_ino
    )


# -- builders --------------------------------------------------------------------------------


def img(*layers: bytes | Callable[[Ctx], bytes], **spec: Any) -> Callable[[Ctx], str]:
    """A builder for an OCI image of raw layer tars (or functions of the context)."""

    def build(ctx: Ctx) -> str:
        return ctx.image(*[x(ctx) if callable(x) else x for x in layers], **spec)

    return build


def T(*parts: bytes | Callable[[Ctx], bytes]) -> Callable[[Ctx], bytes]:
    """A layer tar whose members may depend on the context (absolute victim paths)."""

    def make(ctx: Ctx) -> bytes:
        return r.tar(*[p(ctx) if callable(p) else p for p in parts])

    return make


def victim_abs(sub: str = "") -> Callable[[Ctx], str]:
    return lambda ctx: str(ctx.victim) + sub


def sym(name: str, target: str | Callable[[Ctx], str]) -> Callable[[Ctx], bytes]:
    return lambda ctx: r.symlink(name, target(ctx) if callable(target) else target)


def hard(name: str, target: str | Callable[[Ctx], str]) -> Callable[[Ctx], bytes]:
    return lambda ctx: r.hardlink(name, target(ctx) if callable(target) else target)


def blobs(
    *items: Callable[[Ctx], tuple[bytes, str, str]], **kw: Any
) -> Callable[[Ctx], str]:
    def build(ctx: Ctx) -> str:
        return ctx.image_from_blobs([f(ctx) for f in items], **kw)

    return build


def raw_layer(
    tar_bytes: bytes | Callable[[], bytes],
    compress: Callable[[bytes], bytes] = r.gzip_bytes,
    mt: str = media.OCI_LAYER_GZIP,
    diff_id: str | None = None,
) -> Callable[[Ctx], tuple[bytes, str, str]]:
    from imagefs.oci_writer import sha256

    def make(ctx: Ctx) -> tuple[bytes, str, str]:
        t = tar_bytes() if callable(tar_bytes) else tar_bytes
        return compress(t), mt, diff_id or sha256(t)

    return make


BASE = r.tar(
    r.dir("etc"),
    r.file("etc/passwd", b"root:x:0:0::/root:/bin/sh\n"),
    r.dir("usr"),
    r.dir("usr/lib"),
    r.file("usr/lib/libc.so", b"ELF"),
)


def _victim_untouched(
    tree: Tree, ctx: Ctx
) -> None:  # listing-side: nothing to assert beyond success
    assert tree is not None


# -- the table -------------------------------------------------------------------------------

CASES: list[Case] = []


def case(id: str, build: Callable[[Ctx], str], group: str, **kw: Any) -> None:
    CASES.append(Case(id=id, build=build, group=group, **kw))


# Paths ---------------------------------------------------------------------------------------
g = "paths"
case(
    "dotdot-name-is-rejected",
    img(T(r.file("../victim/pwned", b"x"))),
    g,
    error=InvalidImageError,
    match=r"\.\.",
)
case(
    "dotdot-inside-name-is-rejected",
    img(T(r.dir("a"), r.file("a/../../victim/pwned", b"x"))),
    g,
    error=InvalidImageError,
)
case(
    "dotdot-deep-name-is-rejected",
    img(T(r.file("a/b/../../../../../../../../tmp/pwned", b"x"))),
    g,
    error=InvalidImageError,
)
case(
    "absolute-name-stays-under-root",
    img(
        T(
            lambda c: r.file(str(c.victim / "secret"), b"pwned"),
            r.file("/etc/passwd", b"mine"),
        )
    ),
    g,
    tree=lambda t, c: (
        has(t, str(c.victim / "secret"), "file", size=5),
        has(t, "/etc/passwd", "file"),
    ),
    dest=lambda d, c, res: (
        d_file(d, str(c.victim / "secret")[1:], b"pwned"),
        d_file(d, "etc/passwd", b"mine"),
    ),
)
case(
    "slash-dotdot-name-is-rejected",
    img(T(r.file("/../victim/pwned", b"x"))),
    g,
    error=InvalidImageError,
)
case(
    "backslash-names-are-ordinary-characters",
    img(T(r.file("..\\..\\victim\\pwned", b"x"), r.file("a\\b", b"y"))),
    g,
    tree=lambda t, c: (
        has(t, "/..\\..\\victim\\pwned", "file"),
        has(t, "/a\\b", "file"),
        absent(t, "/a"),
    ),
    dest=lambda d, c, res: (
        d_file(d, "..\\..\\victim\\pwned", b"x"),
        d_file(d, "a\\b", b"y"),
    ),
)
case(
    "drive-letter-names-are-ordinary-directories",
    img(T(r.file("C:\\Windows\\system.ini", b"x"), r.file("c:/evil", b"y"))),
    g,
    tree=lambda t, c: (
        has(t, "/C:\\Windows\\system.ini", "file"),
        has(t, "/c:", "dir", implicit=True),
        has(t, "/c:/evil", "file"),
    ),
    dest=lambda d, c, res: (
        d_file(d, "C:\\Windows\\system.ini", b"x"),
        d_file(d, "c:/evil", b"y"),
    ),
)
case(
    "root-dot-entry-that-is-a-symlink-is-rejected",
    img(T(sym(".", victim_abs()), r.file("pwned", b"x"))),
    g,
    error=InvalidImageError,
    match="root",
)
case(
    "root-dot-entry-that-is-a-file-is-rejected",
    img(T(r.file(".", b"x"), r.file("a", b"y"))),
    g,
    error=InvalidImageError,
    match="root",
)
case(
    "root-dot-directory-entry-is-not-an-entry",
    img(T(r.dir(".", mode=0o700), r.dir("./"), r.file("./a", b"y"))),
    g,
    tree=lambda t, c: (has(t, "/a", "file"), absent(t, "/."), len(t) == 1 or None),
    dest=lambda d, c, res: d_file(d, "a", b"y"),
)

# Symlinks ------------------------------------------------------------------------------------
g = "symlinks"
case(
    "symlink-then-write-through-it-absolute-same-layer",
    img(T(sym("etc", victim_abs()), r.file("etc/pwned", b"x"))),
    g,
    tree=lambda t, c: (has(t, "/etc", "dir"), has(t, "/etc/pwned", "file")),
    dest=lambda d, c, res: (d_dir(d, "etc"), d_file(d, "etc/pwned", b"x")),
)
case(
    "symlink-then-write-through-it-relative-same-layer",
    img(T(sym("etc", "../victim"), r.file("etc/pwned", b"x"))),
    g,
    tree=lambda t, c: (has(t, "/etc", "dir"), has(t, "/etc/pwned", "file")),
    dest=lambda d, c, res: (d_dir(d, "etc"), d_file(d, "etc/pwned", b"x")),
)
case(
    "symlink-two-hop-chain-to-parent-of-root",
    img(T(sym("a", "."), sym("b", "a/.."), r.file("b/victim/pwned", b"x"))),
    g,
    tree=lambda t, c: (
        has(t, "/a", "symlink", target="."),
        has(t, "/b", "dir"),
        has(t, "/b/victim/pwned", "file"),
    ),
    dest=lambda d, c, res: (d_link(d, "a", "."), d_file(d, "b/victim/pwned", b"x")),
)
case(
    "symlink-in-layer-1-write-through-it-in-layer-2-absolute",
    img(T(sym("etc", victim_abs())), T(r.file("etc/pwned", b"x"))),
    g,
    tree=lambda t, c: (
        has(t, "/etc", "dir", implicit=True, layer=1),
        has(t, "/etc/pwned", "file"),
    ),
    dest=lambda d, c, res: (d_dir(d, "etc"), d_file(d, "etc/pwned", b"x")),
)
case(
    "symlink-in-layer-1-write-through-it-in-layer-2-relative",
    img(T(sym("etc", "../../victim")), T(r.file("etc/secret", b"x"))),
    g,
    tree=lambda t, c: (has(t, "/etc", "dir"), has(t, "/etc/secret", "file", size=1)),
    dest=lambda d, c, res: d_file(d, "etc/secret", b"x"),
)
case(
    "symlink-in-layer-1-write-through-it-in-layer-2-flatten-model-stays-inside",
    img(T(sym("etc", "../../victim")), T(r.file("etc/secret", b"x"))),
    g,
    symlinks="follow",
    tree=lambda t, c: (has(t, "/etc", "symlink"), has(t, "/victim/secret", "file")),
    dest=lambda d, c, res: (
        d_link(d, "etc", "../../victim"),
        d_file(d, "victim/secret", b"x"),
    ),
)
case(
    "dir-symlink-dir-replacements",
    img(
        T(r.dir("lib"), r.file("lib/old", b"o")),
        T(r.symlink("lib", "usr/lib")),
        T(r.dir("lib"), r.file("lib/new", b"n")),
        BASE,
    ),
    g,
    tree=lambda t, c: (
        has(t, "/lib", "dir", layer=2),
        has(t, "/lib/new"),
        absent(t, "/lib/old"),
    ),
    dest=lambda d, c, res: (
        d_dir(d, "lib"),
        d_file(d, "lib/new", b"n"),
        d_missing(d, "lib/old"),
    ),
)
case(
    "dir-replaced-by-symlink-hides-subtree",
    img(BASE, T(sym("usr", victim_abs()))),
    g,
    tree=lambda t, c: (
        has(t, "/usr", "symlink", target=str(c.victim)),
        absent(t, "/usr/lib", "/usr/lib/libc.so"),
    ),
    dest=lambda d, c, res: d_link(d, "usr", str(c.victim)),
)
case(
    "symlink-with-dotdot-name-is-rejected",
    img(T(r.symlink("..", "/"))),
    g,
    error=InvalidImageError,
)
case(
    "symlink-with-empty-name-is-rejected",
    img(T(r.symlink("", "/"))),
    g,
    error=InvalidImageError,
)
case(
    "symlink-with-empty-target-is-listed-and-skipped",
    img(
        T(r.symlink("empty", ""), r.hardlink("empty-link", "empty"), r.file("a", b"a"))
    ),
    g,
    tree=lambda t, c: (
        has(t, "/empty", "symlink", target=""),
        has(t, "/empty-link", "hardlink"),
    ),
    dest=lambda d, c, res: (
        d_missing(d, "empty", "empty-link"),
        d_file(d, "a", b"a"),
        res.skipped_empty_links == ["/empty", "/empty-link"]
        or _fail(res.skipped_empty_links),
    ),
)


def _long_chain(n: int = 30, seg: int = 200) -> bytes:
    parts = [r.dir("real")]
    parts.append(r.member("s0", type=r.SYMLINK, linkname="real"))
    for i in range(1, n):
        target = f"s{i - 1}/" + "x" * seg
        parts.append(
            r.pax({"linkpath": target})
            + r.member(f"s{i}", type=r.SYMLINK, linkname="decoy")
        )
    return r.tar(*parts)


case(
    "symlink-chain-longer-than-path-max-is-kept-as-text",
    img(_long_chain(), T(r.file("s29/pwned", b"x"))),
    g,
    tree=lambda t, c: (
        has(t, "/s28", "symlink"),
        has(t, "/s29", "dir"),
        has(t, "/s29/pwned", "file"),
    ),
    dest=lambda d, c, res: (
        d_link(d, "s28", "s27/" + "x" * 200),
        d_file(d, "s29/pwned", b"x"),
    ),
)
_DEEP_REAL = "/real/" + "/".join(["x" * 200] * 29) + "/pwned"
case(
    "symlink-chain-longer-than-path-max-flatten-model-resolves-inside-root",
    img(_long_chain(), T(r.file("s29/pwned", b"x"))),
    g,
    symlinks="follow",
    tree=lambda t, c: (has(t, "/s29", "symlink"), has(t, _DEEP_REAL, "file", layer=1)),
    dest=lambda d, c, res: _read_deep(d, _DEEP_REAL) == b"x" or _fail("deep file"),
)
case(
    "symlink-loop-is-listed-not-resolved",
    img(
        T(r.symlink("a", "b"), r.symlink("b", "a"), r.symlink("self", "self")),
        T(r.file("a/x", b"x")),
    ),
    g,
    tree=lambda t, c: (
        has(t, "/b", "symlink", target="a"),
        has(t, "/self", "symlink"),
        has(t, "/a/x"),
    ),
    dest=lambda d, c, res: (
        d_link(d, "b", "a"),
        d_link(d, "self", "self"),
        d_file(d, "a/x", b"x"),
    ),
)
case(
    "symlink-loop-flatten-model-hits-40-hops",
    img(T(r.symlink("a", "b"), r.symlink("b", "a")), T(r.file("a/x", b"x"))),
    g,
    symlinks="follow",
    error=BudgetExceededError,
)

# Hardlinks -----------------------------------------------------------------------------------
g = "hardlinks"
case(
    "hardlink-to-dotdot-victim-is-rejected",
    img(T(r.hardlink("x", "../victim/secret"))),
    g,
    error=InvalidImageError,
)
case(
    "hardlink-to-slash-dotdot-victim-is-rejected",
    img(T(r.hardlink("x", "/../victim/secret"))),
    g,
    error=InvalidImageError,
)
case(
    "hardlink-to-sibling-prefix-dir-is-rejected",
    img(T(r.hardlink("x", "../dest-evil/file"))),
    g,
    error=InvalidImageError,
)
case(
    "hardlink-to-absolute-victim-path-is-inside-the-image",
    img(T(hard("x", victim_abs("/secret")))),
    g,
    error=InvalidImageError,
    match="x",
)
case(
    "hardlink-through-symlinked-parent-is-rejected",
    img(T(sym("d", victim_abs()), r.hardlink("x", "d/secret"))),
    g,
    error=InvalidImageError,
)
case(
    "hardlink-through-relative-symlinked-parent-is-rejected",
    img(T(r.symlink("d", "../victim"), r.hardlink("x", "d/secret"))),
    g,
    error=InvalidImageError,
)
case(
    "hardlink-through-symlinked-parent-resolves-inside-the-image",
    img(
        T(
            r.dir("real"),
            r.file("real/f", b"data"),
            r.symlink("d", "/real"),
            r.hardlink("x", "d/f"),
        )
    ),
    g,
    tree=lambda t, c: has(t, "/x", "hardlink", target="/real/f", size=4),
    dest=lambda d, c, res: (
        d_file(d, "x", b"data"),
        same_inode(d, "x", "real/f"),
        d_link(d, "d", "/real"),
    ),
)
case(
    "hardlink-to-a-symlink-links-the-symlink",
    img(T(sym("s", victim_abs("/secret")), r.hardlink("h", "s"))),
    g,
    tree=lambda t, c: has(t, "/h", "hardlink", target="/s"),
    dest=lambda d, c, res: (
        d_link(d, "h", str(c.victim / "secret")),
        same_inode(d, "h", "s"),
    ),
)
case(
    "hardlink-to-missing-target-is-rejected",
    img(T(r.hardlink("x", "nope"))),
    g,
    error=InvalidImageError,
)
case(
    "hardlink-to-directory-is-rejected",
    img(T(r.dir("d"), r.hardlink("x", "d"))),
    g,
    error=InvalidImageError,
)
case(
    "hardlink-to-itself-is-rejected",
    img(T(r.hardlink("x", "x"))),
    g,
    error=InvalidImageError,
)
case(
    "hardlink-whose-target-a-later-layer-deletes-keeps-its-bytes",
    img(T(r.file("a", b"data"), r.hardlink("b", "a")), T(r.file(".wh.a"))),
    g,
    tree=lambda t, c: (absent(t, "/a"), has(t, "/b", "file", size=4)),
    dest=lambda d, c, res: (d_file(d, "b", b"data"), d_missing(d, "a")),
)
case(
    "hardlink-whose-target-a-later-layer-replaces-keeps-the-old-inode",
    img(T(r.file("a", b"old"), r.hardlink("b", "a")), T(r.file("a", b"newer"))),
    g,
    tree=lambda t, c: (has(t, "/a", "file", size=5), has(t, "/b", size=3)),
    dest=lambda d, c, res: (d_file(d, "a", b"newer"), d_file(d, "b", b"old")),
)
case(
    "hardlink-across-layers-shares-the-inode",
    img(T(r.file("a", b"data", mode=0o640)), T(r.hardlink("b", "a"))),
    g,
    tree=lambda t, c: has(t, "/b", "hardlink", target="/a", size=4),
    dest=lambda d, c, res: (
        d_file(d, "b", b"data", mode=0o640),
        same_inode(d, "a", "b"),
    ),
)

# Whiteouts -----------------------------------------------------------------------------------
g = "whiteouts"
case(
    "whiteout-of-dot-is-rejected",
    img(BASE, T(r.file("etc/.wh.."))),
    g,
    error=InvalidImageError,
)
case(
    "whiteout-of-dotdot-is-rejected",
    img(BASE, T(r.file("etc/.wh..."))),
    g,
    error=InvalidImageError,
)
case(
    "bare-whiteout-prefix-is-rejected",
    img(BASE, T(r.file("etc/.wh."))),
    g,
    error=InvalidImageError,
)
case(
    "whiteout-in-parent-dir-is-rejected",
    img(BASE, T(r.file("../.wh.victim"))),
    g,
    error=InvalidImageError,
)
case(
    "whiteout-through-symlinked-dir-does-not-follow",
    img(
        T(r.dir("d"), r.file("d/keep", b"k"), r.symlink("s", "d")),
        T(r.file("s/.wh.keep")),
    ),
    g,
    tree=lambda t, c: (has(t, "/d/keep", "file"), absent(t, "/s/keep")),
    dest=lambda d, c, res: d_file(d, "d/keep", b"k"),
)
case(
    "whiteout-of-a-symlink-removes-the-link-not-its-target",
    img(T(r.dir("d"), r.file("d/x", b"x"), r.symlink("s", "d")), T(r.file(".wh.s"))),
    g,
    tree=lambda t, c: (absent(t, "/s"), has(t, "/d/x")),
    dest=lambda d, c, res: (d_missing(d, "s"), d_file(d, "d/x", b"x")),
)
case(
    "whiteout-name-used-as-a-directory-is-rejected",
    img(
        T(r.dir("dir"), r.file("dir/x", b"x")),
        T(r.dir(".wh.dir"), r.file(".wh.dir/file", b"f")),
    ),
    g,
    error=InvalidImageError,
    match="whiteout",
)
case(
    "opaque-marker-at-root-hides-all-lower-layers",
    img(BASE, T(r.file(".wh..wh..opq"), r.file("new", b"n"))),
    g,
    tree=lambda t, c: (
        [e.path for e in t.entries()] == ["/new"] or None,
        has(t, "/new"),
    ),
    dest=lambda d, c, res: (d_file(d, "new", b"n"), d_missing(d, "etc", "usr")),
)
case(
    "whiteouts-with-nothing-to-remove-are-no-ops",
    img(
        BASE,
        T(r.file(".wh.nothing"), r.file("etc/.wh.nope"), r.file("gone/.wh..wh..opq")),
    ),
    g,
    tree=lambda t, c: (has(t, "/etc/passwd"), absent(t, "/nothing", "/etc/nope")),
    dest=lambda d, c, res: (
        d_file(d, "etc/passwd"),
        d_missing(d, ".wh.nothing", "etc/.wh.nope"),
    ),
)
case(
    "whiteout-with-content-removes-and-writes-nothing",
    img(BASE, T(r.file("etc/.wh.passwd", b"content of a whiteout"))),
    g,
    tree=lambda t, c: absent(t, "/etc/passwd", "/etc/.wh.passwd"),
    dest=lambda d, c, res: d_missing(d, "etc/passwd", "etc/.wh.passwd"),
)
case(
    "aufs-plink-metadata-is-hidden",
    img(
        BASE,
        T(
            r.dir(".wh..wh.plnk"),
            r.file(".wh..wh.plnk/1234.5678", b"x"),
            r.file(".wh..wh.aufs"),
            r.dir(".wh..wh.orph"),
        ),
    ),
    g,
    tree=lambda t, c: (
        absent(t, "/.wh..wh.plnk", "/.wh..wh.aufs", "/.wh..wh.orph"),
        has(t, "/etc/passwd"),
    ),
    dest=lambda d, c, res: d_missing(d, ".wh..wh.plnk", ".wh..wh.aufs"),
)
case(
    "aufs-plink-hardlink-becomes-a-file-with-the-hidden-bytes",
    img(
        T(
            r.dir(".wh..wh.plnk"),
            r.file(".wh..wh.plnk/1234.5678", b"linked bytes", mode=0o750),
            r.dir("bin"),
            r.hardlink("bin/tool", ".wh..wh.plnk/1234.5678"),
        )
    ),
    g,
    tree=lambda t, c: (
        has(t, "/bin/tool", "file", size=12, mode=0o750),
        absent(t, "/.wh..wh.plnk"),
    ),
    dest=lambda d, c, res: (
        d_file(d, "bin/tool", b"linked bytes", mode=0o750),
        d_missing(d, ".wh..wh.plnk"),
    ),
)
case(
    "whiteout-in-same-layer-spares-that-layers-entry",
    img(BASE, T(r.file("etc/passwd", b"new"), r.file("etc/.wh.passwd"))),
    g,
    tree=lambda t, c: has(t, "/etc/passwd", "file", size=3, layer=1),
    dest=lambda d, c, res: d_file(d, "etc/passwd", b"new"),
)

# Types ---------------------------------------------------------------------------------------
g = "types"
case(
    "devices-and-fifos-are-listed-and-skipped",
    img(
        T(
            r.special("dev-null", r.CHAR, devmajor=1, devminor=3),
            r.special("sda", r.BLOCKDEV, devmajor=8),
            r.special("fifo", r.FIFO),
            r.hardlink("fifo-link", "fifo"),
            r.file("a", b"a"),
        )
    ),
    g,
    tree=lambda t, c: (
        has(t, "/dev-null", "char", devmajor=1, devminor=3),
        has(t, "/sda", "block"),
        has(t, "/fifo", "fifo"),
    ),
    dest=lambda d, c, res: (
        d_missing(d, "dev-null", "sda", "fifo", "fifo-link"),
        d_file(d, "a", b"a"),
        len(res.skipped_special) == 4 or _fail(f"skipped {res.skipped_special}"),
    ),
)
case(
    "setuid-setgid-sticky-are-listed-and-cleared",
    img(
        T(
            r.file("suid", b"s", mode=0o4755),
            r.file("sgid", b"g", mode=0o2755),
            r.dir("tmp", mode=0o1777),
        )
    ),
    g,
    tree=lambda t, c: (
        has(t, "/suid", mode=0o4755),
        has(t, "/sgid", mode=0o2755),
        has(t, "/tmp", mode=0o1777),
    ),
    dest=lambda d, c, res: (
        d_file(d, "suid", mode=0o755),
        d_file(d, "sgid", mode=0o755),
        d_dir(d, "tmp", mode=0o777),
    ),
)
case(
    "modes-0000-and-0777-are-applied-last",
    img(
        T(
            r.dir("locked", mode=0),
            r.file("locked/inside", b"i", mode=0),
            r.file("open", b"o", mode=0o777),
            r.dir("ro", mode=0o555),
            r.file("ro/f", b"f", mode=0o444),
        )
    ),
    g,
    tree=lambda t, c: (has(t, "/locked", mode=0), has(t, "/locked/inside", mode=0)),
    dest=lambda d, c, res: (
        d_dir(d, "locked", mode=0),
        d_file(d, "locked/inside", b"i", mode=0),
        d_file(d, "open", mode=0o777),
        d_dir(d, "ro", mode=0o555),
        d_file(d, "ro/f", b"f", 0o444),
    ),
)
case(
    "capability-and-overlay-xattrs-are-listed-not-applied",
    img(
        T(
            r.pax(
                {
                    "SCHILY.xattr.security.capability": b"\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
                }
            )
            + r.file("ping", b"elf", mode=0o755),
            r.pax({"SCHILY.xattr.trusted.overlay.opaque": "y"}) + r.dir("opq"),
            r.file("opq/kept", b"k"),
            r.pax({"SCHILY.xattr.trusted.overlay.whiteout": "y"}) + r.file("wh", b""),
        )
    ),
    g,
    tree=lambda t, c: (
        has(t, "/ping", xattrs=("security.capability",)),
        has(t, "/opq/kept"),
        has(t, "/wh", "file"),
    ),
    dest=lambda d, c, res: (
        d_file(d, "ping", b"elf"),
        os.listxattr(os.path.join(d, "ping")) == []
        or _fail("xattr applied without --preserve-xattrs"),
        d_file(d, "opq/kept"),
    ),
)
case(
    "unknown-typeflag-is-rejected",
    img(T(r.member("sock", type=b"Z"), r.file("a", b"a"))),
    g,
    error=InvalidImageError,
    match="type",
)
case(
    "duplicate-entries-with-type-changes-last-wins",
    img(
        T(
            r.file("x", b"first"),
            r.dir("x"),
            r.file("x/child", b"c"),
            r.symlink("x", "/etc"),
            r.file("x", b"last"),
            r.dir("d"),
            r.file("d/a", b"a"),
            r.file("d", b"now a file"),
            r.file("y", b"1"),
            r.file("y", b"22"),
        )
    ),
    g,
    tree=lambda t, c: (
        has(t, "/x", "file", size=4),
        absent(t, "/x/child", "/d/a"),
        has(t, "/d", "file"),
        has(t, "/y", size=2),
    ),
    dest=lambda d, c, res: (
        d_file(d, "x", b"last"),
        d_file(d, "d", b"now a file"),
        d_file(d, "y", b"22"),
    ),
)

# Tar headers ---------------------------------------------------------------------------------
g = "tar-headers"
case(
    "pax-path-overrides-header-name",
    img(T(r.pax({"path": "real/name"}) + r.file("decoy", b"x"))),
    g,
    tree=lambda t, c: (has(t, "/real/name", "file"), absent(t, "/decoy")),
    dest=lambda d, c, res: (d_file(d, "real/name", b"x"), d_missing(d, "decoy")),
)
case(
    "pax-path-with-dotdot-is-rejected",
    img(T(r.pax({"path": "../victim/pwned"}) + r.file("innocent", b"x"))),
    g,
    error=InvalidImageError,
)
case(
    "pax-linkpath-overrides-and-is-kept-verbatim",
    img(T(lambda c: r.pax({"linkpath": str(c.victim)}) + r.symlink("l", "decoy"))),
    g,
    tree=lambda t, c: has(t, "/l", "symlink", target=str(c.victim)),
    dest=lambda d, c, res: d_link(d, "l", str(c.victim)),
)
case(
    "pax-hardlink-linkpath-with-dotdot-is-rejected",
    img(
        T(
            r.file("a", b"a"),
            r.pax({"linkpath": "../victim/secret"}) + r.hardlink("h", "a"),
        )
    ),
    g,
    error=InvalidImageError,
)
case(
    "pax-global-header-is-not-an-entry",
    img(
        T(
            r.pax(
                {"comment": "hello", "mtime": "5"},
                global_=True,
                name="pax_global_header",
            ),
            r.file("a", b"a"),
        )
    ),
    g,
    tree=lambda t, c: (has(t, "/a", "file"), absent(t, "/pax_global_header")),
    dest=lambda d, c, res: (d_file(d, "a", b"a"), d_missing(d, "pax_global_header")),
)
case(
    "huge-pax-size-is-rejected",
    img(T(r.pax({"size": "99999999999999999999999"}) + r.file("big", b"x"))),
    g,
    error=InvalidImageError,
)
case(
    "negative-base256-size-is-rejected",
    img(T(r.header("neg", size_field=r.base256(-512, 12)), r.file("a", b"a"))),
    g,
    error=InvalidImageError,
)
case(
    "garbage-octal-size-is-rejected",
    img(T(r.header("bad", size_field=b"12z4567\0\0\0\0\0"))),
    g,
    error=InvalidImageError,
)
case(
    "base256-size-is-read",
    img(
        T(
            r.header("b256", size_field=r.base256(5, 12)) + r.pad(b"12345"),
            r.file("after", b"a"),
        )
    ),
    g,
    tree=lambda t, c: (has(t, "/b256", "file", size=5), has(t, "/after")),
    dest=lambda d, c, res: (d_file(d, "b256", b"12345"), d_file(d, "after", b"a")),
)
case(
    "non-tar-block-is-rejected",
    img(r.file("a", b"a") + b"\x01" * 512 + r.END),
    g,
    error=InvalidImageError,
    match="checksum",
)
case(
    "gnu-long-name-is-read",
    img(T(r.gnu_longname("long/" + "n" * 200), r.file("ignored", b"x"))),
    g,
    tree=lambda t, c: (has(t, "/long/" + "n" * 200, "file"), absent(t, "/ignored")),
    dest=lambda d, c, res: d_file(d, "long/" + "n" * 200, b"x"),
)
case(
    "name-longer-than-name-max-lists-but-fails-extraction-cleanly",
    img(T(r.file("ok", b"ok"), r.gnu_longname("n" * 300), r.file("x", b"x"))),
    g,
    tree=lambda t, c: has(t, "/" + "n" * 300, "file"),
    extract_error=ImagefsError,
    match="n{20}",
)
case(
    "gnu-long-name-with-dotdot-is-rejected",
    img(T(r.gnu_longname("../victim/pwned"), r.file("x", b"x"))),
    g,
    error=InvalidImageError,
)
case(
    "gnu-long-link-target-is-kept",
    img(T(r.gnu_longlink("t" * 300), r.symlink("l", "decoy"))),
    g,
    tree=lambda t, c: has(t, "/l", "symlink", target="t" * 300),
    dest=lambda d, c, res: d_link(d, "l", "t" * 300),
)
case(
    "gnu-sparse-file-is-expanded-to-its-real-size",
    img(T(r.file("a", b"a"), r.gnu_sparse("sp", [(0, b"ab"), (4096, b"cd")], 8192))),
    g,
    tree=lambda t, c: has(t, "/sp", "file", size=8192),
    dest=lambda d, c, res: d_file(d, "sp", b"ab" + b"\0" * 4094 + b"cd" + b"\0" * 4094),
)
case(
    "truncated-tar-data-is-rejected",
    img(r.header("a", size=4096) + b"x" * 100),
    g,
    error=InvalidImageError,
)
case(
    "truncated-tar-header-is-rejected",
    img(r.file("a", b"a") + r.header("b")[:300]),
    g,
    error=InvalidImageError,
)
case(
    "tar-without-end-marker-is-read",
    img(r.file("a", b"a") + r.file("b", b"b")),
    g,
    tree=lambda t, c: (has(t, "/a"), has(t, "/b")),
    dest=lambda d, c, res: d_file(d, "b", b"b"),
)
case(
    "junk-after-end-marker-is-drained-and-ignored",
    img(r.tar(r.file("a", b"a")) + b"junk!" * 1000 + r.file("hidden", b"h")),
    g,
    tree=lambda t, c: (has(t, "/a"), absent(t, "/hidden")),
    dest=lambda d, c, res: (d_file(d, "a", b"a"), d_missing(d, "hidden")),
)

# Compression ---------------------------------------------------------------------------------
g = "compression"
_SMALL = r.tar(r.dir("d"), r.file("d/a", b"a" * 5000), r.file("b", b"b" * 70000))


def _small_ok(t: Tree, c: Ctx) -> None:
    has(t, "/d/a", size=5000)
    has(t, "/b", size=70000)


def _small_dest(d: Path, c: Ctx, res: Any) -> None:
    d_file(d, "d/a", b"a" * 5000)
    d_file(d, "b", b"b" * 70000)


case(
    "truncated-gzip-is-rejected",
    blobs(raw_layer(_SMALL, lambda t: r.gzip_bytes(t)[:-100])),
    g,
    error=(InvalidImageError, DigestMismatchError),
)
case(
    "gzip-bad-crc-is-rejected",
    blobs(raw_layer(_SMALL, r.gzip_bad_crc)),
    g,
    error=(InvalidImageError, DigestMismatchError),
)
case(
    "multi-member-gzip-is-read",
    blobs(raw_layer(_SMALL, r.gzip_multi_member)),
    g,
    tree=_small_ok,
    dest=_small_dest,
)
case(
    "zstd-skippable-frames-are-skipped",
    blobs(raw_layer(_SMALL, r.zstd_with_skippable, media.OCI_LAYER_ZSTD)),
    g,
    tree=_small_ok,
    dest=_small_dest,
)
case(
    "uncompressed-layer-labelled-gzip-is-sniffed",
    blobs(raw_layer(_SMALL, lambda t: t)),
    g,
    tree=_small_ok,
    dest=_small_dest,
)
case(
    "gzip-bomb-over-1000-to-1-hits-ratio-budget",
    blobs(raw_layer(lambda: b"", lambda _: _bomb())),
    g,
    error=BudgetExceededError,
)
case(
    "inflated-bytes-budget-is-enforced",
    blobs(raw_layer(_SMALL)),
    g,
    limits={"max_inflated_bytes": 10_000},
    error=BudgetExceededError,
)
case(
    "million-empty-entries-hit-the-entry-budget",
    blobs(raw_layer(lambda: b"", lambda _: _million())),
    g,
    limits={"max_entries": 10_000},
    error=BudgetExceededError,
    match="10000|10,000",
)
case(
    "ten-thousand-deep-nesting-hits-default-path-budget",
    img(lambda c: _deep(10_000), compression="none"),
    g,
    error=BudgetExceededError,
)
case(
    "ten-thousand-deep-nesting-lists-and-extracts-iteratively",
    img(lambda c: _deep(10_000), compression="none"),
    g,
    limits={"max_path_length": None, "max_path_depth": None},
    tree=lambda t, c: (
        has(t, "/" + r.deep_path(10_000) + "/leaf", "file"),
        len(t) == 10_001 or _fail(len(t)),
    ),
    dest=lambda d, c, res: (
        res.dirs == 10_000 or _fail(res.dirs),
        _read_deep(d, "/" + r.deep_path(10_000) + "/leaf") == b"leaf" or _fail("leaf"),
    ),
    cli_extract=False,
)
case(
    "path-depth-budget-is-configurable",
    img(lambda c: _deep(50)),
    g,
    limits={"max_path_depth": 20},
    error=BudgetExceededError,
)
case(
    "path-length-budget-is-configurable",
    img(T(r.file("a" * 90, b"x"))),
    g,
    limits={"max_path_length": 64},
    error=BudgetExceededError,
)
case(
    "ten-thousand-opaque-markers-stay-linear",
    img(lambda c: _opaque_lower(10_000), lambda c: _opaque_upper(10_000)),
    g,
    tree=lambda t, c: (
        len(t) == 20_000 or _fail(len(t)),
        has(t, "/d9999/new"),
        absent(t, "/d9999/old"),
    ),
    dest=lambda d, c, res: res.files == 10_000 or _fail(res.files),
    cli_extract=False,
)

# Manifests -----------------------------------------------------------------------------------
g = "manifests"


def _corrupt_blob(ctx: Ctx) -> str:
    ref = ctx.image(BASE)
    import json

    idx = json.loads((ctx.image_dir / "index.json").read_bytes())
    man = json.loads(
        (
            ctx.image_dir / "blobs/sha256" / idx["manifests"][0]["digest"].split(":")[1]
        ).read_bytes()
    )
    p = ctx.image_dir / "blobs/sha256" / man["layers"][0]["digest"].split(":")[1]
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 1
    p.write_bytes(bytes(data))
    return ref


def _mutate_layers(fn: Callable[[dict], None]) -> Callable[[Ctx], str]:
    return lambda ctx: ctx.image(BASE, mutate_manifest=fn)


case(
    "layer-digest-mismatch-is-rejected",
    _corrupt_blob,
    g,
    error=(DigestMismatchError, InvalidImageError),
)
case(
    "layer-size-mismatch-is-rejected",
    _mutate_layers(
        lambda m: m["layers"][0].__setitem__("size", m["layers"][0]["size"] - 1)
    ),
    g,
    error=(DigestMismatchError, InvalidImageError),
)
case(
    "diff-id-mismatch-is-rejected",
    lambda ctx: ctx.image(
        BASE,
        mutate_config=lambda c: c["rootfs"].__setitem__(
            "diff_ids", ["sha256:" + "0" * 64]
        ),
    ),
    g,
    error=DigestMismatchError,
)
case(
    "diff-id-count-mismatch-is-rejected",
    lambda ctx: ctx.image(
        BASE,
        mutate_config=lambda c: c["rootfs"]["diff_ids"].append("sha256:" + "1" * 64),
    ),
    g,
    error=InvalidImageError,
    match="diff_ids",
)
case(
    "manifest-holding-manifests-is-rejected",
    _mutate_layers(lambda m: m.__setitem__("manifests", [])),
    g,
    error=InvalidImageError,
    match="manifests",
)
case(
    "digest-with-path-traversal-is-rejected",
    _mutate_layers(
        lambda m: m["layers"][0].__setitem__("digest", "sha256:../../../victim/secret")
    ),
    g,
    error=InvalidImageError,
    match="digest",
)
case(
    "foreign-layer-urls-are-never-fetched",
    lambda ctx: _foreign(ctx),
    g,
    error=(NotFoundError, UnsupportedError),
)
case(
    "docker-archive-layer-path-traversal-is-refused",
    lambda ctx: _docker_archive_traversal(ctx),
    g,
    error=(InvalidImageError, NotFoundError),
)
case(
    "index-that-points-to-itself-is-rejected",
    lambda ctx: _self_index(ctx),
    g,
    error=(InvalidImageError, DigestMismatchError),
)

# Names ---------------------------------------------------------------------------------------
g = "names"
HOSTILE_NAMES = [
    "<script>alert(1)",
    '"><img src=x onerror=alert(1)>',
    "new\nline",
    "rtl\u202egnp.exe",
    "bad\udcffbyte",
    "javascript:alert(1)",
    "tab\tand\x1besc",
]
case(
    "hostile-names-are-kept-exactly",
    img(
        T(
            *[r.file(n, n.encode("utf-8", "surrogateescape")) for n in HOSTILE_NAMES],
            r.symlink("link", "javascript:alert(1)"),
        )
    ),
    g,
    tree=lambda t, c: [has(t, "/" + n, "file") for n in HOSTILE_NAMES],
    dest=lambda d, c, res: [
        d_file(d, n, n.encode("utf-8", "surrogateescape")) for n in HOSTILE_NAMES
    ],
)


# -- bulky fixtures, built once per process ----------------------------------------------------
_CACHE: dict[str, bytes] = {}


def _fail(msg: Any) -> None:
    raise AssertionError(msg)


def _read_deep(dest: Path, path: str) -> bytes:
    """Read a file whose path is longer than PATH_MAX, one directory fd at a time."""
    fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY)
    parts = path.strip("/").split("/")
    try:
        for p in parts[:-1]:
            new = os.open(p, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = new
        f = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW, dir_fd=fd)
        try:
            return os.read(f, 100)
        finally:
            os.close(f)
    finally:
        os.close(fd)


def _bomb() -> bytes:
    if "bomb" not in _CACHE:
        _CACHE["bomb"] = r.gzip_bomb_tar(64 << 20)
    return _CACHE["bomb"]


def _million() -> bytes:
    """1,000,000 empty-file headers, gzip'd as 245 gzip members (a valid multi-member
    stream): 244 copies of one compressed 4,096-header chunk plus the rest, so building it
    costs one small compression, not half a gigabyte of deflate."""
    if "million" not in _CACHE:
        chunk = r.gzip_bytes(b"".join(r.many_empty_files(4096)), level=9)
        rest = 1_000_000 - 244 * 4096
        _CACHE["million"] = chunk * 244 + r.gzip_bytes(
            b"".join(r.many_empty_files(rest, dirname="e")) + r.END
        )
    return _CACHE["million"]


def _deep(depth: int) -> bytes:
    if f"deep{depth}" in _CACHE:
        return _CACHE[f"deep{depth}"]
    path = r.deep_path(depth)
    # GNU long names carry the 20,000-character paths; each directory is its own member.
    parts = []
    for i in range(1, depth + 1):
        name = path[: 2 * i - 1]
        parts.append(
            r.gnu_longname(name) + r.dir("x") if len(name) > 99 else r.dir(name)
        )
    parts.append(r.gnu_longname(path + "/leaf") + r.file("x", b"leaf"))
    _CACHE[f"deep{depth}"] = r.tar(*parts)
    return _CACHE[f"deep{depth}"]


def _opaque_lower(n: int) -> bytes:
    return r.tar(*[r.dir(f"d{i}") + r.file(f"d{i}/old", b"o") for i in range(n)])


def _opaque_upper(n: int) -> bytes:
    return r.tar(
        *[
            r.dir(f"d{i}") + r.file(f"d{i}/.wh..wh..opq") + r.file(f"d{i}/new", b"n")
            for i in range(n)
        ]
    )


def _foreign(ctx: Ctx) -> str:
    """A foreign layer whose blob is absent locally: its URL must not be fetched."""
    import http.server
    import json
    import threading

    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *a: Any) -> None:
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    ctx.extra["server"] = srv
    ctx.extra["hits"] = hits
    url = f"http://127.0.0.1:{srv.server_address[1]}/layer.tar.gz"
    ref = ctx.image(
        BASE,
        r.tar(r.file("foreign", b"f")),
        mutate_manifest=lambda m: m["layers"][1].update(
            {"mediaType": media.DOCKER_LAYER_FOREIGN, "urls": [url]}
        ),
    )
    idx = json.loads((ctx.image_dir / "index.json").read_bytes())
    man = json.loads(
        (
            ctx.image_dir / "blobs/sha256" / idx["manifests"][0]["digest"].split(":")[1]
        ).read_bytes()
    )
    (ctx.image_dir / "blobs/sha256" / man["layers"][1]["digest"].split(":")[1]).unlink()
    return ref


def _docker_archive_traversal(ctx: Ctx) -> str:
    """A classic ``docker save`` archive whose manifest.json names ``../`` layer paths."""
    import io
    import json
    import tarfile

    from imagefs.oci_writer import ImageSpec, build_image, write_docker_archive

    path = ctx.image_dir.with_suffix(".tar")
    ctx.image_dir.parent.mkdir(parents=True, exist_ok=True)
    write_docker_archive(
        path, build_image(ImageSpec([BASE])), repo_tags=["hostile:latest"]
    )
    out = io.BytesIO()
    with (
        tarfile.open(path) as src,
        tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as dst,
    ):
        for m in src.getmembers():
            data = src.extractfile(m).read() if m.isfile() else None
            if m.name == "manifest.json":
                doc = json.loads(data)
                doc[0]["Layers"] = ["../victim/secret"]
                data = json.dumps(doc).encode()
                m.size = len(data)
            dst.addfile(m, io.BytesIO(data) if data is not None else None)
    path.write_bytes(out.getvalue())
    return f"docker-archive:{path}"


def _self_index(ctx: Ctx) -> str:
    import json

    from imagefs.oci_writer import canonical_json, sha256

    ctx.image(BASE)
    blobs_dir = ctx.image_dir / "blobs/sha256"
    fake = "sha256:" + "ab" * 32
    index = {
        "schemaVersion": 2,
        "mediaType": media.OCI_INDEX,
        "manifests": [{"mediaType": media.OCI_INDEX, "digest": fake, "size": 0}],
    }
    data = canonical_json(index)
    index["manifests"][0]["size"] = len(data)
    data = canonical_json(index)
    (blobs_dir / fake.split(":")[1]).write_bytes(data)
    top = {
        "schemaVersion": 2,
        "mediaType": media.OCI_INDEX,
        "manifests": [
            {
                "mediaType": media.OCI_INDEX,
                "digest": fake,
                "size": len(data),
                "annotations": {"org.opencontainers.image.ref.name": "latest"},
            }
        ],
    }
    (ctx.image_dir / "index.json").write_bytes(json.dumps(top).encode())
    del sha256
    return f"oci:{ctx.image_dir}:latest"
