"""Every blog post has valid front matter, an excerpt marker and known authors and categories."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
POSTS = sorted((DOCS / "blog" / "posts").glob("*.md"))


class _Loader(yaml.SafeLoader):
    """mkdocs.yml uses !!python/name tags; read them as plain strings."""


_Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda loader, suffix, node: suffix)


def mkdocs_config() -> dict:
    return yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=_Loader)


def blog_config() -> dict:
    for plugin in mkdocs_config()["plugins"]:
        if isinstance(plugin, dict) and "blog" in plugin:
            return plugin["blog"]
    raise AssertionError("mkdocs.yml has no blog plugin")


def split_front_matter(text: str, name: str) -> tuple[dict, str]:
    if not text.startswith("---\n"):
        raise ValueError(f"{name}: no front matter (the file must start with ---)")
    head, sep, body = text[4:].partition("\n---\n")
    if not sep:
        raise ValueError(f"{name}: front matter is not closed with ---")
    meta = yaml.safe_load(head)
    if not isinstance(meta, dict):
        raise ValueError(f"{name}: front matter is not a mapping")
    return meta, body


def post_problems(path: Path) -> list[str]:
    """Everything wrong with one post, as messages naming the field and the fix."""
    name = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)
    try:
        meta, body = split_front_matter(path.read_text(encoding="utf-8"), name)
    except ValueError as err:
        return [str(err)]
    problems = []
    for key in ("title", "description"):
        if not isinstance(meta.get(key), str) or not meta[key].strip():
            problems.append(f"{name}: '{key}' must be a non-empty string")
    date = meta.get("date")
    created = date.get("created") if isinstance(date, dict) else date
    if not isinstance(created, (dt.date, dt.datetime)):
        problems.append(f"{name}: 'date' (or date.created) must be a date such as 2026-11-29")
    allowed = set(blog_config()["categories_allowed"])
    cats = meta.get("categories")
    if not isinstance(cats, list) or not cats:
        problems.append(f"{name}: 'categories' needs at least one of {sorted(allowed)}")
    else:
        for c in cats:
            if c not in allowed:
                problems.append(f"{name}: category {c!r} is not one of {sorted(allowed)}")
    tags = meta.get("tags")
    if not isinstance(tags, list) or not tags or not all(isinstance(t, str) and t for t in tags):
        problems.append(f"{name}: 'tags' must be a non-empty list of strings")
    authors_file = DOCS / blog_config()["authors_file"]
    known = set((yaml.safe_load(authors_file.read_text()) or {}).get("authors", {}))
    authors = meta.get("authors")
    if not isinstance(authors, list) or not authors:
        problems.append(f"{name}: 'authors' must list at least one author from {authors_file.name}")
    else:
        for a in authors:
            if a not in known:
                problems.append(f"{name}: author {a!r} is not in {authors_file.relative_to(ROOT)}")
    if "<!-- more -->" not in body:
        problems.append(f"{name}: no excerpt marker '<!-- more -->' after the introduction")
    return problems


@pytest.mark.parametrize("path", POSTS, ids=[p.stem for p in POSTS])
def test_post_front_matter(path: Path) -> None:
    assert post_problems(path) == []


def test_template_is_a_valid_post() -> None:
    """The template contributors copy passes the same checks (so the checks are live)."""
    assert post_problems(DOCS / "blog" / ".template.md") == []


@pytest.mark.parametrize(
    "text, expected",
    [
        ("no front matter", "no front matter"),
        ("---\ntitle: x\n", "not closed"),
        ("---\ntitle: ''\n---\n", "'title' must be"),
        ("---\ntitle: t\ndescription: d\ndate: 2026-01-01\ncategories: [Cooking]\n---\n", "category 'Cooking'"),
        ("---\ntitle: t\ndescription: d\ndate: 2026-01-01\ncategories: [Go]\ntags: [go]\nauthors: [ghost]\n---\n<!-- more -->", "author 'ghost'"),
        ("---\ntitle: t\ndescription: d\ndate: 2026-01-01\ncategories: [Go]\ntags: [go]\nauthors: [imagefs]\n---\nbody", "excerpt marker"),
        ("---\ntitle: t\ndescription: d\ndate: soon\ncategories: [Go]\ntags: [go]\nauthors: [imagefs]\n---\n<!-- more -->", "'date'"),
    ],
    ids=["missing-front-matter", "unclosed", "empty-title", "unknown-category", "unknown-author", "no-excerpt", "bad-date"],
)
def test_checker_catches(tmp_path: Path, text: str, expected: str) -> None:
    target = tmp_path / "probe.md"
    target.write_text(text)
    problems = post_problems(target)
    assert any(expected in p for p in problems), problems
