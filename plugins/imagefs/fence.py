"""The ``imagefs`` fence for ``pymdownx.superfences``: embed a snapshot listing in a page.

Configure it in ``mkdocs.yml`` (the MkDocs plugin does this for you when it is loaded; under
Zensical, or any Python-Markdown host, this alone is enough)::

    markdown_extensions:
      - pymdownx.superfences:
          custom_fences:
            - name: imagefs
              class: imagefs
              validator: !!python/name:imagefs.fence.validate
              format: !!python/name:imagefs.fence.format

and write, in a page::

    ```imagefs
    snapshot: debian-bookworm
    view: tree            # tree | ls | layers | diff | summary
    path: /etc            # subtree to show
    depth: 2
    highlight: [/etc/passwd]
    ```

This module imports nothing from MkDocs. Every mistake in a fence (unknown option, bad
YAML, missing snapshot, path not in the image, bad view) raises :class:`FenceError`, a
``SuperFencesException`` (superfences swallows other exceptions and would print the
block as code), so the build fails with a message naming the page, the option and the fix.

Snapshots are found in, first match wins: the directory the MkDocs plugin configured
(from ``docs_dir``), ``$IMAGEFS_SNAPSHOTS``, ``docs/snapshots`` under the current directory
(both generators run from the project root). Loaded snapshots are cached by path, mtime and
size, so twenty fences on one snapshot parse its JSON once.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path
from typing import Any, Callable

import yaml
from pymdownx.superfences import SuperFencesException

from .errors import ImagefsError
from .render.html import VIEWS
from .snapshot import DEFAULT_DIR, NAME_RE, Snapshot, load_snapshot

DEFAULT_MAX_ENTRIES = 100
OPTIONS = ("snapshot", "view", "path", "depth", "against", "highlight", "limit", "max_entries",
           "expand", "title")
_VIEW_OPTIONS = {
    "tree": {"path", "depth", "highlight", "limit", "max_entries", "expand", "title"},
    "ls": {"path", "depth", "highlight", "limit", "max_entries", "title"},
    "layers": {"title"},
    "diff": {"path", "against", "limit", "max_entries", "title"},
    "summary": {"title"},
}


class FenceError(ImagefsError, SuperFencesException):
    """A mistake in an ``imagefs`` fence; fails the build (superfences re-raises it)."""


class _State:
    """What the MkDocs plugin tells the fence; all ``None`` when the fence runs alone."""

    def __init__(self) -> None:
        self.snapshots_dir: Path | None = None
        self.max_entries: int = DEFAULT_MAX_ENTRIES
        self.page: str | None = None  # the page being rendered (src path), for messages
        self.page_link: Callable[[str, str], str] | None = None  # (snapshot, anchor) -> url
        self.usage: list[tuple[str | None, str]] = []  # (page, snapshot) per fence
        self.cache: dict[Path, tuple[int, int, Snapshot]] = {}


state = _State()


def configure(*, snapshots_dir: str | os.PathLike[str] | None = None, max_entries: int | None = None,
              page_link: Callable[[str, str], str] | None = None) -> None:
    """Set where snapshots are and how truncated listings link to per-image pages."""
    state.snapshots_dir = Path(snapshots_dir) if snapshots_dir else None
    if max_entries is not None:
        state.max_entries = max_entries
    state.page_link = page_link


def reset(*, keep_cache: bool = False) -> None:
    """Forget plugin settings, the current page and recorded usage (and the cache, unless
    ``keep_cache``: ``mkdocs serve`` rebuilds keep parsed snapshots whose files did not change)."""
    global state
    cache = state.cache
    state = _State()
    if keep_cache:
        state.cache = cache


def set_page(page: str | None) -> None:
    state.page = page


def snapshots_dir() -> Path:
    if state.snapshots_dir:
        return state.snapshots_dir
    env = os.environ.get("IMAGEFS_SNAPSHOTS")
    if env:
        return Path(env)
    return Path.cwd() / DEFAULT_DIR


def get_snapshot(name: str) -> Snapshot:
    """Load snapshot ``name``, reusing the parsed copy while its file is unchanged."""
    directory = snapshots_dir()
    path = directory / f"{name}.json"
    try:
        st = path.stat()
    except OSError:
        return load_snapshot(directory, name)  # raises NotFoundError with the fix
    hit = state.cache.get(path)
    if hit and hit[0] == st.st_mtime_ns and hit[1] == st.st_size:
        return hit[2]
    snap = load_snapshot(directory, name)
    state.cache[path] = (st.st_mtime_ns, st.st_size, snap)
    return snap


# -- superfences entry points ---------------------------------------------------------

def validate(language: str, inputs: dict[str, str], options: dict[str, Any], attrs: dict[str, str], md: Any) -> bool:
    """Accept every ``imagefs`` fence; header attributes (``{.imagefs title="x"}``) become options.

    The options are checked in :func:`format`, where the YAML body is known.
    """
    for key, value in inputs.items():
        options[key] = value
    return True


def format(src: str, language: str, class_name: str, options: dict[str, Any], md: Any, **kwargs: Any) -> str:  # noqa: A001
    """Render the fence body ``src`` (YAML options) as HTML."""
    opts = _parse(src, options)
    name = opts["snapshot"]
    state.usage.append((state.page, name))
    if "against" in opts:
        state.usage.append((state.page, opts["against"]))
    view = opts["view"]
    snap = _load(name, "snapshot")
    tree = snap.tree
    limit = opts.get("limit", opts.get("max_entries", state.max_entries))
    path = opts.get("path", "/")
    against = _load(opts["against"], "against") if view == "diff" else None
    if path != "/" and path not in tree and not (against and path in against.tree):
        _fail(name, "path", f"{path} is not in the image",
              f"pick an existing path (see `imagefs list` of {snap.reference or name})")
    for p in opts.get("highlight", ()):
        if p not in tree:
            _fail(name, "highlight", f"{p} is not in the image", "remove it or fix the path")
    more_url = state.page_link(name, path) if state.page_link else None
    title = opts.get("title")
    if view == "tree":
        from .render.html import tree as r

        return r.render(snap, path=path, depth=opts.get("depth"), limit=limit, highlight=opts.get("highlight", ()),
                        expand=opts.get("expand", 1), title=title, more_url=more_url)
    if view == "ls":
        from .render.html import ls as r

        return r.render(snap, path=path, depth=opts.get("depth", 1), limit=limit,
                        highlight=opts.get("highlight", ()), title=title, more_url=more_url)
    if view == "layers":
        from .render.html import layers as r

        return r.render(snap, title=title)
    if view == "diff":
        from .render.html import diff as r

        return r.render(snap, against, path=path, limit=limit, title=title, more_url=None)
    from .render.html import summary as r

    page_url = state.page_link(name, "/").split("#", 1)[0] if state.page_link else None
    if page_url in ("./", "index.html"):  # the summary on the image's own page
        page_url = None
    return r.render(snap, title=title, page_url=page_url)


# -- option checking --------------------------------------------------------------------

def _where() -> str:
    return f"{state.page}: " if state.page else ""


def _fail(snapshot: str | None, option: str | None, problem: str, fix: str) -> None:
    what = f"imagefs fence (snapshot {snapshot})" if snapshot else "imagefs fence"
    opt = f": option '{option}'" if option else ""
    raise FenceError(f"{_where()}{what}{opt}: {problem}; {fix}".replace("\n", " "))


def _load(name: str, option: str) -> Snapshot:
    try:
        return get_snapshot(name)
    except ImagefsError as err:
        raise FenceError(f"{_where()}imagefs fence: option '{option}': {err}") from err


def _int(name: str | None, key: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        _fail(name, key, f"{value!r} is not a whole number >= {minimum}", f"write for example `{key}: {max(minimum, 2)}`")
    return value


def _abs_path(name: str | None, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("/"):
        _fail(name, key, f"{value!r} is not an absolute path", f"write it like `{key}: /etc`")
    norm = posixpath.normpath(value)
    return "/" if norm in ("/", "//") else norm


def _parse(src: str, header: dict[str, Any]) -> dict[str, Any]:
    try:
        body = yaml.safe_load(src) if src.strip() else {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        _fail(None, None, f"the options are not valid YAML{at} ({problem})",
              "write one `key: value` per line, e.g. `snapshot: NAME`")
    if not isinstance(body, dict):
        _fail(None, None, "the body must be YAML `key: value` lines", "write e.g. `snapshot: NAME` and `view: tree`")
    raw = {**header, **body}
    name = raw.get("snapshot")
    if name is None:
        _fail(None, "snapshot", "is missing", "add `snapshot: NAME` naming a file docs/snapshots/NAME.json")
    if not isinstance(name, str) or not NAME_RE.match(name):
        _fail(None, "snapshot", f"{name!r} is not a snapshot name",
              "use lowercase letters, digits, '.', '_' and '-' (the file name without .json)")
    for key in raw:
        if key not in OPTIONS:
            _fail(name, str(key), "is unknown", "use one of: " + ", ".join(OPTIONS))
    view = raw.get("view", "tree")
    if view not in VIEWS:
        _fail(name, "view", f"{view!r} is not a view", "use one of: " + ", ".join(VIEWS))
    allowed = _VIEW_OPTIONS[view] | {"snapshot", "view"}
    for key in raw:
        if key not in allowed:
            fix = "add `view: diff` or remove it" if key == "against" else f"remove it (view {view} takes: {', '.join(sorted(allowed))})"
            _fail(name, key, f"does not apply to view {view}", fix)
    opts: dict[str, Any] = {"snapshot": name, "view": view}
    if "path" in raw:
        opts["path"] = _abs_path(name, "path", raw["path"])
    if "depth" in raw:
        opts["depth"] = _int(name, "depth", raw["depth"], 1)
    if "expand" in raw:
        opts["expand"] = _int(name, "expand", raw["expand"], 0)
    for key in ("limit", "max_entries"):
        if key in raw:
            opts[key] = _int(name, key, raw[key], 0)
    if "highlight" in raw:
        hl = raw["highlight"]
        items = [hl] if isinstance(hl, str) else hl
        if not isinstance(items, list) or not items:
            _fail(name, "highlight", f"{hl!r} is not a path or a list of paths", "write `highlight: [/etc/passwd]`")
        opts["highlight"] = [_abs_path(name, "highlight", p) for p in items]
    if "title" in raw:
        if not isinstance(raw["title"], (str, int, float)):
            _fail(name, "title", f"{raw['title']!r} is not text", "write `title: Some words`")
        opts["title"] = str(raw["title"])
    if view == "diff":
        against = raw.get("against")
        if against is None:
            _fail(name, "against", "is missing (view diff compares two snapshots)", "add `against: OTHER-SNAPSHOT`")
        if not isinstance(against, str) or not NAME_RE.match(against):
            _fail(name, "against", f"{against!r} is not a snapshot name", "use the file name without .json")
        opts["against"] = against
    return opts
