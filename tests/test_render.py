"""The text renderers over hand-built trees: golden files, hostile names, edge cases."""

from __future__ import annotations

import json

import pytest
from golden import check_golden
from imagefs.diff import diff_trees
from imagefs.errors import NotFoundError
from imagefs.render import diff as rdiff
from imagefs.render import json as rjson
from imagefs.render import layers as rlayers
from imagefs.render import ls as rls
from imagefs.render import tree as rtree
from imagefs.render.fields import human_size, lookup, mode_string
from imagefs.tree import Entry, Tree
from render_samples import HOSTILE, T0, T1, build, sample_tree


@pytest.fixture(scope="module")
def sample() -> Tree:
    return sample_tree()


GOLDEN_CASES = [
    ("tree-root.txt", lambda t: rtree.render(t)),
    ("tree-markers-layers.txt", lambda t: rtree.render(t, markers=True, layers=True)),
    ("tree-depth1.txt", lambda t: rtree.render(t, depth=1)),
    ("tree-etc-depth2.txt", lambda t: rtree.render(t, path="/etc", depth=2)),
    ("tree-through-symlink.txt", lambda t: rtree.render(t, path="/lib")),
    ("tree-single-file.txt", lambda t: rtree.render(t, path="/etc/passwd")),
    ("ls-la-root.txt", lambda t: rls.render(t)),
    ("ls-la-bin-human.txt", lambda t: rls.render(t, path="/bin", human=True)),
    ("ls-la-dev.txt", lambda t: rls.render(t, path="/dev")),
    ("ls-la-tmp-hostile.txt", lambda t: rls.render(t, path="/tmp")),
    ("ls-la-var-odd-times.txt", lambda t: rls.render(t, path="/var", human=True)),
    ("ls-laR-etc.txt", lambda t: rls.render(t, path="/etc", recursive=True)),
    ("ls-laR-root-human.txt", lambda t: rls.render(t, recursive=True, human=True)),
    ("ls-lAR-depth1.txt", lambda t: rls.render(t, recursive=True, dots=False, depth=1)),
    ("ls-symlink-itself.txt", lambda t: rls.render(t, path="/lib")),
    ("ls-symlink-followed.txt", lambda t: rls.render(t, path="/lib/")),
    ("ls-one-file.txt", lambda t: rls.render(t, path="/etc/shadow")),
    ("layers.txt", lambda t: rlayers.render(t)),
    ("layers-full-width.txt", lambda t: rlayers.render(t, width=None)),
    ("listing.json", lambda t: rjson.render(t)),
]


@pytest.mark.parametrize("name,fn", GOLDEN_CASES, ids=[c[0] for c in GOLDEN_CASES])
def test_golden(sample, name, fn):
    check_golden(name, fn(sample))


def changed_sample() -> Tree:
    b = sample_tree()
    b.remove("/etc/ssl")
    b.add(Entry("/etc/new.conf", "file", 0o600, size=3, mtime=T1, layer=3))
    b.get("/etc/passwd").size = 99
    b.get("/etc/passwd").mode = 0o600
    b.get("/etc/shadow").mtime = T1  # mtime only: not a change by default
    b.add(Entry("/bin/sh", "symlink", 0o777, size=4, target="bash", mtime=T0))
    b.add(Entry("/lib", "dir", 0o755, mtime=T0))
    b.add(Entry("/bin/ping", "file", 0o755, size=70_000, mtime=T0, layer=1))  # capability dropped
    b.add(Entry("/dev/null", "char", 0o666, devmajor=1, devminor=5, mtime=T0))
    b.add(Entry("/tmp/" + HOSTILE[1], "file", 0o644, uid=1000, size=2, mtime=T0))
    b.image.reference = "oci:fixtures/sample:next"
    b.image.manifest_digest = "sha256:" + "ef" * 32
    return b


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_diff_golden(sample, fmt):
    d = diff_trees(sample, changed_sample())
    check_golden(f"diff.{'txt' if fmt == 'text' else 'json'}", rdiff.render(d, fmt))


def test_diff_mtime_only_when_asked(sample):
    b = changed_sample()
    plain = {c.path for c in diff_trees(sample, b).changed}
    timed = {c.path: c.fields for c in diff_trees(sample, b, mtime=True).changed}
    assert "/etc/shadow" not in plain
    assert timed["/etc/shadow"] == {"mtime": (T0, T1)}


def test_diff_of_equal_trees_is_empty(sample):
    d = diff_trees(sample, sample_tree())
    assert not d and d.counts() == {"added": 0, "removed": 0, "changed": 0}
    assert rdiff.render(d).splitlines()[-1] == "0 added, 0 removed, 0 changed"


