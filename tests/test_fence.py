"""The ``imagefs`` fence on a bare Markdown instance: options, errors, golden HTML, hostile names, size."""

from __future__ import annotations

import os
from html.parser import HTMLParser
from pathlib import Path

import markdown
import pytest
import site_trees as st
from pymdownx.superfences import SuperFencesException

from imagefs import fence, snapshot
from imagefs.errors import ImagefsError

GOLDEN = Path(__file__).parent / "golden" / "html"
UPDATE = bool(os.environ.get("IMAGEFS_UPDATE_GOLDEN"))


@pytest.fixture
def snaps(tmp_path, monkeypatch):
    """A snapshot dir with small/other/hostile/big, found through $IMAGEFS_SNAPSHOTS."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    d = tmp_path / "snapshots"
    st.write(d, "small", st.small_tree())
    st.write(d, "other", st.other_tree())
    st.write(d, "hostile", st.hostile_tree())
    monkeypatch.setenv("IMAGEFS_SNAPSHOTS", str(d))
    fence.reset()
    yield d
    fence.reset()


def convert(body: str, header: str = "imagefs") -> str:
    md = markdown.Markdown(
        extensions=["pymdownx.superfences"],
        extension_configs={"pymdownx.superfences": {"custom_fences": [
            {"name": "imagefs", "class": "imagefs", "validator": fence.validate, "format": fence.format}]}},
    )
    return md.convert(f"```{header}\n{body}\n```\n")


ERRORS = [
    ("view: tree", ["option 'snapshot'", "is missing", "add `snapshot: NAME`"], "missing-snapshot"),
    ("snapshot: nope", ["option 'snapshot'", "snapshot 'nope' not found", "`imagefs snapshot nope IMAGE"],
     "snapshot-file-missing"),
    ("snapshot: Small", ["option 'snapshot'", "'Small' is not a snapshot name"], "snapshot-bad-name"),
    ("snapshot: [a]", ["option 'snapshot'", "is not a snapshot name"], "snapshot-not-a-string"),
    ("snapshot: small\ndepht: 2", ["option 'depht'", "is unknown", "use one of: snapshot, view"], "unknown-option"),
    ("snapshot: small\nview: graph", ["option 'view'", "'graph' is not a view", "tree, ls, layers, diff, summary"],
     "bad-view"),
    ("snapshot: small\npath: /nope", ["option 'path'", "/nope is not in the image"], "path-not-in-image"),
    ("snapshot: small\npath: etc", ["option 'path'", "not an absolute path", "`path: /etc`"], "relative-path"),
    ("snapshot: small\nhighlight: [/etc/pasword]", ["option 'highlight'", "/etc/pasword is not in the image"],
     "highlight-not-in-image"),
    ("snapshot: small\nhighlight: {a: 1}", ["option 'highlight'", "not a path or a list"], "highlight-mapping"),
    ("snapshot: small\ndepth: 0", ["option 'depth'", "0 is not a whole number >= 1"], "depth-zero"),
    ("snapshot: small\ndepth: two", ["option 'depth'", "'two' is not a whole number"], "depth-text"),
    ("snapshot: small\ndepth: true", ["option 'depth'", "True is not a whole number"], "depth-bool"),
    ("snapshot: small\nlimit: -1", ["option 'limit'", "-1 is not a whole number >= 0"], "negative-limit"),
    ("snapshot: small\nview: diff", ["option 'against'", "is missing", "add `against: OTHER-SNAPSHOT`"],
     "diff-without-against"),
    ("snapshot: small\nview: diff\nagainst: gone", ["option 'against'", "snapshot 'gone' not found"],
     "diff-against-missing"),
    ("snapshot: small\nagainst: other", ["option 'against'", "does not apply to view tree", "add `view: diff`"],
     "against-without-diff"),
    ("snapshot: small\nview: layers\npath: /etc", ["option 'path'", "does not apply to view layers"],
     "path-on-layers"),
    ("snapshot: small\nview: [tree", ["not valid YAML at line 2"], "bad-yaml"),
    ("snapshot: small\n  view: tree", ["not valid YAML"], "bad-yaml-indent"),
    ("just some words", ["the body must be YAML `key: value` lines"], "body-not-a-mapping"),
    ("", ["option 'snapshot'", "is missing"], "empty-body"),
]


@pytest.mark.parametrize("body, fragments", [pytest.param(b, f, id=i) for b, f, i in ERRORS])
def test_bad_fences_fail_the_build_with_a_useful_message(snaps, body, fragments):
    with pytest.raises(SuperFencesException) as info:
        convert(body)
    err = info.value
    assert isinstance(err, fence.FenceError) and isinstance(err, ImagefsError)
    msg = str(err)
    assert "\n" not in msg
    assert msg.startswith("imagefs fence")
    for frag in fragments:
        assert frag in msg


def test_error_names_the_page_when_the_plugin_set_it(snaps):
    fence.set_page("guides/etc.md")
    with pytest.raises(fence.FenceError, match=r"^guides/etc\.md: imagefs fence \(snapshot small\): option 'path'"):
        convert("snapshot: small\npath: /nope")


def test_snapshot_dir_defaults_to_docs_snapshots_under_cwd(snaps, tmp_path, monkeypatch):
    monkeypatch.delenv("IMAGEFS_SNAPSHOTS")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(fence.FenceError, match=r"docs/snapshots/small\.json does not exist"):
        convert("snapshot: small")
    (tmp_path / "docs").mkdir()
    (snaps).rename(tmp_path / "docs" / "snapshots")
    assert 'class="imagefs imagefs-tree"' in convert("snapshot: small")


def test_header_attributes_are_options(snaps):
    html = convert("snapshot: small\nview: summary", header='{.imagefs title="From the header"}')
    assert "From the header" in html


@pytest.mark.parametrize("body, present, absent", [
    ("snapshot: small", ['id="imagefs-small-/etc/passwd"', "<details open>"], []),
    ("snapshot: small\ndepth: 1", ['id="imagefs-small-/etc"', 'class="imagefs-dir imagefs-cut"'],
     ["imagefs-small-/etc/passwd"]),
    ("snapshot: small\npath: /etc/ssl", ['id="imagefs-small-/etc/ssl/certs/ca.pem"'], ["imagefs-small-/bin"]),
    ("snapshot: small\nexpand: 0", ["<details>"], ["<details open>"]),
    ("snapshot: small\nexpand: 0\nhighlight: /etc/ssl/certs/ca.pem",
     ['class="imagefs-file imagefs-hl"', 'id="imagefs-small-/etc/ssl/certs"'], []),
    ("snapshot: small\nlimit: 3", ["13 more…"], ["imagefs-small-/etc/passwd"]),
    ("snapshot: small\nmax_entries: 3", ["13 more…"], []),
    ("snapshot: small\nview: ls\npath: /etc/passwd", ["<td>-rw-r--r--</td>", ">passwd<"], ["shadow"]),
    ("snapshot: small\nview: ls\npath: /", ["<td>drwxrwxrwt</td>", ">dev<"], ["ca.pem", "null"]),
    ("snapshot: small\nview: ls\npath: /usr\ndepth: 2", [">bin/passwd<", "<td>-rwsr-xr-x</td>"], []),
    ("snapshot: small\nview: diff\nagainst: other\npath: /etc",
     ['<span class="imagefs-add">+1</span>', "imagefs-removed", "/etc/hostname"], ["/bin/bash"]),
    ("snapshot: small\nview: summary\ntitle: My <b>image</b>", ["My &lt;b&gt;image&lt;/b&gt;"], ["<b>"]),
], ids=["tree-default", "tree-depth", "tree-path", "tree-collapsed", "tree-highlight-opens-ancestors",
        "limit-truncates", "max-entries-alias", "ls-single-file", "ls-root", "ls-depth-relative-names",
        "diff-under-path", "title-escaped"])
def test_options_shape_the_output(snaps, body, present, absent):
    html = convert(body)
    for s in present:
        assert s in html
    for s in absent:
        assert s not in html


VIEWS = {
    "tree": "snapshot: small\nhighlight: [/etc/passwd]\ndepth: 3",
    "ls": "snapshot: small\nview: ls\npath: /etc",
    "layers": "snapshot: other\nview: layers",
    "diff": "snapshot: other\nview: diff\nagainst: small",
    "summary": "snapshot: small\nview: summary",
}


@pytest.mark.parametrize("view", sorted(VIEWS))
def test_golden_html(snaps, view):
    html = convert(VIEWS[view])
    golden = GOLDEN / f"{view}.html"
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(html)
    assert html == golden.read_text(), f"rerun with IMAGEFS_UPDATE_GOLDEN=1 and review the diff of {golden}"


# -- hostile names ------------------------------------------------------------------------

ALLOWED_TAGS = {"div", "code", "ul", "li", "details", "summary", "span", "table", "thead", "tbody", "tr", "th",
                "td", "br", "small", "dl", "dt", "dd", "p", "a"}
ALLOWED_ATTRS = {"class", "id", "title", "data-imagefs-snapshot", "data-search-exclude", "open", "style", "href",
                 "download"}


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.attrs, self.values, self.text = set(), set(), [], []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        for k, v in attrs:
            self.attrs.add(k)
            self.values.append((k, v or ""))

    def handle_data(self, data):
        self.text.append(data)


HOSTILE_VIEWS = {
    "tree": "snapshot: hostile\nexpand: 9",
    "tree-highlight": "snapshot: hostile\nhighlight: [/h/link]",
    "ls": "snapshot: hostile\nview: ls\npath: /h\ndepth: 2",
    "layers": "snapshot: hostile\nview: layers",
    "diff": "snapshot: hostile\nview: diff\nagainst: small",
    "summary": "snapshot: hostile\nview: summary\ntitle: \"<script>x</script>\"",
}


@pytest.mark.parametrize("view", sorted(HOSTILE_VIEWS))
def test_hostile_names_make_no_markup(snaps, view):
    html = convert(HOSTILE_VIEWS[view])
    p = _Collect()
    p.feed(html)
    p.close()
    assert p.tags <= ALLOWED_TAGS, p.tags - ALLOWED_TAGS
    assert p.attrs <= ALLOWED_ATTRS, p.attrs - ALLOWED_ATTRS
    for k, v in p.values:
        if k == "id":
            assert all(c.isascii() and c.isprintable() and c not in " \"'<>&" for c in v), v
        if k == "style":
            assert v.startswith("width:") and v.endswith("%") and v[6:-1].replace(".", "").isdigit()
        if k == "href":
            assert not v.lower().startswith(("javascript:", "data:"))
        assert "\n" not in v and "\u202e" not in v
    for ch in ("\u202e", "\udcff", "\udcfe"):
        assert ch not in html
    text = "".join(p.text)
    if view in ("tree", "ls"):
        assert "<script>alert(1)" in text  # shown, as text
        assert "rtl\\u202eexe.txt" in text and "bad\\xffbyte" in text and "new\\nline" in text
    if view == "layers":
        assert "echo '<script>alert(1)</script>'" in text


# -- size, truncation, cache --------------------------------------------------------------

BIG_FENCES = {
    "tree": "snapshot: big", "tree-expanded": "snapshot: big\nexpand: 9",
    "ls": "snapshot: big\nview: ls\npath: /data\ndepth: 3", "diff": "snapshot: big\nview: diff\nagainst: small",
    "layers": "snapshot: big\nview: layers", "summary": "snapshot: big\nview: summary",
}


def test_a_page_embedding_a_10000_entry_image_stays_under_300kb(snaps):
    st.write(snaps, "big", st.big_tree(10000))
    parts = {view: convert(body) for view, body in BIG_FENCES.items()}
    page = "\n\n".join(parts.values())
    assert len(page.encode()) < 300_000, {k: len(v) for k, v in parts.items()}
    for view in ("tree", "tree-expanded", "ls", "diff"):
        assert "more…" in parts[view]  # truncated, visibly
    assert parts["tree-expanded"].count("<li ") == fence.DEFAULT_MAX_ENTRIES


def test_truncation_links_to_the_per_image_page_when_the_plugin_says_where(snaps):
    fence.configure(snapshots_dir=snaps, max_entries=5, page_link=lambda name, path: f"../images/{name}/#x")
    html = convert("snapshot: small")
    assert '<p class="imagefs-more"><a href="../images/small/#x">11 more…</a></p>' in html


def test_twenty_fences_parse_the_snapshot_once(snaps, monkeypatch):
    calls = []
    real = snapshot.load_snapshot

    def counting(directory, name):
        calls.append(name)
        return real(directory, name)

    monkeypatch.setattr(fence, "load_snapshot", counting)
    for _ in range(20):
        convert("snapshot: small\nview: ls")
    assert calls == ["small"]
    path = snaps / "small.json"
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    convert("snapshot: small")
    assert calls == ["small", "small"]  # a refreshed file is read again


def test_fence_module_imports_nothing_from_mkdocs(subprocess_env):
    import subprocess
    import sys

    code = "import sys, imagefs.fence; print(sorted(m for m in sys.modules if m.startswith('mkdocs')))"
    out = subprocess.run([sys.executable, "-c", code], env=subprocess_env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
