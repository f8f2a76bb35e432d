"""The merge: OCI changeset rules, symlink models, hardlinks, per-layer statistics."""

from __future__ import annotations

import io

import pytest
from fixtures import D, F, H, L, layer
from imagefs.errors import BudgetExceededError, InvalidImageError, UsageError
from imagefs.layer_index import index_layer
from imagefs.merge import merge
from imagefs.oci_writer import TarMember
from imagefs.sources.base import Limits
from imagefs.tree import LayerInfo, Tree


def build(layers, *, symlinks="overlay", limits=None) -> tuple[Tree, list[LayerInfo]]:
    indexes = [index_layer(io.BytesIO(layer(*ms)), where=f"layer {i}") for i, ms in enumerate(layers)]
    infos = [LayerInfo(index=i, digest=f"sha256:{i:064x}") for i in range(len(layers))]
    return merge(indexes, infos, symlinks=symlinks, limits=limits), infos


def view(tree: Tree) -> dict[str, str]:
    """path -> "type[->target]@layer[*]" (* = implicit)."""
    out = {}
    for e in tree.entries():
        s = e.type
        if e.target is not None:
            s += f"->{e.target}"
        s += f"@{e.layer}"
        if e.implicit:
            s += "*"
        out[e.path] = s
    return out


LIB0 = [D("usr"), D("usr/lib"), F("usr/lib/libc", b"c"), L("lib", "usr/lib")]