def test_diff_json_parses_and_counts(sample):
    doc = json.loads(rdiff.render(diff_trees(sample, changed_sample()), "json"))
    assert doc["counts"] == {"added": 1, "removed": 3, "changed": 6}
    sh = next(c for c in doc["changed"] if c["path"] == "/bin/sh")
    assert sh["changes"]["target"] == ["busybox", "bash"]


# -- hostile names -------------------------------------------------------------------

TEXT_RENDERERS = [
    ("tree", lambda t: rtree.render(t, markers=True)),
    ("ls-R", lambda t: rls.render(t, recursive=True)),
    ("ls-tmp", lambda t: rls.render(t, path="/tmp")),
    ("layers", lambda t: rlayers.render(t, width=None)),
    ("diff", lambda t: rdiff.render(diff_trees(Tree(), t))),
    ("diff-json", lambda t: rdiff.render(diff_trees(Tree(), t), "json")),
    ("json", lambda t: rjson.render(t)),
]


@pytest.mark.parametrize("name,fn", TEXT_RENDERERS, ids=[c[0] for c in TEXT_RENDERERS])
def test_hostile_names_are_escaped(sample, name, fn):
    out = fn(sample)
    out.encode("utf-8")  # no lone surrogate survives
    assert "\u202e" not in out and "\x1b" not in out and "\udcff" not in out
    # The only newlines end lines: every line starts the way this format's lines do.
    for line in out.splitlines():
        assert "line" not in line or "new\\nline" in line, line
    if name not in ("layers",):
        assert "evil\\u202etxt.exe" in out
        assert ("bad\\xffbyte" in out) or ("bad\\udcffbyte" in out)


def test_json_round_trips_bytes_and_tree(sample):
    text = rjson.render(sample)
    doc = json.loads(text)
    paths = {e["path"].encode("utf-8", "surrogateescape") for e in doc["entries"]}
    assert b"/tmp/bad\xffbyte" in paths
    assert b"/tmp/evil\xe2\x80\xaetxt.exe" in paths
    again = Tree.from_json(doc)
    assert [e.to_json() for e in again.entries()] == [e.to_json() for e in sample.entries()]
    assert rjson.render(again) == text


def test_json_keeps_ordinary_unicode_readable():
    t = build([Entry("/caf\u00e9", "file", 0o644), Entry("/\U0001f600", "file", 0o644)])
    text = rjson.render(t)
    assert "caf\u00e9" in text and "\U0001f600" in text


def test_json_escapes_astral_invisible_as_pair():
    t = build([Entry("/tag\U000e0041", "file", 0o644)])  # a TAG character (category Cf)
    text = rjson.render(t)
    assert "\\udb40\\udc41" in text
    assert json.loads(text)["entries"][0]["path"] == "/tag\U000e0041"


# -- determinism and scale ---------------------------------------------------------------


def test_insertion_order_does_not_change_output(sample):
    entries = sample.entries()
    reordered = Tree(sample.image)
    for e in sorted(entries, key=lambda e: (e.path.count("/"), e.path[::-1])):
        reordered.add(e)
    for _, fn in TEXT_RENDERERS:
        assert fn(reordered) == fn(sample)


def test_deep_tree_renders_without_recursion():
    depth = 3000
    entries = []
    path = ""
    for _ in range(depth):
        path += "/d"
        entries.append(Entry(path, "dir", 0o755))
    t = build(entries)
    out = rtree.render(t)
    assert out.splitlines()[-1] == f"{depth + 1} directories, 0 files"  # the start counts, as in tree 2.x
    assert rls.render(t, recursive=True).count(":\n") == depth + 1


# -- fields ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "n,shown",
    [(0, "0"), (1023, "1023"), (1024, "1.0K"), (1025, "1.1K"), (10239, "10K"), (10241, "11K"),
     (1048575, "1.0M"), (1048576, "1.0M"), (5 * 1024**3 + 1, "5.1G"), (1024**5 * 3, "3.0P")],
    ids=["zero", "under-1K", "exact-1K", "rounds-up", "ten-K-whole", "over-ten-rounds-up",
         "carries-to-next-unit", "exact-1M", "gigabytes", "petabytes"],
)
def test_human_size_matches_ls_h(n, shown):
    assert human_size(n) == shown


