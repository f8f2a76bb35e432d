"""A real browser on the built fixture site: Debian's chromium driven by Playwright.

Never ``playwright install``: the browser is the distribution's ``/usr/bin/chromium``.
The test expands a directory, filters, navigates with Material's instant navigation to
another page and back (the JS must re-initialise through ``document$``), and saves
screenshots, light and dark, to ``test-artifacts/``.
"""

from __future__ import annotations

import functools
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import site_fixture as sf
from conftest import IN_CI, ROOT, require_tool

ARTIFACTS = ROOT / "test-artifacts"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def served_site(tmp_path, subprocess_env):
    """Start a server on 127.0.0.1 first (its port goes into site_url), then build the site."""
    root = tmp_path / "project"
    handler = functools.partial(_Quiet, directory=str(root / "site"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        sf.write_site(root, site_url=url)
        env = dict(subprocess_env, SOURCE_DATE_EPOCH="1700000000", NO_MKDOCS_2_WARNING="1")
        out = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict"], cwd=root, env=env,
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        yield url
    finally:
        server.shutdown()
        server.server_close()


def _playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if IN_CI:
            pytest.fail("playwright is not installed; it is in requirements-test.txt")
        pytest.skip("playwright is not installed (pip install playwright; never `playwright install`)")
    return sync_playwright


def test_tree_expand_filter_instant_navigation_and_screenshots(served_site):
    chromium = require_tool("chromium")
    sync_playwright = _playwright()
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 1100}, color_scheme="light")
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(served_site + "article/")
            tree = page.locator(".imagefs-tree").first
            tree.locator(".imagefs-tools input").wait_for()  # the JS ran

            # expand a collapsed directory by clicking its summary
            ssl = page.locator('[id="imagefs-small-/etc/ssl"] > details')
            cert = page.locator('[id="imagefs-small-/etc/ssl/certs"]')
            assert ssl.get_attribute("open") is None and not cert.is_visible()
            ssl.locator("> summary").click()
            assert ssl.get_attribute("open") is not None and cert.is_visible()

            # collapse all / expand all
            tree.get_by_role("button", name="Collapse all").click()
            assert not page.locator('[id="imagefs-small-/etc/passwd"]').is_visible()
            tree.get_by_role("button", name="Expand all").click()
            assert page.locator('[id="imagefs-small-/etc/ssl/certs/ca.pem"]').is_visible()

            # filter: matches stay (with their ancestors), the rest hide
            tree.get_by_role("button", name="Collapse all").click()
            tree.locator(".imagefs-tools input").fill("shadow")
            assert page.locator('[id="imagefs-small-/etc/shadow"]').is_visible()
            assert not page.locator('[id="imagefs-small-/bin/sh"]').is_visible()
            assert not page.locator('[id="imagefs-small-/etc/passwd"]').is_visible()
            tree.locator(".imagefs-tools input").fill("")
            assert page.locator('[id="imagefs-small-/bin"]').is_visible()
            page.screenshot(path=str(ARTIFACTS / "article-light.png"), full_page=True)

            # instant navigation: no full reload (our marker survives), the JS re-initialises
            page.evaluate("window.__imagefsMarker = 42")
            page.get_by_role("link", name="the other page").click()
            page.wait_for_url("**/other/")
            page.locator('.imagefs-tree[data-imagefs-snapshot="other"] .imagefs-tools input').wait_for()
            assert page.evaluate("window.__imagefsMarker") == 42
            assert page.locator('[id="imagefs-other-/etc/hostname"]').is_visible()
            page.go_back()
            page.wait_for_url("**/article/")
            page.locator('.imagefs-tree[data-imagefs-snapshot="small"] .imagefs-tools input').wait_for()
            assert page.evaluate("window.__imagefsMarker") == 42
            assert page.locator(".imagefs-tree").first.locator(".imagefs-tools").count() == 1  # not twice

            # dark scheme (palette follows prefers-color-scheme)
            dark = browser.new_page(viewport={"width": 1200, "height": 1100}, color_scheme="dark")
            dark.goto(served_site + "article/")
            dark.locator(".imagefs-tools input").first.wait_for()
            assert dark.evaluate("document.body.getAttribute('data-md-color-scheme')") == "slate"
            bg = dark.evaluate("getComputedStyle(document.querySelector('.imagefs')).backgroundColor")
            fg = dark.evaluate("getComputedStyle(document.querySelector('.imagefs')).color")
            assert _luma(bg) < 0.3 < _luma(fg), (bg, fg)  # dark box, light text
            dark.screenshot(path=str(ARTIFACTS / "article-dark.png"), full_page=True)
            dark.goto(served_site + "images/small/")
            dark.locator('[id="imagefs-small-/etc/ssl/certs/ca.pem"]').wait_for(state="attached")
            dark.screenshot(path=str(ARTIFACTS / "image-page-dark.png"), full_page=True)
            assert errors == []
        finally:
            browser.close()
    assert (ARTIFACTS / "article-light.png").stat().st_size > 10_000


def _luma(css: str) -> float:
    nums = [float(x) for x in css[css.index("(") + 1:css.index(")")].split(",")[:3]]
    r, g, b = (n / 255 for n in nums)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b