RULES = [
    # -- whiteouts
    pytest.param([[F("a/x"), F("a/y")], [F("a/.wh.x")]], {"/a": "dir@0*", "/a/y": "file@0"}, id="whiteout-deletes-lower"),
    pytest.param([[D("d"), F("d/e/f")], [F(".wh.d")]], {}, id="whiteout-deletes-lower-subtree"),
    pytest.param([[F("a/x")], [F("a/x"), F("a/.wh.x")]], {"/a": "dir@0*", "/a/x": "file@1"}, id="whiteout-spares-same-layer-entry-before-it"),
    pytest.param([[F("a/x")], [F("a/.wh.x"), F("a/x")]], {"/a": "dir@0*", "/a/x": "file@1"}, id="whiteout-spares-same-layer-entry-after-it"),
    pytest.param([[F("a")], [F(".wh.zzz")]], {"/a": "file@0"}, id="whiteout-with-nothing-to-remove"),
    pytest.param([[F("a")], [F(".wh.a"), F(".wh.a")]], {}, id="duplicate-whiteouts"),
    pytest.param([[L("s", "/a"), F("a")], [F(".wh.s")]], {"/a": "file@0"}, id="whiteout-of-symlink-removes-the-link-only"),
    # -- opaque directories
    pytest.param(
        [[F("d/x"), F("d/sub/y"), F("e")], [D("d"), F("d/.wh..wh..opq"), F("d/new")]],
        {"/d": "dir@1", "/d/new": "file@1", "/e": "file@0"},
        id="opaque-hides-lower-contents",
    ),
    pytest.param(
        [[F("d/x")], [F("d/new"), F("d/.wh..wh..opq")]],
        {"/d": "dir@0*", "/d/new": "file@1"},
        id="opaque-spares-same-layer-entries-any-order",
    ),
    pytest.param([[F("a"), F("b/c")], [F(".wh..wh..opq"), F("n")]], {"/n": "file@1"}, id="opaque-at-root"),
    pytest.param([[F("d")], [F("d/.wh..wh..opq")]], {"/d": "dir@1*"}, id="opaque-over-file-makes-implicit-dir"),
    pytest.param(
        [[D("d"), D("d/e")], [F("d/.wh..wh..opq"), F("d/e/f")]],
        {"/d": "dir@0", "/d/e": "dir@1*", "/d/e/f": "file@1"},
        id="opaque-forgets-empty-subdirs",
    ),
    pytest.param([[F("a/x")], [F("a/.wh.x"), F(".wh.a")]], {"/a": "dir@1*"}, id="marker-dir-made-after-all-whiteouts"),
    pytest.param([[F("a/x")], [F(".wh.a"), F("a/.wh.x")]], {"/a": "dir@1*"}, id="marker-dir-order-independent"),
    # -- replacement
    pytest.param([[F("d/x")], [F("d")]], {"/d": "file@1"}, id="file-over-dir-replaces-subtree"),
    pytest.param([[F("d")], [D("d"), F("d/y")]], {"/d": "dir@1", "/d/y": "file@1"}, id="dir-over-file-replaces"),
    pytest.param([[D("d"), F("d/x")], [L("d", "/x")]], {"/d": "symlink->/x@1"}, id="symlink-over-dir-replaces-subtree"),
    pytest.param(
        [[D("d", mode=0o700), F("d/x")], [D("d"), F("d/y")]],
        {"/d": "dir@1", "/d/x": "file@0", "/d/y": "file@1"},
        id="dir-over-dir-merges",
    ),
    # -- duplicates in one layer
    pytest.param([[F("a"), D("a"), F("a/b")]], {"/a": "dir@0", "/a/b": "file@0"}, id="duplicate-file-then-dir-last-wins"),
    pytest.param([[D("a"), F("a/b"), F("a")]], {"/a": "file@0"}, id="duplicate-dir-then-file-last-wins-drops-children"),
    pytest.param([[F("a", b"1"), F("a", b"22")]], {"/a": "file@0"}, id="duplicate-files-last-wins"),
    # -- implicit parents and names
    pytest.param([[F("x/y/z")]], {"/x": "dir@0*", "/x/y": "dir@0*", "/x/y/z": "file@0"}, id="implicit-parents"),
    pytest.param([[D("x")], [F("x/y")]], {"/x": "dir@0", "/x/y": "file@1"}, id="implicit-parent-keeps-lower-dir"),
    pytest.param([[F("x/y")], [D("x")]], {"/x": "dir@1", "/x/y": "file@0"}, id="explicit-dir-over-implicit"),
    pytest.param([[F("./a"), F("/b"), F("c"), F(".//d/")]], {"/a": "file@0", "/b": "file@0", "/c": "file@0", "/d": "file@0"}, id="dot-slash-and-slash-prefixes"),
    pytest.param([[F("a\\b"), F("c:\\d")]], {"/a\\b": "file@0", "/c:\\d": "file@0"}, id="backslash-is-ordinary"),
    pytest.param([[F(".wh..wh.aufs"), D(".wh..wh.plnk"), F(".wh..wh.plnk/1.1"), F("ok")]], {"/ok": "file@0"}, id="aufs-metadata-hidden"),
    # -- symlinks over directories and back (overlay model)
    pytest.param(
        [LIB0, [F("lib/x")]],
        {"/lib": "dir@1*", "/lib/x": "file@1", "/usr": "dir@0", "/usr/lib": "dir@0", "/usr/lib/libc": "file@0"},
        id="overlay-upper-child-makes-implicit-dir-over-symlink",
    ),
    pytest.param(
        [LIB0, [D("lib"), F("lib/x")]],
        {"/lib": "dir@1", "/lib/x": "file@1", "/usr": "dir@0", "/usr/lib": "dir@0", "/usr/lib/libc": "file@0"},
        id="overlay-upper-dir-entry-replaces-symlink",
    ),
    pytest.param(
        [LIB0, [F("lib/.wh.libc")]],
        {"/lib": "dir@1*", "/usr": "dir@0", "/usr/lib": "dir@0", "/usr/lib/libc": "file@0"},
        id="overlay-whiteout-under-symlink-does-not-reach-target",
    ),
    pytest.param([[D("lib"), F("lib/a")], [L("lib", "usr/lib")], [F("lib/b")]], {"/lib": "dir@2*", "/lib/b": "file@2"}, id="overlay-dir-symlink-dir"),
]


@pytest.mark.parametrize("layers, expected", RULES)
def test_merge_rules(layers, expected):
    tree, _ = build(layers)
    assert view(tree) == expected


