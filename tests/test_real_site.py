"""The real site: `mkdocs build --strict` of this repository, its pages, feed and listings.

Also takes the screenshots the project keeps as CI artefacts: Debian's chromium (through
Playwright, never `playwright install`) opens the home page and every article, scrolls to
the article's first listing, and saves it in light and dark to ``test-artifacts/site/``.
"""

from __future__ import annotations

import functools
import re
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import IN_CI, ROOT, require_tool

POSTS = sorted((ROOT / "docs" / "blog" / "posts").glob("*.md"))
ARTIFACTS = ROOT / "test-artifacts" / "site"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("real-site") / "site"
    env = {**__import__("os").environ, "NO_MKDOCS_2_WARNING": "1",
           "PYTHONPATH": str(ROOT / "plugins")}
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out


def post_pages(site: Path) -> list[Path]:
    return sorted(p for p in site.glob("20[0-9][0-9]/*/*/*/index.html"))


def test_every_post_is_built_with_its_listings(site: Path) -> None:
    pages = post_pages(site)
    assert len(pages) == len(POSTS) == 5
    with_listings = [p for p in pages if 'class="imagefs' in p.read_text()]
    assert len(with_listings) >= 4  # every article but the Kubernetes one embeds listings
    for p in pages:
        html = p.read_text()
        assert "<script>alert" not in html
        assert "edit/main/docs/blog/posts/" in html  # edit-this-page link for contributors


def test_home_explorer_tags_404_and_search(site: Path) -> None:
    home = (site / "index.html").read_text()
    assert "Image explorer" in home and "Continue reading" in home
    explorer = (site / "images" / "index.html").read_text()
    snapshots = sorted(p.stem for p in (ROOT / "docs" / "snapshots").glob("*.json"))
    for name in snapshots:
        assert (site / "images" / name / "index.html").exists(), name
        assert f"{name}/" in explorer
    assert (site / "tags" / "index.html").exists()
    assert (site / "404.html").exists()
    assert (site / "search" / "search_index.json").exists()
    assert not (site / "snapshots" / "listings.yml").exists()


def test_feed_has_posts_only(site: Path) -> None:
    root = ET.parse(site / "feed_rss_created.xml").getroot()
    links = [item.findtext("link") for item in root.iter("item")]
    assert len(links) == len(POSTS), links
    assert all(re.search(r"/20\d\d/\d\d/\d\d/[a-z0-9-]+/$", link) for link in links), links


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_screenshots_of_home_and_first_listings(site: Path) -> None:
    chromium = require_tool("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if IN_CI:
            pytest.fail("playwright is not installed; it is in requirements-test.txt")
        pytest.skip("playwright is not installed")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pages = [("home", "")] + [(p.parent.name, p.parent.relative_to(site).as_posix() + "/") for p in post_pages(site)]
    shots = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=ARGS, headless=True)
            try:
                for scheme in ("light", "dark"):
                    page = browser.new_page(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
                    errors: list[str] = []
                    page.on("pageerror", lambda e: errors.append(str(e)))
                    for name, path in pages:
                        page.goto(base + path)
                        listing = page.locator("div.imagefs").first
                        if name != "home" and listing.count():
                            listing.scroll_into_view_if_needed()
                        target = ARTIFACTS / f"{name}-{scheme}.png"
                        page.screenshot(path=str(target))
                        shots.append(target)
                    bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
                    assert (bg != "rgb(255, 255, 255)") == (scheme == "dark"), bg
                    # Material loads Mermaid from unpkg on first use; this machine reaches no CDN,
                    # so that one third-party script fails here and works on the published site.
                    errors = [e for e in errors if "unpkg.com/mermaid" not in e]
                    assert errors == [], errors
                    page.close()
            finally:
                browser.close()
    finally:
        server.shutdown()
        server.server_close()
    assert all(p.stat().st_size > 10_000 for p in shots)


def test_zensical_builds_the_real_site_with_the_fence_alone(tmp_path: Path) -> None:
    """Zensical (Material's successor) reads mkdocs.yml and runs Markdown extensions only:
    the listings must still be there, styled by the assets mkdocs.yml lists. The per-image
    pages are the plugin's, so the home page's link to them is the one thing missing."""
    import os
    import shutil

    exe = shutil.which("zensical")
    if not exe:
        if IN_CI:
            pytest.fail("zensical is not installed; it is in requirements-test.txt")
        pytest.skip("zensical is not installed")
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "mkdocs.yml", project)
    shutil.copytree(ROOT / "docs", project / "docs", symlinks=False)  # the asset symlinks, resolved
    env = {**os.environ, "PYTHONPATH": str(ROOT / "plugins")}
    proc = subprocess.run([exe, "build"], cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    site = project / "site"
    article = next(site.glob("20*/*/*/whats-inside-a-distroless-image/index.html")).read_text()
    assert article.count('class="imagefs imagefs-') >= 8
    assert "assets/imagefs/imagefs.css" in article
    assert (site / "assets" / "imagefs" / "imagefs.css").stat().st_size > 1000
