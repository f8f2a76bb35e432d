"""``imagefs refresh``: only drifted snapshots are rewritten, --check writes nothing and
fails on drift, an interrupted refresh leaves every snapshot old or new, and the end-to-end
loop against a real loopback registry (push, snapshot, push again under the same tag)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from conftest import require_tool
from fixtures import D, F, H, L, layer, oci_image
from imagefs import cli
from imagefs.errors import UsageError
from imagefs.listings import parse
from imagefs.refresh import (
    UNCHANGED,
    UPDATED,
    Outcome,
    parse_shard,
    refresh,
    select,
    summary_markdown,
)
from imagefs.snapshot import load_snapshot


def v1(extra: bytes = b"") -> list[bytes]:
    return [
        layer(D("etc"), F("etc/os-release", b"ID=test\n"), D("usr"), D("usr/bin"), F("usr/bin/app", b"v1" + extra, mode=0o755)),
        layer(D("etc"), F("etc/app.conf", b"a=1\n"), L("usr/bin/alias", "app")),
    ]


def v2() -> list[bytes]:
    return [
        layer(D("etc"), F("etc/os-release", b"ID=test\n"), D("usr"), D("usr/bin"), F("usr/bin/app", b"version-2", mode=0o755)),
        layer(D("etc"), F("etc/.wh.app.conf"), F("etc/new.conf", b"b=2\n"), H("usr/bin/app-hard", "usr/bin/app")),
    ]


def write_config(project: Path, entries: list[tuple[str, str]]) -> Path:
    cfg = project / "docs" / "snapshots" / "listings.yml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    text = "snapshots:\n" + "".join(f"  - name: {n}\n    image: {img}\n    description: test image {n}\n" for n, img in entries)
    cfg.write_text(text)
    page = project / "docs" / "index.md"
    page.write_text("".join(f"```imagefs\nsnapshot: {n}\n```\n" for n, _ in entries))
    return cfg


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project root with two OCI-layout images (paths relative to the root, as in the repo)."""
    monkeypatch.chdir(tmp_path)
    oci_image(tmp_path / "images" / "one", *v1())
    oci_image(tmp_path / "images" / "two", layer(F("hello", b"hi")))
    write_config(tmp_path, [("one", "oci:images/one:latest"), ("two", "oci:images/two:latest")])
    return tmp_path


def snap_dir(project: Path) -> Path:
    return project / "docs" / "snapshots"


def files(project: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(snap_dir(project).glob("*.json"))}


def run_cli(*argv: str) -> int:
    return cli.main(["refresh", *argv])


def test_first_refresh_creates_then_check_passes_and_second_refresh_writes_nothing(project, capsys):
    assert run_cli("--check") == 1, "missing snapshots fail --check"
    assert list(snap_dir(project).glob("*.json")) == [], "--check writes nothing"
    assert "missing" in capsys.readouterr().out
    assert run_cli() == 0
    out = capsys.readouterr().out
    assert "2 created" in out
    before = files(project)
    assert set(before) == {"one.json", "two.json"}
    assert run_cli("--check") == 0
    assert run_cli() == 0
    assert "2 unchanged" in capsys.readouterr().out
    assert files(project) == before, "a no-op refresh writes no byte (same bytes, same mtimes)"


def test_changed_image_updates_exactly_that_snapshot(project, capsys):
    assert run_cli() == 0
    before = files(project)
    oci_image(project / "images" / "one", *v2())  # same tag, new content
    capsys.readouterr()
    assert run_cli("--check") == 1
    out = capsys.readouterr().out
    assert "stale" in out and files(project) == before
    assert run_cli() == 0
    out = capsys.readouterr().out
    after = files(project)
    assert after["two.json"] == before["two.json"]
    assert after["one.json"] != before["one.json"]
    assert "1 unchanged, 1 updated" in out
    for path in ("/etc/new.conf", "/usr/bin/app-hard"):
        assert path in out.split("- added:")[1].splitlines()[0]
    assert "/etc/app.conf" in out.split("- removed:")[1].splitlines()[0]
    assert "/usr/bin/app" in out.split("- changed:")[1].splitlines()[0]
    snap = load_snapshot(snap_dir(project), "one")
    assert "/etc/new.conf" in snap.tree and snap.reference == "oci:images/one:latest", "the config's reference is stored"
    assert json.loads(after["one.json"][0])["image"]["reference"] == "oci:images/one:latest", "no machine-specific path"
    assert run_cli() == 0 and files(project) == after