FOLLOW = [
    pytest.param(
        [LIB0, [F("lib/x")]],
        {"/lib": "symlink->usr/lib@0", "/usr": "dir@0", "/usr/lib": "dir@0", "/usr/lib/libc": "file@0", "/usr/lib/x": "file@1"},
        id="follow-writes-through-symlink",
    ),
    pytest.param(
        [LIB0, [D("lib"), F("lib/x")]],
        {"/lib": "dir@1", "/lib/x": "file@1", "/usr": "dir@0", "/usr/lib": "dir@0", "/usr/lib/libc": "file@0"},
        id="follow-dir-entry-still-replaces-symlink",
    ),
    pytest.param(
        [LIB0, [F("lib/.wh.libc")]],
        {"/lib": "symlink->usr/lib@0", "/usr": "dir@0", "/usr/lib": "dir@0"},
        id="follow-whiteout-through-symlink",
    ),
    pytest.param([[L("esc", "../../.."), D("x")], [F("esc/y")]], {"/esc": "symlink->../../..@0", "/x": "dir@0", "/y": "file@1"}, id="follow-dotdot-stays-in-root"),
    pytest.param([[L("a", "/b"), D("b")], [F("a/x")]], {"/a": "symlink->/b@0", "/b": "dir@0", "/b/x": "file@1"}, id="follow-absolute-target-is-root-relative"),
    pytest.param([[L("a", "b"), L("b", "c")], [F("a/x")]], {"/a": "symlink->b@0", "/b": "symlink->c@0", "/c": "dir@1*", "/c/x": "file@1"}, id="follow-chain-to-missing-creates-dirs"),
    pytest.param([[L("a", "."), L("b", "a/..")], [F("b/x")]], {"/a": "symlink->.@0", "/b": "symlink->a/..@0", "/x": "file@1"}, id="follow-two-hop-dot-chain"),
    pytest.param([[L("a", "d"), D("d"), F("d/f")], [F("a/.wh..wh..opq")]], {"/a": "symlink->d@0", "/d": "dir@0"}, id="follow-opaque-through-symlink"),
]


@pytest.mark.parametrize("layers, expected", FOLLOW)
def test_follow_model(layers, expected):
    tree, _ = build(layers, symlinks="follow")
    assert view(tree) == expected


@pytest.mark.parametrize("model", ["overlay", "follow"])
def test_symlink_loop_is_a_budget_error_in_hardlink_targets(model):
    with pytest.raises(BudgetExceededError, match="symlink hops"):
        build([[L("a", "b"), L("b", "a")], [H("h", "a/x")]], symlinks=model)


def test_follow_symlink_loop_is_a_budget_error():
    with pytest.raises(BudgetExceededError, match="layer 1 .*3 symlink hops"):
        build([[L("a", "b"), L("b", "a")], [F("a/x")]], symlinks="follow", limits=Limits(max_symlink_hops=3))


def test_unknown_symlink_model_is_a_usage_error():
    with pytest.raises(UsageError, match="sideways"):
        build([[F("a")]], symlinks="sideways")


# -- hardlinks -------------------------------------------------------------------------------

