"""Hostile names through every renderer: shown visibly, never interpreted.

A name may hold ``<script>``, quotes, a newline, an ANSI escape, U+202E (RIGHT-TO-LEFT
OVERRIDE) or a byte that is not UTF-8 (``\\xff``, carried as the lone surrogate U+DCFF).
Text renderers must show each as a visible escape; JSON must keep it losslessly; HTML
(when the site's views are present) must escape markup.
"""

from __future__ import annotations

import importlib
import json

import pytest
from imagefs.tree import Entry, ImageInfo, LayerInfo, Tree

NAMES = {
    "script": ("<script>alert(1)", "<script>alert(1)"),
    "img-onerror": ('"><img src=x onerror=alert(1)>', '"><img src=x onerror=alert(1)>'),
    "newline": ("new\nline", "new\\nline"),
    "rtl-override": ("rtl\u202egnp.exe", "rtl\\u202egnp.exe"),
    "non-utf8-byte": ("bad\udcffbyte", "bad\\xffbyte"),
    "ansi-escape": ("esc\x1b[31mred", "esc\\x1b[31mred"),
    "tab": ("a\tb", "a\\tb"),
}
RAW_FORBIDDEN = ["\u202e", "\x1b", "\udcff", "\t"]


def hostile_tree(extra: str = "") -> Tree:
    layers = [
        LayerInfo(
            index=0,
            digest="sha256:" + "a" * 64,
            created_by="RUN echo '<script>\u202e\n'",
            entries=1,
        )
    ]
    tree = Tree(ImageInfo(reference="oci:hostile\u202e:latest", layers=layers))
    tree.add(Entry("/d\u202e", "dir", mode=0o755, layer=0))
    for raw, _ in NAMES.values():
        tree.add(Entry("/" + raw + extra, "file", size=3, layer=0))
        tree.add(
            Entry("/d\u202e/" + raw, "symlink", mode=0o777, target="../" + raw, layer=0)
        )
    tree.add(
        Entry(
            "/hard\nlink",
            "hardlink",
            target="/" + NAMES["script"][0] + extra,
            size=3,
            layer=0,
        )
    )
    return tree


def _renders() -> list[tuple[str, object]]:
    out = []

    def tree_default(t):
        return importlib.import_module("imagefs.render.tree").render(t)

    def tree_markers(t):
        return importlib.import_module("imagefs.render.tree").render(
            t, markers=True, layers=True
        )

    def ls_root(t):
        return importlib.import_module("imagefs.render.ls").render(t, path="/")

    def ls_recursive(t):
        return importlib.import_module("imagefs.render.ls").render(
            t, recursive=True, human=True
        )

    def layers(t):
        return importlib.import_module("imagefs.render.layers").render(t)

    def diff_text(t):
        from imagefs.diff import diff_trees

        return importlib.import_module("imagefs.render.diff").render(
            diff_trees(Tree(), t)
        )

    out += [
        ("tree", tree_default),
        ("tree-markers", tree_markers),
        ("ls", ls_root),
        ("ls-R", ls_recursive),
        ("layers", layers),
        ("diff", diff_text),
    ]
    return out


@pytest.mark.parametrize(
    "render", [r for _, r in _renders()], ids=[n for n, _ in _renders()]
)
def test_text_renderers_show_hostile_names_visibly(render) -> None:
    pytest.importorskip("imagefs.render.tree")
    tree = hostile_tree()
    out = render(tree)
    out.encode("utf-8")  # no lone surrogate reaches a text stream
    for ch in RAW_FORBIDDEN:
        assert ch not in out, f"raw {ch!r} in output"
    if render.__name__ != "layers":
        for name, (raw, shown) in NAMES.items():
            assert shown in out, f"{name}: {shown!r} not shown"
        # the newline inside a name never starts a line of its own
        assert not any(line.startswith("line") for line in out.splitlines())
    else:
        assert "<script>\\u202e" in out  # created_by is shown, its U+202E visibly


def test_json_keeps_hostile_names_losslessly() -> None:
    from imagefs.render import json as render_json

    tree = hostile_tree()
    out = render_json.render(tree)
    assert "\u202e" not in out and "\udcff" not in out  # escaped as \\u202e / \\udcff
    doc = json.loads(out)
    paths = {e["path"] for e in doc["entries"]}
    assert paths == {e.path for e in tree.entries()}
    assert "/bad\udcffbyte" in paths
    assert "/bad\udcffbyte".encode("utf-8", "surrogateescape") == b"/bad\xffbyte"
    back = Tree.from_json(doc)
    assert [e.to_json() for e in back.entries()] == [
        e.to_json() for e in tree.entries()
    ]


def test_cli_error_messages_make_names_visible() -> None:
    from imagefs.cli import one_line

    msg = one_line("no such path /new\nline\u202e\udcff")
    assert "\n" not in msg and "\u202e" not in msg and "\\xff" in msg


HTML_VIEWS = ("tree", "ls", "layers", "summary", "diff")


def _html_view(name: str):
    return importlib.import_module(f"imagefs.render.html.{name}")


@pytest.mark.parametrize("view", HTML_VIEWS)
def test_html_views_escape_hostile_names(view: str, tmp_path) -> None:
    """Markup in names stays text; newlines, U+202E and bad bytes are shown visibly."""
    module = _html_view(view)
    from imagefs.snapshot import Snapshot

    def snap(tree: Tree, name: str) -> Snapshot:
        return Snapshot(
            name=name,
            reference="oci:hostile:latest",
            manifest_digest="sha256:" + "b" * 64,
            platform="linux/amd64",
            generated_at=None,
            tree=tree,
            path=tmp_path / f"{name}.json",
        )

    tree = hostile_tree()
    if view == "diff":
        out = module.render(snap(tree, "after"), snap(Tree(tree.image), "before"))
    elif view in ("tree", "ls"):
        out = module.render(snap(tree, "hostile"), depth=None) + module.render(
            snap(tree, "hostile"), path="/d\u202e"
        )
    else:
        out = module.render(snap(tree, "hostile"))
    for raw in ("<script>", "<img src=x", "\u202e", "\udcff", "\x1b"):
        assert raw not in out, f"{view}: raw {raw!r} in HTML"
    if view == "layers":  # only created_by holds hostile text there
        assert "&lt;script&gt;\\u202e" in out
    elif view != "summary":
        assert (
            "&lt;script&gt;" in out
            and "onerror=alert(1)&gt;" in out
            and "&quot;" in out
        )
        assert "new\\nline" in out and "\\xff" in out
        assert "\\u202e" in out
