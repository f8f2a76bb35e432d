"""Property tests: random layer stacks merge like an obviously-correct model of the rules.

Layers are drawn from a small alphabet of paths (so that collisions, replacements,
whiteouts of things that exist, and writes below symlinks are common) and of member
kinds: files, directories, symlinks, hardlinks, whiteouts and opaque markers. The engine
(``index_layer`` per layer, then ``merge``) must either raise a typed
:class:`~imagefs.errors.ImagefsError` exactly when the model says the stack is invalid,
or produce the tree the model produces.

The model is a dict ``path -> node`` applied layer by layer (OCI image spec changesets,
overlay model for symlinks):

1. a layer's whiteouts and opaque markers act on the lower state only, so they go first:
   ``.wh.X`` removes X and everything below it; ``D/.wh..wh..opq`` removes everything below D;
   then the directory holding a marker is made part of the layer (implicitly if missing);
2. then the layer's other members in tar order, the last one winning: each missing or
   non-directory parent becomes an implicit directory (overlay: a symlink parent is
   replaced, never followed); dir over dir keeps the children, anything else replaces
   the subtree;
   A path that occurs twice in one layer counts once: its last occurrence, at that position;
3. a hardlink's own directory is made first and what it replaces removed; then it binds to its target's inode as it is
   at that moment (a regular file or a symlink), the target's directories resolved through
   symlinks inside the root; a target that is missing, itself or a directory is invalid.
   A later change to the target path does not change the link.
"""

from __future__ import annotations

import io

import pytest
from hostile import rawtar as r
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from imagefs.errors import ImagefsError

PATHS = ["a", "a/x", "a/y", "a/x/z", "b", "b/x", "c"]
DIRS = ["", "a", "b", "a/x"]
SIZES = [0, 1, 3, 7]
TARGETS = ["a", "../a", "/b", "a/x", "nowhere"]


class Invalid(Exception):
    """The model says this stack is not a valid image."""