HARDLINKS = [
    pytest.param([[F("a", b"12345"), H("b", "a")]], {"/a": ("file", None, 5), "/b": ("hardlink", "/a", 5)}, id="within-layer"),
    pytest.param([[F("a", b"12345")], [H("b", "./a")]], {"/a": ("file", None, 5), "/b": ("hardlink", "/a", 5)}, id="across-layers"),
    pytest.param(
        [[F("a", b"12345"), H("b", "a"), H("c", "b")]],
        {"/a": ("file", None, 5), "/b": ("hardlink", "/a", 5), "/c": ("hardlink", "/a", 5)},
        id="link-to-link-binds-to-inode",
    ),
    pytest.param(
        [[F("a", b"12345"), H("c", "a"), H("b", "a")], [F(".wh.a")]],
        {"/b": ("file", None, 5), "/c": ("hardlink", "/b", 5)},
        id="target-deleted-later-first-link-promoted",
    ),
    pytest.param(
        [[F("a", b"old"), H("b", "a")], [F("a", b"new!")]],
        {"/a": ("file", None, 4), "/b": ("file", None, 3)},
        id="target-replaced-later-link-keeps-old-inode",
    ),
    pytest.param([[L("s", "/etc"), H("h", "s")]], {"/s": ("symlink", "/etc", 4), "/h": ("hardlink", "/s", 4)}, id="link-to-symlink-allowed"),
    pytest.param([[L("s", "/etc"), H("h", "s")], [F(".wh.s")]], {"/h": ("symlink", "/etc", 4)}, id="link-to-symlink-promoted-to-symlink"),
    pytest.param(
        [[D("usr/lib"), F("usr/lib/x", b"xx"), L("lib", "usr/lib")], [H("h", "lib/x")]],
        {"/lib": ("symlink", "usr/lib", 7), "/usr": ("dir", None, 0), "/usr/lib": ("dir", None, 0), "/usr/lib/x": ("file", None, 2), "/h": ("hardlink", "/usr/lib/x", 2)},
        id="target-through-symlinked-parent",
    ),
    pytest.param(
        [[D(".wh..wh.plnk"), F(".wh..wh.plnk/9.9", b"aufs"), H("x", ".wh..wh.plnk/9.9")]],
        {"/x": ("file", None, 4)},
        id="aufs-plnk-link-becomes-file",
    ),
]


@pytest.mark.parametrize("layers, expected", HARDLINKS)
def test_hardlinks(layers, expected):
    tree, _ = build(layers)
    assert {e.path: (e.type, e.target, e.size) for e in tree.entries()} == expected


def test_promoted_link_records_where_the_bytes_are():
    tree, _ = build([[F("a", b"old"), H("b", "a"), H("c", "a")], [F("a", b"new!")]])
    b, c = tree.get("/b"), tree.get("/c")
    assert (b.type, b.origin, b.data_origin) == ("file", (0, "/a"), (0, "/a"))
    assert (c.type, c.target) == ("hardlink", "/b")
    assert tree.get("/a").data_origin == (1, "/a")
    assert "origin" not in b.to_json()


def test_hardlink_takes_inode_metadata():
    tree, _ = build([[F("a", b"xyz", mode=0o4750, uid=3, gid=4, mtime=7), H("b", "a", mode=0o600)]])
    b = tree.get("/b")
    assert (b.mode, b.uid, b.gid, b.mtime, b.size, b.layer) == (0o4750, 3, 4, 7, 3, 0)


def test_follow_model_origin_is_member_path():
    tree, _ = build([LIB0, [F("lib/x", b"1")]], symlinks="follow")
    assert tree.get("/usr/lib/x").data_origin == (1, "/lib/x")


BAD_LINKS = [
    pytest.param([[H("h", "missing")]], "does not exist", id="missing-target"),
    pytest.param([[H("h", "a"), F("a")]], "does not exist", id="target-later-in-same-layer"),
    pytest.param([[D("d"), H("h", "d")]], "directory", id="target-is-directory"),
    pytest.param([[H("h", "./")]], "directory", id="target-is-root"),
    pytest.param([[F("a")], [H("a", "a")]], "does not exist", id="link-to-itself"),
    pytest.param([[F("a")], [F(".wh.a"), H("h", "a")]], "does not exist", id="target-whited-out-in-same-layer"),
    pytest.param([[D("d"), F("d/x")], [H("d", "d/x")]], "does not exist", id="target-inside-replaced-path"),
]


@pytest.mark.parametrize("layers, message", BAD_LINKS)
def test_bad_hardlinks_raise_naming_layer_and_entry(layers, message):
    with pytest.raises(InvalidImageError, match=message) as info:
        build(layers)
    n = len(layers) - 1
    assert str(info.value).startswith(f"layer {n} (sha256:")
    assert "'/" in str(info.value)


