"""Articles never drift from the tool: their ``imagefs`` shell sessions are executed.

A session is a fenced block opened with ``{ .console .imagefs-session }``. Each line that
starts with ``$ `` is a command; the lines after it, up to the next command, are its expected
output. Every command must be an ``imagefs`` command. It runs through ``imagefs.cli.main``
in a scratch directory where ``build/images`` is the example images built by the recipes,
and its standard output and standard error together must equal what the article shows.

Normalisation, applied to both sides before comparing (and nothing else):
- ``sha256:`` followed by 64 hex digits becomes ``sha256:<digest>``, so a rebuilt package
  does not fail the test for the digest alone (sizes and counts still must match);
- trailing white space is removed from every line, and blank lines at the end are dropped.

When an article and the tool disagree, update the article from a real run (or fix the tool).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
from pathlib import Path

import pytest

from imagefs.cli import main

ROOT = Path(__file__).resolve().parent.parent
POSTS = sorted((ROOT / "docs" / "blog" / "posts").glob("*.md"))
OPEN = re.compile(r"^(?P<fence>`{3,}|~{3,})\s*\{[^}]*\.imagefs-session[^}]*\}\s*$")
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def sessions(path: Path) -> list[tuple[int, list[tuple[str, list[str]]]]]:
    """(line number, [(command, expected output lines)]) for each session in a page."""
    found = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = OPEN.match(lines[i])
        if not m:
            i += 1
            continue
        start, fence, body = i + 1, m.group("fence"), []
        i += 1
        while i < len(lines) and lines[i].strip() != fence:
            body.append(lines[i])
            i += 1
        steps: list[tuple[str, list[str]]] = []
        for line in body:
            if line.startswith("$ "):
                steps.append((line[2:], []))
            elif steps:
                steps[-1][1].append(line)
            else:
                raise AssertionError(f"{path.name}:{start}: a session must start with a '$ ' command")
        found.append((start, steps))
        i += 1
    return found


def normalise(lines: list[str]) -> list[str]:
    out = [DIGEST.sub("sha256:<digest>", line).rstrip() for line in lines]
    while out and not out[-1]:
        out.pop()
    return out


CASES = [(p, n, steps) for p in POSTS for n, steps in sessions(p)]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A directory whose build/images holds the example images the sessions name."""
    from imagefs import recipes

    names = sorted({m.group(1) for _, _, steps in CASES for cmd, _ in steps
                    for m in re.finditer(r"build/images/([a-z0-9.-]+)", cmd)})
    ctx = recipes.Context(ROOT / "build")
    for name in names:
        recipes.build_recipe(name, ctx)
    work = tmp_path_factory.mktemp("sessions")
    (work / "build").mkdir()
    (work / "build" / "images").symlink_to(ctx.images_dir)
    return work


def run(command: str, cwd: Path) -> list[str]:
    argv = shlex.split(command)
    assert argv[0] == "imagefs", f"only imagefs commands run in a session: {command!r}"
    out = io.StringIO()
    old = os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            code = main(argv[1:])
    finally:
        os.chdir(old)
    assert code == 0, f"{command!r} exited {code}: {out.getvalue()}"
    return out.getvalue().splitlines()


@pytest.mark.parametrize("path, line, steps", CASES, ids=[f"{p.stem}:{n}" for p, n, _ in CASES])
def test_session_output_matches_the_article(path: Path, line: int, steps, workdir: Path) -> None:
    for command, expected in steps:
        got = run(command, workdir)
        assert normalise(got) == normalise(expected), (
            f"{path.relative_to(ROOT)}:{line}: `{command}` printed something else; update the article from a real run"
        )


def test_articles_have_sessions() -> None:
    """At least one article is checked this way, so the test cannot pass vacuously."""
    assert CASES, "no { .console .imagefs-session } blocks found in docs/blog/posts"


def test_session_parser(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text("x\n``` { .console .imagefs-session }\n$ imagefs --version\nimagefs 1\n$ imagefs x\n```\n")
    assert sessions(page) == [(2, [("imagefs --version", ["imagefs 1"]), ("imagefs x", [])])]
    assert normalise(["a sha256:" + "0" * 64 + "  ", ""]) == ["a sha256:<digest>"]
