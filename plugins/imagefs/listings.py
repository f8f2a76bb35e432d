"""The listings config: ``docs/snapshots/listings.yml``, the one file naming every snapshot.

Each snapshot the docs embed is listed once, with where its image comes from::

    snapshots:
      - name: distroless-static            # docs/snapshots/<name>.json
        image: oci:build/images/distroless-static:latest   # any transport imagefs reads
        recipe: distroless-static          # optional: built by imagefs.recipes first
        platform: linux/amd64              # optional: pick from a multi-arch index
        description: distroless/static-style image built from Debian packages  # one line
        upstream: gcr.io/distroless/static-debian12   # optional: what it stands in for

:func:`load` validates the file (unknown or missing keys, duplicate or bad names, unknown
recipes, bad platforms, multi-line descriptions) and raises :class:`ListingsError` naming the
file, line and fix. :func:`cross_check` compares it with the articles: a snapshot an article
uses (``snapshot:`` or ``against:`` in an ```imagefs fence) but the config lacks is an error;
a config entry no article uses is a warning.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ImagefsError
from .snapshot import NAME_RE

DEFAULT_CONFIG = Path("docs") / "snapshots" / "listings.yml"
KEYS = ("name", "image", "platform", "recipe", "description", "upstream")
REQUIRED = ("name", "image", "description")
TOP_KEYS = ("snapshots",)


class ListingsError(ImagefsError):
    """The listings config is invalid, or the articles use a snapshot it does not name."""


@dataclass(frozen=True)
class Listing:
    name: str
    image: str
    description: str
    platform: str | None = None
    recipe: str | None = None
    upstream: str | None = None
    line: int = 0


@dataclass
class Config:
    path: Path
    listings: list[Listing] = field(default_factory=list)

    def get(self, name: str) -> Listing:
        for entry in self.listings:
            if entry.name == name:
                return entry
        raise ListingsError(f"{self.path}: no snapshot named {name!r}; known: {', '.join(self.names()) or '(none)'}")

    def names(self) -> list[str]:
        return [e.name for e in self.listings]


class _LineLoader(yaml.SafeLoader):
    """A safe loader that remembers the line of each mapping (as key ``__line__``)."""


def _mapping_with_line(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = loader.construct_mapping(node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_with_line)


def _suggest(key: str, choices: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else f" (allowed: {', '.join(choices)})"


def parse(text: str, path: Path) -> Config:
    """Validate the YAML text of a listings config."""
    where = str(path)
    try:
        doc = yaml.load(text, Loader=_LineLoader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f":{mark.line + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ListingsError(f"{where}{at}: invalid YAML ({problem}); fix the syntax") from err
    if doc is None:
        doc = {"snapshots": [], "__line__": 1}
    if not isinstance(doc, dict):
        raise ListingsError(f"{where}: expected a mapping with a 'snapshots:' list at the top")
    for key in doc:
        if key != "__line__" and key not in TOP_KEYS:
            raise ListingsError(f"{where}:{doc['__line__']}: unknown top-level key {key!r}{_suggest(str(key), TOP_KEYS)}")
    items = doc.get("snapshots") or []
    if not isinstance(items, list):
        raise ListingsError(f"{where}: 'snapshots' must be a list of entries (- name: ...)")
    config = Config(Path(path))
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ListingsError(f"{where}: snapshots[{i}] must be a mapping with name, image and description")
        line = item.pop("__line__", 0)
        at = f"{where}:{line}"
        for key in item:
            if key not in KEYS:
                raise ListingsError(f"{at}: unknown key {key!r}{_suggest(str(key), KEYS)}")
        for key in REQUIRED:
            if item.get(key) in (None, ""):
                label = f"snapshot {item['name']!r}" if isinstance(item.get("name"), str) else f"snapshots[{i}]"
                raise ListingsError(f"{at}: {label} is missing the required key {key!r}")
        for key, value in item.items():
            if not isinstance(value, str):
                raise ListingsError(f"{at}: {key} must be a string, not {type(value).__name__} {value!r}")
        name = item["name"]
        if not NAME_RE.match(name):
            raise ListingsError(f"{at}: snapshot name {name!r} is invalid: use lowercase letters, digits, '.', '_' and '-'")
        if name in seen:
            raise ListingsError(f"{at}: duplicate snapshot name {name!r} (first defined at line {seen[name]}); names must be unique")
        seen[name] = line
        if "\n" in item["description"].strip():
            raise ListingsError(f"{at}: description of {name!r} must be one line")
        if item.get("platform"):
            from .platform import Platform

            try:
                Platform.parse(item["platform"])
            except ImagefsError as err:
                raise ListingsError(f"{at}: platform of {name!r}: {err}") from None
        if item.get("recipe"):
            from .recipes import RECIPES

            if item["recipe"] not in RECIPES:
                raise ListingsError(f"{at}: {name!r} names unknown recipe {item['recipe']!r}{_suggest(item['recipe'], tuple(RECIPES))}")
        config.listings.append(Listing(
            name=name, image=item["image"].strip(), description=item["description"].strip(),
            platform=item.get("platform"), recipe=item.get("recipe"), upstream=item.get("upstream"), line=line,
        ))
    return config


def load(path: str | os.PathLike[str] = DEFAULT_CONFIG) -> Config:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ListingsError(f"listings config {p} does not exist; create it (see imagefs.listings for the format)") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ListingsError(f"reading listings config {p}: {err}") from err
    return parse(text, p)


# --- what the articles use ----------------------------------------------------------------

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*imagefs\b[^\n]*\n(?P<body>.*?)^(?P=indent)(?P=fence)[ \t]*$",
                    re.MULTILINE | re.DOTALL)


def fences_in(text: str) -> list[tuple[int, dict[str, Any] | None]]:
    """The (line, options) of each ```imagefs fence in a Markdown text (options None if not YAML)."""
    out = []
    for m in _FENCE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        body = "\n".join(ln[len(m.group("indent")):] for ln in m.group("body").splitlines())
        try:
            opts = yaml.safe_load(body)
        except yaml.YAMLError:
            opts = None
        out.append((line, opts if isinstance(opts, dict) else None))
    return out


def used_snapshots(docs_dir: str | os.PathLike[str] = "docs") -> dict[str, list[str]]:
    """Snapshot name -> the ``page:line`` places that use it (``snapshot:`` and ``against:``)."""
    used: dict[str, list[str]] = {}
    root = Path(docs_dir)
    for page in sorted(root.rglob("*.md")):
        try:
            text = page.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for line, opts in fences_in(text):
            for key in ("snapshot", "against"):
                value = (opts or {}).get(key)
                if isinstance(value, str) and value:
                    used.setdefault(value, []).append(f"{page.relative_to(root).as_posix()}:{line}")
    return used


@dataclass
class CrossCheck:
    errors: list[str]
    warnings: list[str]


def cross_check(config: Config, docs_dir: str | os.PathLike[str] = "docs") -> CrossCheck:
    """Articles versus config: used-but-missing snapshots (errors), unused entries (warnings)."""
    used = used_snapshots(docs_dir)
    names = set(config.names())
    errors = [
        f"{places[0]}: snapshot {name!r} is used by an article but not in {config.path}; add an entry for it"
        + (f" (also used at {', '.join(places[1:3])})" if len(places) > 1 else "")
        for name, places in sorted(used.items()) if name not in names
    ]
    warnings = [
        f"{config.path}:{e.line}: snapshot {e.name!r} is not used by any article under {docs_dir}"
        for e in config.listings if e.name not in used
    ]
    return CrossCheck(errors, warnings)


def validate(path: str | os.PathLike[str] = DEFAULT_CONFIG, docs_dir: str | os.PathLike[str] = "docs") -> tuple[Config, list[str]]:
    """Load and cross-check; raise :class:`ListingsError` on the first error, return warnings."""
    config = load(path)
    result = cross_check(config, docs_dir)
    if result.errors:
        more = f" (and {len(result.errors) - 1} more)" if len(result.errors) > 1 else ""
        raise ListingsError(result.errors[0] + more)
    return config, result.warnings