def test_interrupted_refresh_leaves_every_snapshot_old_or_new(project):
    cfg = parse((snap_dir(project) / "listings.yml").read_text(), snap_dir(project) / "listings.yml")
    refresh(cfg, snapshots_dir=snap_dir(project), root=project)
    old = {k: v[0] for k, v in files(project).items()}
    oci_image(project / "images" / "one", *v2())
    oci_image(project / "images" / "two", layer(F("hello", b"changed!")))
    writes = []

    def die(outcome: Outcome) -> None:
        writes.append(outcome.name)
        raise RuntimeError("killed after the first write")

    with pytest.raises(RuntimeError, match="killed"):
        refresh(cfg, snapshots_dir=snap_dir(project), root=project, jobs=1, on_written=die)
    assert len(writes) == 1
    now = {p.name: p.read_bytes() for p in snap_dir(project).iterdir() if p.name != "listings.yml"}
    assert set(now) == {"one.json", "two.json"}, "no temporary file is left behind"
    changed = [k for k in now if now[k] != old[k]]
    assert changed == [f"{writes[0]}.json"], "exactly the snapshot written before the kill is new"
    for name in ("one", "two"):
        load_snapshot(snap_dir(project), name)  # each parses: old or new, never half-written
    results = refresh(cfg, snapshots_dir=snap_dir(project), root=project)
    assert sorted(o.status for o in results) == [UNCHANGED, UPDATED], "the rerun finishes the job"


def test_broken_image_fails_its_entry_only(project, capsys):
    write_config(project, [("one", "oci:images/one:latest"), ("ghost", "oci:images/ghost:latest")])
    assert run_cli() == 1
    assert (snap_dir(project) / "one.json").exists() and not (snap_dir(project) / "ghost.json").exists()
    assert "ghost</code>: failed" in capsys.readouterr().out


def test_offline_skips_registry_images_with_a_warning(project, caplog):
    write_config(project, [("one", "oci:images/one:latest"), ("remote", "docker://registry.example/x/y:1")])
    with caplog.at_level(logging.WARNING):
        assert run_cli("--offline") == 0
    assert "remote: skipped (--offline" in caplog.text
    assert (snap_dir(project) / "one.json").exists()


def test_used_but_unconfigured_snapshot_fails_before_any_work(project, capsys):
    (project / "docs" / "extra.md").write_text("```imagefs\nsnapshot: nowhere\n```\n")
    assert run_cli() == 1
    assert "snapshot 'nowhere' is used by an article but not in" in capsys.readouterr().err
    assert list(snap_dir(project).glob("*.json")) == []


def test_only_and_summary_file(project, capsys):
    assert run_cli("--only", "two", "--summary", "out/summary.md") == 0
    assert [p.name for p in snap_dir(project).glob("*.json")] == ["two.json"]
    assert (project / "out" / "summary.md").read_text().startswith("## imagefs refresh: 1 created")
    assert run_cli("--only", "nope") == 1
    assert "no snapshot named 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "shard, want",
    [((1, 1), ["a", "b", "c", "d", "e"]), ((1, 2), ["a", "c", "e"]), ((2, 2), ["b", "d"]), ((3, 3), ["c"])],
    ids=["one-shard-is-all", "first-of-two", "second-of-two", "last-of-three"],
)
def test_shards_partition_the_config(tmp_path, shard, want):
    text = "snapshots:\n" + "".join(f"  - {{name: {n}, image: 'oci:x:latest', description: d}}\n" for n in "abcde")
    cfg = parse(text, tmp_path / "l.yml")
    assert [e.name for e in select(cfg, shard=shard)] == want


@pytest.mark.parametrize("text", ["0/2", "3/2", "a/b", "1"], ids=["zero", "beyond-n", "not-numbers", "no-slash"])
def test_bad_shards(text):
    with pytest.raises(UsageError, match="--shard"):
        parse_shard(text)


def test_summary_escapes_hostile_names_and_truncates():
    o = Outcome("x", "oci:x:latest", UPDATED, "sha256:a", "sha256:b",
                added=["/<script>alert(1)</script>", "/\u202eevil"] + [f"/f{i}" for i in range(30)],
                size_delta=-2048)
    text = summary_markdown([o, Outcome("y", "oci:y", UNCHANGED)], limit=5)
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "\u202e" not in text
    assert "… and 27 more" in text
    assert "size -2.0 KiB" in text
    assert "Unchanged: <code>y</code>" in text


# --- end to end against a real registry -----------------------------------------------------


