"""Property: for random layer stacks, extraction writes exactly the listing, inside dest.

Stacks come from the same small alphabet as tests/test_merge_property.py (files, dirs,
symlinks with escaping targets, hardlinks, whiteouts, opaque markers on colliding paths).
For each: if the listing fails with a typed error, extraction fails with the same class
and leaves no dest; otherwise dest matches the listing entry for entry, and a victim
directory beside dest is unchanged. Examples are few: each builds an image on disk.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hostile.harness import fast_tmp_dir, snapshot
from hypothesis import HealthCheck, given, settings
from imagefs.errors import ImagefsError
from test_hostile import assert_dest_matches_tree
from test_merge_property import layer_tar, stack_strategy


@pytest.mark.parametrize("model", ["overlay", "follow"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stack=stack_strategy)
def test_random_stacks_extract_exactly_the_listing(model, stack) -> None:
    from fixtures import oci_image
    from imagefs.extract import extract_image
    from imagefs.listing import list_image

    base = fast_tmp_dir() or Path(tempfile.mkdtemp(prefix="imagefs-prop-"))
    try:
        ref = oci_image(base / "img", *[layer_tar(ops) for ops in stack])[0]
        root = base / "root"
        (root / "victim").mkdir(parents=True)
        (root / "victim" / "a").write_text("victim")
        before = snapshot(root)
        try:
            tree = list_image(ref, cache=False, symlinks=model)
        except ImagefsError as err:
            with pytest.raises(type(err)):
                extract_image(ref, root / "dest", cache=False, symlinks=model)
            assert not (root / "dest").exists()
        else:
            res = extract_image(ref, root / "dest", cache=False, symlinks=model)
            assert_dest_matches_tree(root / "dest", res.tree)
            assert [e.to_json() for e in res.tree.entries()] == [
                e.to_json() for e in tree.entries()
            ]
            shutil.rmtree(root / "dest")
        assert snapshot(root) == before
    finally:
        shutil.rmtree(base, ignore_errors=True)