def _parents(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


class Model:
    """path (relative, no leading slash) -> node: {"kind", "size", "target", "layer", "implicit"}."""

    def __init__(self) -> None:
        self.nodes: dict[str, dict] = {}

    def remove_tree(self, path: str) -> None:
        for p in [p for p in self.nodes if p == path or p.startswith(path + "/")]:
            del self.nodes[p]

    def clear_dir(self, path: str) -> None:
        prefix = path + "/" if path else ""
        for p in [p for p in self.nodes if p.startswith(prefix) and p != path]:
            del self.nodes[p]

    def put(self, path: str, node: dict, layer: int) -> None:
        for parent in _parents(path):
            cur = self.nodes.get(parent)
            if cur is None or cur["kind"] != "dir":
                self.remove_tree(parent)
                self.nodes[parent] = {
                    "kind": "dir",
                    "size": 0,
                    "target": None,
                    "layer": layer,
                    "implicit": True,
                }
        old = self.nodes.get(path)
        if old is not None and not (old["kind"] == "dir" and node["kind"] == "dir"):
            self.remove_tree(path)
        self.nodes[path] = node

    def implicit_dir(self, path: str, layer: int) -> None:
        if path and (path not in self.nodes or self.nodes[path]["kind"] != "dir"):
            self.put(
                path,
                {
                    "kind": "dir",
                    "size": 0,
                    "target": None,
                    "layer": layer,
                    "implicit": True,
                },
                layer,
            )

    def apply(self, layer: int, ops: list[tuple]) -> None:
        # Whiteouts, then opaque markers: they act on the lower layers only. Their directory
        # is part of this layer (created implicitly when missing, as overlay appliers do).
        for op in ops:
            if op[0] == "whiteout":
                self.remove_tree(op[1])
        for op in ops:
            if op[0] == "opaque":
                self.clear_dir(op[1])
        for op in ops:
            if op[0] in ("whiteout", "opaque"):
                self.implicit_dir(
                    op[1] if op[0] == "opaque" else "/".join(op[1].split("/")[:-1]),
                    layer,
                )
        # Entries: a path that occurs twice counts once, its last occurrence, at that position.
        last = {
            op[1]: i for i, op in enumerate(ops) if op[0] not in ("whiteout", "opaque")
        }
        for i, op in enumerate(ops):
            kind = op[0]
            if kind in ("whiteout", "opaque") or last[op[1]] != i:
                continue
            if kind == "file":
                self.put(
                    op[1],
                    {
                        "kind": "reg",
                        "size": op[2],
                        "target": None,
                        "layer": layer,
                        "implicit": False,
                    },
                    layer,
                )
            elif kind == "dir":
                self.put(
                    op[1],
                    {
                        "kind": "dir",
                        "size": 0,
                        "target": None,
                        "layer": layer,
                        "implicit": False,
                    },
                    layer,
                )
            elif kind == "symlink":
                self.put(
                    op[1],
                    {
                        "kind": "symlink",
                        "size": 0,
                        "target": op[2],
                        "layer": layer,
                        "implicit": False,
                    },
                    layer,
                )
            elif kind == "hardlink":
                for parent in _parents(
                    op[1]
                ):  # the link's directory first, then its target
                    self.implicit_dir(parent, layer)
                self.remove_tree(
                    op[1]
                )  # what the link replaces goes first (tar unlinks it)
                t = self.nodes.get(self.resolve_parents(op[2]))
                if op[2] == op[1] or t is None or t["kind"] == "dir":
                    raise Invalid(f"hardlink {op[1]} -> {op[2]}")
                self.put(op[1], dict(t, layer=layer, implicit=False), layer)

    def resolve_parents(self, path: str) -> str:
        """``path`` with symlinks in its directories resolved inside the root (absolute
        targets from the root, ``..`` stopping at the root); the last component as is."""
        *dirs, last = path.split("/")
        todo = list(reversed(dirs))
        cur: list[str] = []
        hops = 0
        while todo:
            comp = todo.pop()
            if comp in ("", "."):
                continue
            if comp == "..":
                if cur:
                    cur.pop()
                continue
            node = self.nodes.get("/".join(cur + [comp]))
            if node is not None and node["kind"] == "symlink":
                hops += 1
                if hops > 40:
                    raise Invalid(f"too many symlinks resolving {path}")
                if node["target"].startswith("/"):
                    cur = []
                todo.extend(reversed(node["target"].split("/")))
                continue
            cur.append(comp)
        return "/".join(cur + [last])


op_strategy = st.one_of(
    st.tuples(st.just("file"), st.sampled_from(PATHS), st.sampled_from(SIZES)),
    st.tuples(st.just("dir"), st.sampled_from(PATHS)),
    st.tuples(st.just("symlink"), st.sampled_from(PATHS), st.sampled_from(TARGETS)),
    st.tuples(st.just("hardlink"), st.sampled_from(PATHS), st.sampled_from(PATHS)),
    st.tuples(st.just("whiteout"), st.sampled_from(PATHS)),
    st.tuples(st.just("opaque"), st.sampled_from(DIRS)),
)
stack_strategy = st.lists(
    st.lists(op_strategy, min_size=0, max_size=7), min_size=1, max_size=4
)


def layer_tar(ops: list[tuple]) -> bytes:
    parts = []
    for op in ops:
        kind, path = op[0], op[1]
        if kind == "file":
            parts.append(r.file(path, b"x" * op[2]))
        elif kind == "dir":
            parts.append(r.dir(path))
        elif kind == "symlink":
            parts.append(r.symlink(path, op[2]))
        elif kind == "hardlink":
            parts.append(r.hardlink(path, op[2]))
        elif kind == "whiteout":
            head, _, name = path.rpartition("/")
            parts.append(r.file(f"{head}/.wh.{name}" if head else f".wh.{name}"))
        elif kind == "opaque":
            parts.append(r.file(f"{path}/.wh..wh..opq" if path else ".wh..wh..opq"))
    return r.tar(*parts)


def engine_merge(stack: list[list[tuple]]):
    from imagefs.layer_index import index_layer
    from imagefs.merge import merge
    from imagefs.sources.base import Limits
    from imagefs.tree import LayerInfo

    limits = Limits()
    indexes, infos = [], []
    for i, ops in enumerate(stack):
        data = layer_tar(ops)
        indexes.append(index_layer(io.BytesIO(data), limits=limits, where=f"layer {i}"))
        infos.append(LayerInfo(index=i, digest=f"sha256:{i:064x}", size=len(data)))
    return merge(indexes, infos)


def model_view(model: Model) -> dict[str, tuple]:
    out = {}
    for path, n in model.nodes.items():
        out["/" + path] = (
            n["kind"],
            n["size"] if n["kind"] == "reg" else 0,
            n["target"],
            None if n["implicit"] else n["layer"],
        )
    return out


def tree_view(tree) -> dict[str, tuple]:
    out = {}
    for e in tree.entries():
        kind = {"file": "reg", "hardlink": "reg"}.get(e.type, e.type)
        if e.type == "hardlink":
            target = tree.get(e.target)
            kind = (
                "symlink" if target is not None and target.type == "symlink" else "reg"
            )
            t = target.target if kind == "symlink" else None
        else:
            t = e.target if e.type == "symlink" else None
        out[e.path] = (
            kind,
            e.size if kind == "reg" else 0,
            t,
            None if e.implicit else e.layer,
        )
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stack_strategy)
# Regressions found by this test (fixed in tree.clear_dir and merge's marker directories):
@example([[("dir", "a/x"), ("whiteout", "a/x"), ("opaque", "")]])
@example([[("whiteout", "a/x"), ("whiteout", "a")]])
@example([[("whiteout", "a"), ("whiteout", "a/x"), ("whiteout", "a")]])
@example([[("whiteout", "a/x/z"), ("opaque", "a")]])
@example([[("file", "a/x", 1), ("hardlink", "a", "a/x")]])
def test_random_stacks_merge_like_the_model(stack: list[list[tuple]]) -> None:
    model = Model()
    try:
        for i, ops in enumerate(stack):
            model.apply(i, ops)
    except Invalid:
        with pytest.raises(ImagefsError):
            engine_merge(stack)
        return
    tree = engine_merge(stack)
    assert tree_view(tree) == model_view(model)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.binary(min_size=0, max_size=1200), min_size=1, max_size=3))
def test_random_bytes_are_a_typed_error_or_a_listing(chunks: list[bytes]) -> None:
    """Arbitrary bytes (and valid headers followed by garbage) never crash the reader."""
    data = r.file("ok", b"ok") + b"".join(chunks)
    try:
        engine_merge_raw([data])
    except ImagefsError:
        pass


def engine_merge_raw(tars: list[bytes]):
    from imagefs.layer_index import index_layer
    from imagefs.merge import merge
    from imagefs.sources.base import Limits
    from imagefs.tree import LayerInfo

    limits = Limits()
    indexes = [
        index_layer(io.BytesIO(t), limits=limits, where=f"layer {i}")
        for i, t in enumerate(tars)
    ]
    return merge(
        indexes,
        [LayerInfo(index=i, digest=f"sha256:{i:064x}") for i in range(len(tars))],
    )
