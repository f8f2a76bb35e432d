"""Every hostile case, in listing mode and in extraction mode, library and CLI.

The table is tests/hostile/cases.py. For each row:

- listing: ``list_image`` and ``imagefs list --format json`` either succeed (the row's
  ``tree`` check holds) or fail with the row's typed error and a one-line message (the CLI
  exits with that error's code and prints one ``imagefs: error:`` line);
- extraction: ``extract_image`` and ``imagefs extract`` either succeed (the row's ``dest``
  check holds and ``dest`` matches the listing entry for entry) or fail with the typed
  error and leave no ``dest`` behind;
- always: ``root/victim`` and ``root/dest-evil`` beside ``dest`` are byte-for-byte unchanged.
"""

from __future__ import annotations

import json
import logging
import os
import re

import pytest
from hostile.cases import CASES, Case
from hostile.harness import Ctx, dest_listing, fast_tmp_dir, snapshot
from imagefs.cli import main
from imagefs.tree import BLOCK, CHAR, DIR, FIFO, FILE, HARDLINK, SYMLINK, Tree

SPECIAL = (CHAR, BLOCK, FIFO)


@pytest.fixture
def ctx(tmp_path):
    fast = fast_tmp_dir()
    c = Ctx.make(tmp_path, fast)
    yield c
    if os.path.lexists(c.dest):
        _rmtree(
            c.dest
        )  # pytest's own clean-up recurses: a 10,000-deep tree would defeat it
    if fast is not None:
        _rmtree(fast)
    srv = c.extra.get("server")
    if srv is not None:
        srv.shutdown()
        srv.server_close()
    assert not c.extra.get("hits"), (
        f"a foreign layer URL was fetched: {c.extra.get('hits')}"
    )


def _limits(case: Case):
    from imagefs.sources.base import Limits

    return Limits(**case.limits) if case.limits else None


def _cli_options(case: Case) -> list[str]:
    """CLI flags for the row's budgets and merge model."""
    opts = ["--no-cache"]
    if case.symlinks != "overlay":
        opts += ["--symlinks", case.symlinks]
    for key, value in (case.limits or {}).items():
        flag = "--" + key.replace("_", "-")
        opts += [flag, "none" if value is None else str(value)]
    return opts


def _cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """Run the CLI; every budget and model a row needs is a flag of both list and extract."""
    rc = main(argv)
    out, errtext = capsys.readouterr()
    return rc, out, errtext


def _outside(ctx: Ctx):
    return snapshot(ctx.root, skip=("dest",))


def _check_error(err: BaseException, case: Case) -> None:
    msg = str(err)
    assert "\n" not in msg, f"error message is not one line: {msg!r}"
    if case.match:
        assert re.search(case.match, msg), f"{msg!r} does not match {case.match!r}"


def _list(ref: str, case: Case) -> Tree:
    from imagefs.listing import list_image
    from imagefs.sources import open_image

    limits = _limits(case)
    with open_image(ref, limits=limits) as image:
        return list_image(image, cache=False, limits=limits, symlinks=case.symlinks)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_listing(case: Case, ctx: Ctx, capsys) -> None:
    ref = case.build(ctx)
    before = _outside(ctx)
    if case.error:
        with pytest.raises(case.error) as info:
            _list(ref, case)
        _check_error(info.value, case)
    else:
        tree = _list(ref, case)
        assert case.tree is not None
        case.tree(tree, ctx)
    rc, out, err = _cli(["list", ref, "--format", "json", *_cli_options(case)], capsys)
    if case.error:
        assert rc == info.value.exit_code
        assert err.count("\n") == 1 and err.startswith("imagefs: error: "), err
    else:
        assert rc == 0, err
        doc = json.loads(out)
        assert sorted(e["path"] for e in doc["entries"]) == sorted(e.path for e in tree.entries())
    assert _outside(ctx) == before


def assert_dest_matches_tree(dest, tree: Tree) -> None:
    """``dest`` holds exactly the listing: every entry with its type, size, mode and mtime,
    hardlinks sharing their target's inode; devices/FIFOs (and links to them) and
    empty-target symlinks absent; nothing else. Read with dir fds (any depth)."""
    on_disk = dest_listing(dest, inodes=True)
    want: set[str] = set()
    for e in tree.entries():
        if e.type in SPECIAL or (e.type == SYMLINK and not e.target):
            continue
        t = e
        while t is not None and t.type == HARDLINK:
            t = tree.get(t.target)
        if t is None or t.type in SPECIAL or (t.type == SYMLINK and not t.target):
            continue
        want.add(e.path)
        got = on_disk.get(e.path)
        assert got is not None, f"{e.path!r} listed but not extracted"
        if e.type == DIR:
            assert got == ("dir", e.mode & 0o777), (e.path, got)
        elif e.type == FILE:
            assert (
                got[0] == "file"
                and got[4] == e.size
                and got[1] == e.mode & 0o777
                and got[6] == e.mtime
            ), (e.path, got)
        elif e.type == SYMLINK:
            assert got == ("symlink", os.fsencode(e.target)), (e.path, got)
        elif e.type == HARDLINK:
            primary = on_disk.get(t.path)
            assert primary is not None and got[0] == primary[0], (e.path, got, primary)
            if got[0] == "file":
                assert got[5] == primary[5], f"{e.path} is not a hardlink of {t.path}"
    extra = set(on_disk) - want
    assert not extra, f"extracted but not listed: {sorted(extra)[:10]}"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_extraction(case: Case, ctx: Ctx, capsys, caplog) -> None:
    from imagefs.extract import extract_image

    ref = case.build(ctx)
    before = _outside(ctx)
    expect = case.expect_extract
    limits = _limits(case)
    caplog.set_level(logging.WARNING, logger="imagefs")
    if expect:
        with pytest.raises(expect) as info:
            extract_image(
                ref, ctx.dest, limits=limits, cache=False, symlinks=case.symlinks
            )
        _check_error(info.value, case)
        assert not os.path.lexists(ctx.dest), (
            "a failed extraction left its destination behind"
        )
    else:
        res = extract_image(
            ref, ctx.dest, limits=limits, cache=False, symlinks=case.symlinks
        )
        assert case.dest is not None
        case.dest(ctx.dest, ctx, res)
        assert_dest_matches_tree(ctx.dest, res.tree)
        skipped = [
            r
            for r in caplog.records
            if r.name.startswith("imagefs.extract") and "device nodes" in r.getMessage()
        ]
        assert len(skipped) == (1 if res.skipped_special else 0), [
            r.getMessage() for r in skipped
        ]
    assert _outside(ctx) == before
    if not case.cli_extract:
        return
    library_result = dest_listing(ctx.dest) if not expect else None
    if not expect:
        _rmtree(ctx.dest)
    rc, _out, err = _cli(["extract", ref, str(ctx.dest), *_cli_options(case)], capsys)
    if expect:
        assert rc == info.value.exit_code, err
        assert err.strip().count("\n") == 0 and "imagefs: error: " in err, err
        assert not os.path.lexists(ctx.dest)
    else:
        assert rc == 0, err
        assert dest_listing(ctx.dest) == library_result
    assert _outside(ctx) == before


def _rmtree(path) -> None:
    """Remove an extracted tree of any depth (shutil.rmtree recurses in Python 3.11)."""
    from imagefs.extract import remove_contents

    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        remove_contents(fd)
    finally:
        os.close(fd)
    os.rmdir(path)