def test_end_to_end_against_the_loopback_registry(tmp_path, monkeypatch, capsys):
    require_tool("docker-registry")
    require_tool("skopeo")
    from registry.proxy import FaultProxy
    from registry.server import RegistryServer, skopeo_push

    monkeypatch.chdir(tmp_path)
    server = RegistryServer(tmp_path / "server").start()
    try:
        src = tmp_path / "src"
        oci_image(src, *v1(), tag="v1")
        oci_image(src, *v2(), tag="v2")
        oci_image(tmp_path / "images" / "local", layer(F("hello", b"hi")))
        remote = f"docker://{server.hostport}/test/app:latest"
        skopeo_push(src, "v1", f"{server.hostport}/test/app:latest")
        write_config(tmp_path, [("app", remote), ("local", "oci:images/local:latest")])

        assert run_cli() == 0
        first = files(tmp_path)
        assert json.loads(first["app.json"][0])["reference"] == remote
        capsys.readouterr()

        skopeo_push(src, "v2", f"{server.hostport}/test/app:latest")  # same tag, new digest
        assert run_cli("--check") == 1
        assert files(tmp_path) == first
        capsys.readouterr()

        assert run_cli() == 0
        out = capsys.readouterr().out
        second = files(tmp_path)
        assert second["local.json"] == first["local.json"], "only the drifted snapshot is rewritten"
        assert second["app.json"] != first["app.json"]
        assert "app</code>: updated" in out and "/etc/new.conf" in out and "/etc/app.conf" in out

        assert run_cli("--check") == 0
        assert run_cli() == 0
        assert files(tmp_path) == second, "the second refresh writes no byte"

        # Through a counting proxy: an up-to-date refresh asks for manifests only, no blob byte.
        proxy = FaultProxy(server.hostport).start()
        try:
            via = f"docker://{proxy.hostport}/test/app:latest"
            write_config(tmp_path, [("app", via), ("local", "oci:images/local:latest")])
            assert run_cli() == 0  # the configured reference changed: the snapshot is rewritten once
            assert load_snapshot(snap_dir(tmp_path), "app").reference == via
            proxy.requests.clear()
            proxy.blob_bytes = 0
            assert run_cli("--check") == 0
            assert proxy.blob_bytes == 0
            assert proxy.requests and all(r.is_manifest for r in proxy.requests)
        finally:
            proxy.stop()
    finally:
        server.stop()


# --- recipes: rebuilt only when their inputs change -----------------------------------------


def test_recipe_rebuilt_only_when_inputs_change(tmp_path, monkeypatch, capsys):
    """A fake recipe (no apt): its 'tool version' is an input; bumping it rebuilds the image,
    and the snapshot follows only because the built digest changed."""
    from imagefs import recipes
    from imagefs.oci_writer import ImageSpec, build_image

    monkeypatch.chdir(tmp_path)
    state = {"tool": "1", "content": b"one", "builds": 0}

    def build(ctx):
        state["builds"] += 1
        return [build_image(ImageSpec([layer(F("payload", state["content"]))], created=ctx.created))]

    fake = recipes.Recipe("fake", "a fake recipe", build, {}, lambda ctx: {"tool": state["tool"]})
    monkeypatch.setitem(recipes.RECIPES, "fake", fake)
    cfg = snap_dir(tmp_path) / "listings.yml"
    write_config(tmp_path, [("fake", "oci:build/images/fake:latest")])
    cfg.write_text(cfg.read_text() + "    recipe: fake\n")

    assert run_cli("--recipes-only") == 0 and state["builds"] == 1
    first = files(tmp_path)
    assert run_cli() == 0 and state["builds"] == 1, "unchanged input key: no rebuild"
    state["tool"] = "2"  # new input, same output: rebuilt, same digest, snapshot untouched
    assert run_cli() == 0 and state["builds"] == 2
    assert files(tmp_path) == first
    state["tool"], state["content"] = "3", b"three"
    capsys.readouterr()
    assert run_cli("--check") == 1, "--check builds recipes (into build/, a cache) and sees the drift"
    assert files(tmp_path) == first
    assert run_cli() == 0 and state["builds"] == 3, "the --check build is reused"
    assert files(tmp_path) != first
    out = capsys.readouterr().out
    assert "/payload" in out.split("- changed:")[1] and "recipe rebuilt" in out


def test_force_relists_but_touches_only_snapshots_whose_listing_changed(project, capsys):
    """After an engine change the digest is the same but the listing may not be: --force
    re-lists everything and rewrites only the files whose bytes differ."""
    assert run_cli() == 0
    before = files(project)
    path = snap_dir(project) / "one.json"
    doc = json.loads(path.read_bytes())
    doc["entries"] = [x for x in doc["entries"] if x["path"] != "/etc/app.conf"]  # an "old engine" listing
    path.write_text(json.dumps(doc))
    assert run_cli() == 0 and files(project)["one.json"] != before["one.json"], "same digest: a plain refresh keeps it"
    capsys.readouterr()
    assert run_cli("--force") == 0
    out = capsys.readouterr().out
    after = files(project)
    assert after["one.json"][0] == before["one.json"][0], "re-listed to the exact original bytes"
    assert after["two.json"] == before["two.json"], "an exact snapshot is not touched (same mtime)"
    assert "1 unchanged, 1 updated" in out and "/etc/app.conf" in out.split("- added:")[1]
    assert run_cli("--force", "--check") == 2
