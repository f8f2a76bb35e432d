"""A 10,000-deep tree through every tree operation and text renderer: nothing recurses.

(The hostile table lists and extracts such an image end to end; this covers the renderers
and the Tree operations on their own, without building an image.)
"""

from __future__ import annotations

import sys

import pytest
from imagefs.tree import Entry, Tree

DEPTH = 10_000


@pytest.fixture(scope="module")
def deep_tree() -> Tree:
    assert DEPTH > sys.getrecursionlimit()
    t = Tree()
    path = ""
    for _ in range(DEPTH):
        path += "/a"
        t.add(Entry(path, "dir", mode=0o755, layer=0))
    t.add(Entry(path + "/leaf", "file", size=4, layer=0))
    return t


def test_tree_operations_are_iterative(deep_tree: Tree) -> None:
    assert sum(1 for _ in deep_tree.walk()) == DEPTH + 1
    doc = deep_tree.to_json()
    back = Tree.from_json(doc)
    assert len(back) == DEPTH + 1
    removed = back.remove("/a/a")
    assert len(removed) == DEPTH  # /a/a and everything below it
    assert len(back) == 1


@pytest.mark.parametrize("name", ["tree", "ls", "json"])
def test_text_renderers_handle_depth(deep_tree: Tree, name: str) -> None:
    import importlib

    module = importlib.import_module(f"imagefs.render.{name}")
    opts = {"recursive": True} if name == "ls" else {}
    out = module.render(deep_tree, **opts)
    assert "leaf" in out


def test_diff_handles_depth(deep_tree: Tree) -> None:
    from imagefs.diff import diff_trees

    d = diff_trees(Tree(), deep_tree)
    assert len(d.added) == DEPTH + 1