# -- statistics ------------------------------------------------------------------------------

STATS = [
    pytest.param(
        [[F("a", b"x" * 10), D("d"), F("d/x", b"y" * 5)], [F(".wh.a"), F("d/x", b"zzz"), F("n")]],
        [(3, 0, 0, 15), (1, 1, 1, 0)],
        id="added-modified-deleted-wasted",
    ),
    pytest.param([[F("a", b"x" * 100), H("b", "a")], [F(".wh.a"), F(".wh.b")]], [(2, 0, 0, 100), (0, 0, 2, 0)], id="hardlinks-not-double-counted"),
    pytest.param([[F("a", b"x" * 100), H("b", "a")], [F(".wh.a")]], [(2, 0, 0, 0), (0, 0, 1, 0)], id="surviving-link-keeps-bytes"),
    pytest.param([[F("a", b"x" * 100), H("b", "a")], [F(".wh.a")], [F(".wh.b")]], [(2, 0, 0, 100), (0, 0, 1, 0), (0, 0, 1, 0)], id="promoted-link-bytes-belong-to-origin-layer"),
    pytest.param([[F("d/x"), F("d/y", b"12")], [F("d/.wh..wh..opq")]], [(3, 0, 0, 2), (0, 0, 2, 0)], id="opaque-counts-hidden-paths"),
    pytest.param([[F("d/x", b"1"), F("d/y", b"12")], [F("d", b"1234")]], [(3, 0, 0, 3), (0, 1, 2, 0)], id="file-over-dir-deletes-subtree"),
    pytest.param([[F("a", b"1234")], [F(".wh.a"), F("a", b"5")]], [(1, 0, 0, 4), (0, 1, 0, 0)], id="whiteout-and-readd-is-modified"),
    pytest.param([[F("a", b"12"), F("a", b"3")]], [(1, 0, 0, 0)], id="same-layer-duplicate-not-wasted"),
    pytest.param([[L("lib", "usr/lib")], [F("lib/x")]], [(1, 0, 0, 0), (1, 1, 0, 0)], id="implicit-dir-over-symlink-is-modified"),
    pytest.param([[F("a/b/c")], [F(".wh.zzz")]], [(3, 0, 0, 0), (0, 0, 0, 0)], id="noop-whiteout-changes-nothing"),
]


@pytest.mark.parametrize("layers, expected", STATS)
def test_layer_stats(layers, expected):
    _, infos = build(layers)
    assert [(i.added, i.modified, i.deleted, i.wasted) for i in infos] == expected


def test_layer_info_gets_entries_and_size_from_index():
    _, infos = build([[F("a"), F(".wh.b")]])
    assert infos[0].entries == 2 and infos[0].uncompressed_size == len(layer(F("a"), F(".wh.b")))


def test_merge_does_not_modify_indexes():
    indexes = [index_layer(io.BytesIO(layer(*ms)), where="l") for ms in ([F("a", b"1"), H("b", "a")], [F(".wh.a")])]
    before = [dict(ix.entries) for ix in indexes]
    snapshot = [[(e.path, e.type, e.target, e.layer) for e in ix.entries.values()] for ix in indexes]
    merge(indexes, [LayerInfo(0, "d0"), LayerInfo(1, "d1")])
    assert [[(e.path, e.type, e.target, e.layer) for e in ix.entries.values()] for ix in indexes] == snapshot
    assert [dict(ix.entries) for ix in indexes] == before


def test_total_entry_budget():
    with pytest.raises(BudgetExceededError, match="layer 1 .*entry budget"):
        build([[F("a"), F("b")], [F("c")]], limits=Limits(max_entries=2))


def test_types_and_modes_survive():
    tree, _ = build(
        [[TarMember("dev/null", "char", devmajor=1, devminor=3, mode=0o666), TarMember("tmp", "dir", mode=0o1777), TarMember("f", "fifo", mode=0)]]
    )
    assert (tree.get("/dev/null").type, tree.get("/dev/null").devmajor, tree.get("/dev/null").devminor) == ("char", 1, 3)
    assert tree.get("/tmp").mode == 0o1777 and tree.get("/f").mode == 0


