"""Real site builds of a small fixture site: MkDocs + Material + the plugin, and Zensical with the fence alone."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest
import site_fixture as sf

BAD_FENCE = "# Broken\n\n```imagefs\nsnapshot: small\npath: /nope\n```\n"


def mkdocs_build(root, env, *extra):
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", *extra], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def env(subprocess_env, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")  # fixture snapshots are from 2023
    subprocess_env.update(SOURCE_DATE_EPOCH="1700000000", NO_MKDOCS_2_WARNING="1")
    subprocess_env.pop("IMAGEFS_SNAPSHOTS", None)
    return subprocess_env


def test_mkdocs_strict_build_with_the_plugin(tmp_path, env):
    root = sf.write_site(tmp_path)
    (root / "docs" / "snapshots" / "listings.yml").write_text(
        "snapshots:\n  - {name: small, image: 'oci:x', description: d}\n  - {name: other, image: 'oci:y', description: d}\n")
    out = mkdocs_build(root, env)
    assert out.returncode == 0, out.stderr
    site = root / "site"
    article = (site / "article" / "index.html").read_text()
    for view in ("tree", "ls", "layers", "diff", "summary"):
        assert f'class="imagefs imagefs-{view}"' in article
    assert 'id="imagefs-small-/etc/passwd" class="imagefs-file imagefs-hl"' in article
    assert re.search(r'<link[^>]+href="\.\./assets/imagefs/imagefs\.css"', article)
    assert re.search(r'<script[^>]+src="\.\./assets/imagefs/imagefs\.js"', article)
    assert (site / "assets" / "imagefs" / "imagefs.css").read_text().startswith("/* imagefs")
    # per-image pages: summary, layers, the full tree, the JSON download
    page = (site / "images" / "small" / "index.html").read_text()
    assert "imagefs imagefs-summary" in page and "imagefs imagefs-layers" in page
    assert 'id="imagefs-small-/etc/ssl/certs/ca.pem"' in page and "more…" not in page
    assert re.search(r'<a download href="\.\./\.\./snapshots/small\.json">', page)
    assert ">browse</a>" not in page  # no link from the image's page to itself
    assert '<a href="../images/small/">browse</a>' in article
    assert (site / "snapshots" / "small.json").is_file()
    assert not (site / "snapshots" / "listings.yml").exists()
    index = (site / "images" / "index.html").read_text()
    assert 'href="small/"' in index and 'href="other/"' in index


def test_truncated_listing_links_to_an_existing_per_image_anchor(tmp_path, env):
    root = sf.write_site(tmp_path, strict_extra="      max_entries: 3\n")
    out = mkdocs_build(root, env)
    assert out.returncode == 0, out.stderr
    other = (root / "site" / "other" / "index.html").read_text()
    m = re.search(r'<p class="imagefs-more"><a href="([^"]+)">(\d+) more…</a>', other)
    assert m, other
    url, anchor = m.group(1).split("#")
    assert url == "../images/other/" and anchor == "imagefs-other-/etc"
    target = (root / "site" / "other" / url / "index.html").resolve().read_text()
    assert f'id="{anchor}"' in target


def test_fence_already_in_mkdocs_yml_is_not_registered_twice(tmp_path, env):
    root = sf.write_site(tmp_path, fence_in_yaml=True)
    out = mkdocs_build(root, env)
    assert out.returncode == 0, out.stderr
    assert 'class="imagefs imagefs-tree"' in (root / "site" / "article" / "index.html").read_text()


@pytest.mark.parametrize("setup, message", [
    (lambda root: (root / "docs" / "broken.md").write_text(BAD_FENCE),
     "broken.md: imagefs fence (snapshot small): option 'path': /nope is not in the image"),
    (lambda root: (root / "docs" / "snapshots" / "listings.yml").write_text(
        "snapshots:\n  - {name: small, image: 'oci:x', description: d}\n"),
     "article.md uses snapshot 'other', which has no entry in"),
    (lambda root: (root / "mkdocs.yml").write_text(
        (root / "mkdocs.yml").read_text().replace("max_age_days: 0", "max_age_days: 30")),
     "snapshot other was generated 2023-11-14T22:13:20Z, more than 30 days ago"),
], ids=["bad-fence-fails", "snapshot-missing-from-listings-warns", "old-snapshot-warns"])
def test_strict_build_fails(tmp_path, env, setup, message):
    root = sf.write_site(tmp_path)
    setup(root)
    out = mkdocs_build(root, env)
    assert out.returncode != 0
    assert message in out.stderr


def test_disabled_plugin_does_nothing(tmp_path, env):
    root = sf.write_site(tmp_path, fence_in_yaml=True, strict_extra="      enabled: false\n")
    cfg = root / "mkdocs.yml"
    cfg.write_text(cfg.read_text().replace("max_age_days: 0", "max_age_days: 1"))  # would warn if enabled
    out = mkdocs_build(root, env)
    assert out.returncode == 0, out.stderr
    site = root / "site"
    assert not (site / "images").exists() and not (site / "assets" / "imagefs").exists()
    assert "imagefs.css" not in (site / "article" / "index.html").read_text()


def _zensical() -> str:
    exe = shutil.which("zensical")
    if exe is None:
        if sf.IN_CI:
            pytest.fail("zensical is not installed; it is in requirements-test.txt")
        pytest.skip("zensical is not installed (pip install zensical)")
    return exe


def test_zensical_builds_the_listings_with_the_fence_alone(tmp_path, env):
    exe = _zensical()
    root = sf.write_site(tmp_path, plugin=False)
    out = subprocess.run([exe, "build"], cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    article = (root / "site" / "article" / "index.html").read_text()
    for view in ("tree", "ls", "layers", "diff", "summary"):
        assert f'class="imagefs imagefs-{view}"' in article
    assert 'id="imagefs-small-/etc/passwd"' in article
    assert (root / "site" / "snapshots" / "small.json").is_file()


def test_zensical_fails_on_a_bad_fence(tmp_path, env):
    exe = _zensical()
    root = sf.write_site(tmp_path, plugin=False)
    (root / "docs" / "broken.md").write_text(BAD_FENCE)
    out = subprocess.run([exe, "build"], cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode != 0
    assert "option 'path': /nope is not in the image" in out.stdout + out.stderr
