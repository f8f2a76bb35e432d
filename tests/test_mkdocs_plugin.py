"""The MkDocs plugin's wiring, in process: fence registration, watch, links, listings config."""

from __future__ import annotations

import types

import pytest
from mkdocs.config import load_config

from imagefs import fence
from imagefs.mkdocs_plugin import FENCE, ImagefsPlugin, _names_in


def _config(tmp_path, extra=""):
    (tmp_path / "docs" / "snapshots").mkdir(parents=True)
    (tmp_path / "mkdocs.yml").write_text("site_name: t\n" + extra)
    return load_config(str(tmp_path / "mkdocs.yml"))


def _plugin(**options):
    p = ImagefsPlugin()
    p.load_config(options)
    return p


def test_registers_the_fence_once_and_adds_assets(tmp_path):
    cfg = _config(tmp_path)
    p = _plugin()
    p.on_config(cfg)
    p.on_config(cfg)  # mkdocs serve calls on_config again on rebuilds
    assert "pymdownx.superfences" in cfg["markdown_extensions"]
    fences = cfg["mdx_configs"]["pymdownx.superfences"]["custom_fences"]
    assert fences == [FENCE]
    assert [str(x) for x in cfg["extra_css"]] == ["assets/imagefs/imagefs.css"]
    assert [str(x) for x in cfg["extra_javascript"]] == ["assets/imagefs/imagefs.js"]


def test_keeps_other_custom_fences(tmp_path):
    cfg = _config(tmp_path, "markdown_extensions:\n  - pymdownx.superfences:\n      custom_fences:\n"
                            "        - {name: mermaid, class: mermaid}\n")
    _plugin().on_config(cfg)
    names = [f["name"] for f in cfg["mdx_configs"]["pymdownx.superfences"]["custom_fences"]]
    assert names == ["mermaid", "imagefs"]


def test_watches_a_snapshot_dir_outside_docs(tmp_path):
    cfg = _config(tmp_path)
    (tmp_path / "listings").mkdir()
    p = _plugin(snapshots_dir="listings")
    p.on_config(cfg)
    assert str(tmp_path / "listings") in cfg["watch"]
    p.on_pre_build(config=cfg)
    assert fence.snapshots_dir() == tmp_path / "listings"
    fence.reset()


def test_disabled_plugin_leaves_the_config_alone(tmp_path):
    cfg = _config(tmp_path)
    _plugin(enabled=False).on_config(cfg)
    assert "pymdownx.superfences" not in cfg["markdown_extensions"]
    assert not cfg["extra_css"] and not cfg["extra_javascript"]


@pytest.mark.parametrize("page_url, directory_urls, path, expect", [
    ("", True, "/", "images/small/"),
    ("guide/", True, "/etc", "../images/small/#imagefs-small-/etc"),
    ("guide/deep/page/", True, "/a b", "../../../images/small/#imagefs-small-/a%20b"),
    ("images/small/", True, "/etc", "./#imagefs-small-/etc"),
    ("guide/page.html", False, "/", "../images/small/index.html"),
    ("index.html", False, "/etc", "images/small/index.html#imagefs-small-/etc"),
], ids=["root-page", "section", "deep", "self", "no-directory-urls", "no-directory-urls-root"])
def test_links_to_the_per_image_page_are_relative(page_url, directory_urls, path, expect):
    p = _plugin()
    p.use_directory_urls = directory_urls
    p.page_url = page_url
    assert p._link("small", path) == expect


@pytest.mark.parametrize("doc, names", [
    ({"snapshots": [{"name": "small", "image": "oci:x", "description": "d"}, {"name": "other"}]},
     {"small", "other"}),
    ({"small": {"image": "x"}, "other": None}, {"small", "other"}),
    ({"listings": {"a": {}}}, {"a"}),
    ({"listings": [{"name": "a"}, {"name": "b", "image": "x"}, "junk"]}, {"a", "b"}),
    ([{"name": "a"}], {"a"}),
    (None, set()),
], ids=["recipes-format", "mapping", "listings-mapping", "listings-list", "top-list", "empty"])
def test_listings_config_shapes(doc, names):
    assert _names_in(doc) == names


def test_page_hooks_set_and_clear_the_page_for_messages(tmp_path):
    cfg = _config(tmp_path)
    p = _plugin()
    p.on_config(cfg)
    p.on_pre_build(config=cfg)
    page = types.SimpleNamespace(file=types.SimpleNamespace(src_uri="a/b.md"), url="a/b/")
    p.on_page_markdown("", page=page, config=cfg, files=None)
    assert fence.state.page == "a/b.md"
    p.on_page_content("", page=page, config=cfg, files=None)
    assert fence.state.page is None
    fence.reset()