def test_many_opaque_markers_and_deep_paths_are_iterative():
    """Thousands of opaque markers over a wide lower layer, and a 3000-deep path: no recursion."""
    lower = [F(f"d{i}/x{j}") for i in range(300) for j in range(10)]
    upper = [F(f"d{i}/.wh..wh..opq") for i in range(300)] + [F(f"d{i}/.wh..wh..opq") for i in range(3000, 6000)]
    deep = "/".join(["n"] * 3000)
    tree, infos = build([lower, upper, [F(deep)]])
    assert infos[1].deleted == 3000
    assert len(tree.get("/" + deep).path) == 6000
    assert sum(1 for _ in tree.walk()) == len(tree)


def test_symlink_walk_work_is_bounded(monkeypatch):
    """Many writes through long symlink chains hit a work budget instead of going quadratic."""
    import imagefs.merge as merge_module

    monkeypatch.setattr(merge_module, "WALK_BUDGET", 150)  # one resolution of s29 costs ~90
    chain = [L("s0", "d")] + [L(f"s{i}", f"s{i - 1}/./.") for i in range(1, 30)] + [D("d")]
    writes = [F(f"s29/f{i}") for i in range(5)] + [L("x", "d")] + [F(f"s29/g{i}") for i in range(5)]
    with pytest.raises(BudgetExceededError, match="path steps"):
        build([chain, writes], symlinks="follow")
    monkeypatch.setattr(merge_module, "WALK_BUDGET", 10**6)
    tree, _ = build([chain, writes], symlinks="follow")
    assert tree.get("/d/g4").type == "file"


def _random_layer(rng) -> bytes:
    names = ["a", "b", "a/b", "a/c", "b/c", "a/b/c", "c"]
    ms = []
    for _ in range(rng.randint(0, 6)):
        n, k = rng.choice(names), rng.random()
        d, _, base = n.rpartition("/")
        if k < 0.35:
            ms.append(F(n, b"x" * rng.randint(0, 5)))
        elif k < 0.55:
            ms.append(D(n))
        elif k < 0.65:
            ms.append(L(n, rng.choice(names)))
        elif k < 0.72:
            ms.append(H(n, rng.choice(names)))
        elif k < 0.9:
            ms.append(F((d + "/" if d else "") + ".wh." + base))
        else:
            ms.append(F((n + "/" if rng.random() < 0.7 else "") + ".wh..wh..opq"))
    return layer(*ms)


@pytest.mark.parametrize("model", ["overlay", "follow"])
def test_stats_equal_their_definition_on_random_stacks(model):
    """added/modified/deleted/wasted equal what comparing prefix merges says, on 300 random stacks."""
    import random

    rng = random.Random(20261129)
    checked = 0
    for _ in range(300):
        tars = [_random_layer(rng) for _ in range(rng.randint(1, 4))]
        indexes = [index_layer(io.BytesIO(t), where="l") for t in tars]
        infos = [LayerInfo(i, "d") for i in range(len(tars))]
        try:
            final = merge(indexes, infos, symlinks=model)
        except InvalidImageError:
            continue
        kept = {e.data_origin for e in final.entries() if e.type == "file"}
        before: dict = {}
        for i in range(len(tars)):
            after = {e.path: e for e in merge(indexes[: i + 1], [LayerInfo(j, "d") for j in range(i + 1)], symlinks=model).entries()}
            expected = (
                sum(1 for p in after if p not in before),
                sum(1 for p, e in after.items() if p in before and e.layer == i),
                sum(1 for p in before if p not in after),
                sum(e.size for e in after.values() if e.type == "file" and e.data_origin[0] == i and e.data_origin not in kept),
            )
            assert (infos[i].added, infos[i].modified, infos[i].deleted, infos[i].wasted) == expected, [ix.rows for ix in indexes]
            before = after
        checked += 1
    assert checked > 150  # most random stacks are valid
