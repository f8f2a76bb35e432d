"""The README's two set-up commands are real: CI runs the test one, and the main one works.

Also: ``tests/data/hello.tar`` (the image the README lists) is exactly what its generator,
tests/peers/hello.py, writes, so the committed bytes can always be regenerated.
"""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import ROOT
from peers import hello

README = ROOT / "README.md"


def sh_blocks() -> list[str]:
    return [b.strip() for b in re.findall(r"```sh\n(.*?)```", README.read_text(), flags=re.S)]


def setup_commands() -> tuple[str, str]:
    """The first two ``sh`` blocks of the README: set up + main job, set up + tests."""
    blocks = sh_blocks()
    assert len(blocks) >= 2, "README must open with the two set-up commands in sh blocks"
    return blocks[0], blocks[1]


def test_hello_archive_is_reproducible(tmp_path):
    out = tmp_path / "hello.tar"
    hello.write(out)
    assert out.read_bytes() == (ROOT / "tests/data/hello.tar").read_bytes(), (
        "tests/data/hello.tar is stale: PYTHONPATH=plugins:tests python3 -m peers.hello tests/data/hello.tar"
    )


def test_ci_runs_the_readme_test_command():
    _, tests = setup_commands()
    assert "\n" not in tests, "the test set-up is ONE command"
    steps = [s.strip() for s in tests.split("&&")]
    run = [line.strip() for line in (ROOT / ".ci/run").read_text().splitlines()]
    plumbing = ("#", "log ", "set ", "rc=", "if ", "fi", "exit", "export", "cd ")
    executed = [line for line in run if line and not line.startswith(plumbing)]
    positions = [executed.index(step) for step in steps]  # ValueError names the missing step
    assert positions == sorted(positions), f".ci/run must run {steps} in that order: {executed}"


def test_readme_main_command_installs_and_builds_the_site():
    """The first command is install + the strict site build (tests/test_real_site.py builds it)."""
    main, _ = setup_commands()
    assert "\n" not in main, "the main set-up is ONE command"
    assert main == "python3 -m pip install -e . && mkdocs build --strict"


def test_readme_lists_the_shipped_image(subprocess_env):
    """The usage section's example image lists as the README says."""
    proc = subprocess.run(
        [sys.executable, "-m", "imagefs", "list", "docker-archive:tests/data/hello.tar"],
        cwd=ROOT, env=subprocess_env, capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "su-hello" in proc.stdout  # written by the second layer
    assert "motd" not in proc.stdout  # deleted by the second layer's whiteout
    assert "docker-archive:tests/data/hello.tar" in README.read_text()
