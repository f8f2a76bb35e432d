"""Regression: ``Tree.clear_dir`` must forget empty subdirectories too.

Found by tests/test_merge_property.py: ``[D(a/x), .wh.x in a/, .wh..wh..opq at /]`` left a
child map for the removed, empty ``/a``, so the merge added ``/a/x`` under a directory
that was no longer an entry.
"""

from imagefs.tree import DIR, FILE, Entry, Tree


def test_clear_dir_forgets_empty_subdirectories():
    t = Tree()
    t.add(Entry("/a", DIR))
    t.add(Entry("/b", DIR))
    t.add(Entry("/b/f", FILE))
    t.clear_dir("/")
    assert len(t) == 0
    assert t.child_names("/") == []
    assert "/a" not in t._kids and "/b" not in t._kids
    try:
        t.add(Entry("/a/x", DIR))
    except KeyError:
        pass  # the parent is gone: callers must recreate it
    else:
        raise AssertionError("added /a/x under a directory that clear_dir removed")
