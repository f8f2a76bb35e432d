"""Budgets end to end: configurable from the library and the CLI, and never bypassed.

The hostile table (tests/hostile/cases.py) proves each budget trips on its attack; these
tests prove the knobs reach the engine from every entry point, that a budget can be
raised to let a legitimate image through, and that the layer-index cache (filled under
looser budgets) does not let a stricter run skip its checks.
"""

from __future__ import annotations

import pytest
from fixtures import oci_image
from hostile import rawtar as r
from imagefs.cache import LayerCache
from imagefs.cli import main
from imagefs.errors import BudgetExceededError
from imagefs.sources.base import Limits


def _deep_image(tmp_path, depth: int = 30) -> str:
    parts = [r.dir(r.deep_path(i)) for i in range(1, depth + 1)]
    parts.append(r.file(r.deep_path(depth) + "/leaf", b"x"))
    return oci_image(tmp_path / "img", r.tar(*parts))[0]


def _many_image(tmp_path, n: int = 500) -> str:
    return oci_image(tmp_path / "img", b"".join(r.many_empty_files(n)) + r.END)[0]


def test_default_limits_are_the_documented_ones():
    lim = Limits()
    assert lim.max_symlink_hops == 40
    assert lim.max_inflate_ratio == 1000
    assert lim.max_path_length == 4096
    assert lim.max_entries is not None and lim.max_inflated_bytes is not None


@pytest.mark.parametrize(
    "argv_budget, ok",
    [
        (["--max-entries", "100"], False),
        (["--max-entries", "none"], True),
        (["--max-inflated-bytes", "8K"], False),
        (["--max-inflated-bytes", "64G"], True),
    ],
    ids=[
        "entries-100-trips",
        "entries-none-passes",
        "inflated-8K-trips",
        "inflated-64G-passes",
    ],
)
@pytest.mark.parametrize("command", ["list", "extract"])
def test_cli_budget_flags_reach_the_engine(tmp_path, capsys, command, argv_budget, ok):
    ref = _many_image(tmp_path)
    argv = (
        [command, ref]
        + ([str(tmp_path / "out")] if command == "extract" else [])
        + ["--no-cache", *argv_budget]
    )
    rc = main(argv)
    err = capsys.readouterr().err
    if ok:
        assert rc == 0, err
    else:
        assert (
            rc == BudgetExceededError.exit_code
            and "budget" in err
            and err.count("\n") == 1
        ), err
        assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "argv_budget, ok",
    [
        (["--max-path-depth", "10"], False),
        (["--max-path-depth", "none"], True),
        (["--max-path-length", "20"], False),
        (["--max-inflate-ratio", "none"], True),
    ],
    ids=["depth-10-trips", "depth-none-passes", "length-20-trips", "ratio-none-passes"],
)
def test_extract_only_budget_flags(tmp_path, capsys, argv_budget, ok):
    ref = _deep_image(tmp_path)
    rc = main(["extract", ref, str(tmp_path / "out"), "--no-cache", *argv_budget])
    err = capsys.readouterr().err
    assert (rc == 0) == ok, err
    assert (tmp_path / "out").exists() == ok


def test_symlink_hops_are_configurable(tmp_path):
    from imagefs.listing import list_image

    chain = [r.dir("real")] + [
        r.symlink(f"s{i}", f"s{i - 1}" if i else "real") for i in range(10)
    ]
    ref = oci_image(tmp_path / "img", r.tar(*chain), r.tar(r.file("s9/x", b"x")))[0]
    tree = list_image(
        ref, cache=False, symlinks="follow", limits=Limits(max_symlink_hops=40)
    )
    assert tree.get("/real/x") is not None
    with pytest.raises(BudgetExceededError, match="5"):
        list_image(
            ref, cache=False, symlinks="follow", limits=Limits(max_symlink_hops=5)
        )


@pytest.mark.parametrize(
    "loose, strict",
    [
        (Limits(max_path_depth=None), Limits(max_path_depth=10)),
        (Limits(max_path_length=None), Limits(max_path_length=20)),
        (Limits(max_entries=None), Limits(max_entries=10)),
    ],
    ids=["path-depth", "path-length", "entries"],
)
def test_cached_index_does_not_bypass_a_stricter_budget(tmp_path, loose, strict):
    """A layer indexed under loose budgets is cached; a later run with a strict budget must
    still refuse it (the cache may only save work, never change the answer)."""
    from imagefs.listing import list_image

    ref = _deep_image(tmp_path)
    cache = LayerCache(tmp_path / "cache")
    list_image(ref, cache=cache, limits=loose)
    with pytest.raises(BudgetExceededError):
        list_image(ref, cache=cache, limits=strict)
