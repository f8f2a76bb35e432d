"""The listings config: validation errors (one line, naming file:line and the fix) and the
cross-check against the articles' ```imagefs fences."""

from __future__ import annotations

import textwrap

import pytest
from imagefs.listings import (
    ListingsError,
    cross_check,
    fences_in,
    load,
    parse,
    used_snapshots,
    validate,
)

GOOD = """\
snapshots:
  - name: distroless-static
    image: oci:build/images/distroless-static:latest
    recipe: distroless-static
    description: distroless/static-style image
    upstream: gcr.io/distroless/static-debian12
  - name: multi-arm
    image: docker://127.0.0.1:5000/test/multi:v1
    platform: linux/arm64
    description: the arm64 half
"""


def test_good_config_parses(tmp_path):
    p = tmp_path / "listings.yml"
    p.write_text(GOOD)
    cfg = load(p)
    assert cfg.names() == ["distroless-static", "multi-arm"]
    first = cfg.get("distroless-static")
    assert (first.recipe, first.upstream, first.platform, first.line) == ("distroless-static", "gcr.io/distroless/static-debian12", None, 2)
    assert cfg.get("multi-arm").platform == "linux/arm64"


def entry(**kw) -> str:
    base = {"name": "a", "image": "oci:x:latest", "description": "d"}
    base.update(kw)
    lines = [f"    {k}: {v}" for k, v in base.items() if v is not None]
    lines[0] = "  - " + lines[0].lstrip()
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    "text, match",
    [
        ("snapshots:\n" + entry() + entry(), r":5: duplicate snapshot name 'a' \(first defined at line 2\)"),
        ("snapshots:\n" + entry(imgae="x"), r":2: unknown key 'imgae' \(did you mean 'image'\?\)"),
        ("snapshots:\n" + entry(image=None), r"snapshot 'a' is missing the required key 'image'"),
        ("snapshots:\n" + entry(description=None), r"missing the required key 'description'"),
        ("snapshots:\n" + entry(name="Bad Name"), r"snapshot name 'Bad Name' is invalid"),
        ("snapshots:\n" + entry(recipe="distroless-statc"), r"unknown recipe 'distroless-statc' \(did you mean 'distroless-static'\?\)"),
        ("snapshots:\n" + entry(platform="linux"), r"platform of 'a'.*OS/ARCH"),
        ("snapshots:\n" + entry(description="'one\\ntwo'").replace("'one\\ntwo'", '"one\\ntwo"'), r"must be one line"),
        ("snapshots:\n" + entry(name="12"), None),  # a valid name that YAML reads as an int is still rejected below
        ("snapshot:\n" + entry(), r"unknown top-level key 'snapshot' \(did you mean 'snapshots'\?\)"),
        ("snapshots: {a: 1}\n", r"'snapshots' must be a list"),
        ("- a\n", r"expected a mapping"),
        ("snapshots:\n  - name: [unclosed\n", r":\d+: invalid YAML"),
    ],
    ids=["duplicate-name", "unknown-key", "missing-image", "missing-description", "bad-name", "unknown-recipe",
         "bad-platform", "multi-line-description", "non-string-name", "unknown-top-key", "snapshots-not-list",
         "top-not-mapping", "bad-yaml"],
)
def test_invalid_configs(tmp_path, text, match):
    p = tmp_path / "listings.yml"
    with pytest.raises(ListingsError, match=match or r"name must be a string, not int") as info:
        parse(text, p)
    assert "\n" not in str(info.value)
    assert str(p) in str(info.value)


def test_missing_config_says_how_to_fix(tmp_path):
    with pytest.raises(ListingsError, match="does not exist; create it"):
        load(tmp_path / "nope.yml")


PAGE = """\
# An article

```imagefs
snapshot: distroless-static
view: tree
```

- a list

    ~~~imagefs
    snapshot: go-static
    view: diff
    against: go-scratch
    ~~~

```python
snapshot: not-a-fence
```
"""


def test_fences_found_with_lines_and_indentation():
    found = fences_in(PAGE)
    assert [(line, opts["snapshot"]) for line, opts in found] == [(3, "distroless-static"), (10, "go-static")]


def test_cross_check_errors_and_warnings(tmp_path):
    docs = tmp_path / "docs"
    (docs / "guide").mkdir(parents=True)
    (docs / "guide" / "page.md").write_text(PAGE)
    cfg = parse(GOOD.replace("multi-arm", "unused-one") + "  - name: go-static\n    image: oci:g:latest\n    description: g\n",
                tmp_path / "listings.yml")
    assert used_snapshots(docs) == {"distroless-static": ["guide/page.md:3"], "go-static": ["guide/page.md:10"],
                                   "go-scratch": ["guide/page.md:10"]}
    result = cross_check(cfg, docs)
    assert result.errors == [f"guide/page.md:10: snapshot 'go-scratch' is used by an article but not in {cfg.path}; add an entry for it"]
    assert len(result.warnings) == 1 and "'unused-one' is not used by any article" in result.warnings[0]


def test_validate_raises_on_used_but_missing(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("```imagefs\nsnapshot: ghost\n```\n")
    cfg = tmp_path / "listings.yml"
    cfg.write_text(textwrap.dedent(GOOD))
    with pytest.raises(ListingsError, match="a.md:1: snapshot 'ghost' is used by an article but not in"):
        validate(cfg, docs)


def test_the_repo_config_is_valid_and_every_entry_has_its_snapshot():
    """The committed docs/snapshots/listings.yml: valid, every recipe listed, every snapshot there."""
    from conftest import ROOT
    from imagefs.recipes import RECIPES
    from imagefs.snapshot import load_snapshot

    cfg = load(ROOT / "docs" / "snapshots" / "listings.yml")
    assert set(RECIPES) <= {e.recipe for e in cfg.listings}, "every recipe has a listing"
    for e in cfg.listings:
        snap = load_snapshot(ROOT / "docs" / "snapshots", e.name)
        assert snap.reference == e.image, e.name
        assert snap.manifest_digest and snap.manifest_digest.startswith("sha256:"), e.name
        if e.platform:
            assert snap.platform == e.platform, e.name