@pytest.mark.parametrize(
    "etype,mode,shown",
    [("file", 0o644, "-rw-r--r--"), ("file", 0o4755, "-rwsr-xr-x"), ("file", 0o4644, "-rwSr--r--"),
     ("file", 0o2755, "-rwxr-sr-x"), ("file", 0o2745, "-rwxr-Sr-x"), ("dir", 0o1777, "drwxrwxrwt"),
     ("dir", 0o1776, "drwxrwxrwT"), ("symlink", 0o777, "lrwxrwxrwx"), ("symlink", 0o644, "lrwxrwxrwx"), ("char", 0o666, "crw-rw-rw-"),
     ("block", 0o660, "brw-rw----"), ("fifo", 0o600, "prw-------"), ("hardlink", 0o755, "-rwxr-xr-x")],
    ids=["plain", "setuid-exec", "setuid-noexec-S", "setgid", "setgid-noexec-S", "sticky", "sticky-noexec-T",
         "symlink", "symlink-recorded-0644-shows-as-linux-does", "char", "block", "fifo", "hardlink-is-file"],
)
def test_mode_string(etype, mode, shown):
    assert mode_string(Entry("/x", etype, mode)) == shown


@pytest.mark.parametrize(
    "path,follow,found",
    [("/", False, "/"), ("", False, "/"), ("etc/passwd", False, "/etc/passwd"), ("/etc/", False, "/etc"),
     ("/lib", False, "/lib"), ("/lib", True, "/usr/lib"), ("/lib/", False, "/usr/lib"),
     ("/lib/libc.so.6", False, "/usr/lib/libc.so.6"), ("/etc/../bin/su", False, "/bin/su"),
     ("/../../etc", False, "/etc")],
    ids=["root", "empty-is-root", "relative", "trailing-slash", "symlink-itself", "symlink-followed",
         "trailing-slash-follows", "through-symlink", "dotdot", "dotdot-stops-at-root"],
)
def test_lookup(sample, path, follow, found):
    assert lookup(sample, path, follow_last=follow).path == found


@pytest.mark.parametrize(
    "path,message",
    [("/etc/nope", "no /etc/nope in the image; the nearest existing parent is /etc "),
     ("/etc/ssl/x/y", "nearest existing parent is /etc/ssl "),
     ("/etc/passwd/x", "/etc/passwd is not a directory"),
     ("/nope\n\u202e", "no /nope\\n\\u202e in the image")],
    ids=["missing-leaf", "missing-deeper", "file-as-dir", "hostile-path-escaped"],
)
def test_lookup_errors_name_nearest_parent(sample, path, message):
    with pytest.raises(NotFoundError) as err:
        lookup(sample, path, where="oci:x:latest")
    assert message in str(err.value) and str(err.value).startswith("oci:x:latest: ")


def test_lookup_symlink_loop_is_an_error():
    t = build([Entry("/a", "symlink", 0o777, target="b"), Entry("/b", "symlink", 0o777, target="/a")])
    with pytest.raises(NotFoundError, match="more than 40 symlinks"):
        lookup(t, "/a/x")


def test_layers_without_image_is_header_only():
    assert rlayers.render(Tree()).splitlines()[0].startswith("#  DIGEST")
    assert rlayers.render(Tree()).splitlines()[-1] == "0 layers, 0 compressed, 0 wasted"


def test_tree_of_a_dangling_symlink_shows_the_link():
    t = build([Entry("/a", "symlink", 0o777, target="/nowhere")])
    assert rtree.render(t, path="/a") == "/a -> /nowhere\n\n0 directories, 1 file\n"
    with pytest.raises(NotFoundError):
        rtree.render(t, path="/b")


def test_output_does_not_depend_on_the_time_zone(sample, monkeypatch):
    import time

    from imagefs.render import fields

    def outputs() -> tuple[str, str]:
        fields.format_time.cache_clear()
        return rls.render(sample, recursive=True), rdiff.render(diff_trees(sample, changed_sample(), mtime=True))

    before = outputs()
    assert "~ /etc/shadow (mtime 2023-11-14T22:13:20Z -> 2024-05-01T13:07:00Z)" in before[1]
    monkeypatch.setenv("TZ", "XST-5:30")  # POSIX rule: no tzdata needed
    time.tzset()
    try:
        assert outputs() == before
    finally:
        monkeypatch.undo()
        time.tzset()


def test_diff_collapse_groups_whole_subtrees_only():
    a = build([Entry("/a", "dir"), Entry("/a-b", "file"), Entry("/keep", "dir")])
    b = build([Entry("/a", "dir"), Entry("/a-b", "file"), Entry("/keep", "dir"), Entry("/keep/new", "dir"),
               Entry("/keep/new/x", "file"), Entry("/keep/new/y", "dir"), Entry("/keep/new/y/z", "file"),
               Entry("/keep/new-sibling", "file"), Entry("/a/one", "file")])
    text = rdiff.render(diff_trees(a, b), collapse=True, header=False)
    assert text == (
        "+ /a/one\n+ /keep/new (and 3 entries below)\n+ /keep/new-sibling\n\n6 added, 0 removed, 0 changed\n"
    )
