"""The MkDocs plugin ``imagefs``: wires the fence, the snapshots and the assets into a site.

It only wires things up; the listing HTML comes from the fence (:mod:`imagefs.fence`)::

    plugins:
      - search
      - imagefs:
          max_entries: 100        # entries per embedded listing before "N more…"
          max_age_days: 90        # warn when a snapshot is older (0: never)

- registers the ``imagefs`` superfences fence when ``mkdocs.yml`` did not;
- tells the fence where the snapshots are (``snapshots_dir``, default ``<docs_dir>/snapshots``)
  and adds that directory to ``watch`` when it lies outside ``docs_dir``;
- adds ``assets/imagefs/imagefs.css`` and ``imagefs.js`` to the site;
- generates ``images/<name>/`` per snapshot (summary, layers, full tree, JSON download) and
  ``images/`` listing them all;
- warns (so ``mkdocs build --strict`` fails) when a snapshot is older than ``max_age_days``,
  and when a page uses a snapshot that has no entry in the listings config
  (``<snapshots_dir>/listings.yml``, only when that file exists).

Every hook does nothing when ``enabled`` is false.
"""

from __future__ import annotations

import datetime as _dt
import functools
import logging
import posixpath
from pathlib import Path
from typing import Any

import yaml
from pymdownx.superfences import SuperFencesException
from mkdocs.config import config_options as c
from mkdocs.config.base import Config
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin
from mkdocs.structure.files import File, Files

from . import fence
from .render.html.markup import anchor_id
from .snapshot import list_snapshots, load_snapshot
from .errors import ImagefsError

log = logging.getLogger("mkdocs.plugins.imagefs")

ASSETS = Path(__file__).with_name("assets")
ASSET_DIR = "assets/imagefs"
FENCE = {"name": "imagefs", "class": "imagefs", "validator": fence.validate, "format": fence.format}


class ImagefsConfig(Config):
    enabled = c.Type(bool, default=True)
    snapshots_dir = c.Type(str, default="")
    max_entries = c.Type(int, default=fence.DEFAULT_MAX_ENTRIES)
    max_age_days = c.Type(int, default=90)
    listings_config = c.Type(str, default="")
    pages_dir = c.Type(str, default="images")


class FenceBuildError(PluginError, SuperFencesException):
    """A fence mistake as MkDocs reports it: one line and "Aborted with a BuildError!", no traceback.

    It is still a ``SuperFencesException`` so superfences lets it through.
    """


def _build_errors(fmt: Any) -> Any:
    """Wrap the fence formatter so its errors stop the build as MkDocs build errors."""

    @functools.wraps(fmt)
    def format(*args: Any, **kwargs: Any) -> str:  # noqa: A001
        try:
            return fmt(*args, **kwargs)
        except fence.FenceError as err:
            raise FenceBuildError(str(err)) from err

    format._imagefs_wrapped = True  # type: ignore[attr-defined]
    return format


class ImagefsPlugin(BasePlugin[ImagefsConfig]):
    def __init__(self) -> None:
        self.snapshots: list[str] = []
        self.snapshots_path = Path("docs/snapshots")
        self.use_directory_urls = True
        self.page_url = ""
        self._docs_dir = "docs"

    # -- configuration -----------------------------------------------------------------
    def on_config(self, config: Any) -> Any:
        if not self.config.enabled:
            return config
        docs_dir = Path(config["docs_dir"])
        self._docs_dir = str(docs_dir)
        project = Path(config.config_file_path).parent if config.config_file_path else Path.cwd()
        given = self.config.snapshots_dir
        self.snapshots_path = (project / given).resolve() if given else docs_dir / "snapshots"
        self.use_directory_urls = config["use_directory_urls"]
        self._register_fence(config)
        if not _is_within(self.snapshots_path, docs_dir) and str(self.snapshots_path) not in config["watch"]:
            config["watch"].append(str(self.snapshots_path))
        for key, name in (("extra_css", "imagefs.css"), ("extra_javascript", "imagefs.js")):
            uri = f"{ASSET_DIR}/{name}"
            if uri not in [str(x) for x in config[key]]:
                config[key].append(uri)
        return config

    def _register_fence(self, config: Any) -> None:
        exts = config["markdown_extensions"]
        if "pymdownx.superfences" not in exts:
            exts.append("pymdownx.superfences")
        mdx = config["mdx_configs"].setdefault("pymdownx.superfences", {})
        fences = mdx.setdefault("custom_fences", [])
        if not any(f.get("name") == "imagefs" for f in fences):
            fences.append(dict(FENCE))
        for f in fences:
            if f.get("name") == "imagefs" and not getattr(f.get("format"), "_imagefs_wrapped", False):
                f["format"] = _build_errors(f.get("format") or fence.format)

    def on_pre_build(self, config: Any) -> None:
        if not self.config.enabled:
            return
        fence.reset(keep_cache=True)  # entries are keyed by mtime and size: a changed file is re-read
        fence.configure(snapshots_dir=self.snapshots_path, max_entries=self.config.max_entries,
                        page_link=self._link)
        self.snapshots = list_snapshots(self.snapshots_path)
        self._check_ages()

    # -- generated files ----------------------------------------------------------------
    def on_files(self, files: Files, config: Any) -> Files:
        if not self.config.enabled:
            return files
        for name in ("imagefs.css", "imagefs.js"):
            uri = f"{ASSET_DIR}/{name}"
            # A site that also builds without the plugin (Zensical) keeps the assets in its
            # docs (e.g. symlinks to the package's); the plugin then has nothing to add.
            if files.get_file_from_path(uri) is None:
                files.append(File.generated(config, uri, abs_src_path=str(ASSETS / name)))
        listings = self._listings_path()
        for f in list(files):
            if Path(f.abs_src_path or "") == listings:
                files.remove(f)  # the refresh recipe's config is not site content
        base = self.config.pages_dir.strip("/")
        for name in self.snapshots:
            uri = f"{base}/{name}/index.md"
            if files.get_file_from_path(uri) is None:
                files.append(File.generated(config, uri, content=self._image_page(name, config)))
        index = f"{base}/index.md"
        if files.get_file_from_path(index) is None:
            files.append(File.generated(config, index, content=self._index_page()))
        return files

    def _json_url(self, name: str) -> str | None:
        """Where the snapshot JSON is published, relative to the site root (if it is)."""
        docs_dir = Path(self._docs_dir)
        path = self.snapshots_path / f"{name}.json"
        if not _is_within(path, docs_dir):
            return None
        return path.resolve().relative_to(docs_dir.resolve()).as_posix()

    def _image_page(self, name: str, config: Any) -> str:
        json_url = self._json_url(name)
        # Generated pages live at <pages_dir>/<name>/index.md: ../../ reaches the docs root.
        download = f"\n[Download the snapshot JSON](../../{json_url}){{: download }}\n" if json_url else ""
        if download and "attr_list" not in config["markdown_extensions"]:
            download = f"\n[Download the snapshot JSON](../../{json_url})\n"
        return (
            f"# Image `{name}`\n\n"
            f"```imagefs\nsnapshot: {name}\nview: summary\n```\n{download}\n"
            f"## Layers\n\n```imagefs\nsnapshot: {name}\nview: layers\n```\n\n"
            f"## Filesystem\n\n```imagefs\nsnapshot: {name}\nview: tree\nlimit: 0\nexpand: 1\n```\n"
        )

    def _index_page(self) -> str:
        lines = ["# Images\n", "Every image whose filesystem the articles show, from its committed snapshot.\n"]
        if not self.snapshots:
            lines.append("No snapshots yet: create one with `imagefs snapshot NAME IMAGE`.\n")
        for name in self.snapshots:
            lines.append(f"## [{name}]({name}/index.md)\n\n```imagefs\nsnapshot: {name}\nview: summary\n```\n")
        return "\n".join(lines)

    # -- pages ---------------------------------------------------------------------------
    def on_page_markdown(self, markdown: str, page: Any, config: Any, files: Files) -> str:
        if not self.config.enabled:
            return markdown
        fence.set_page(page.file.src_uri)
        self.page_url = page.url
        return markdown

    def on_page_content(self, html: str, page: Any, config: Any, files: Files) -> str:
        if not self.config.enabled:
            return html
        known = self._listed_names()
        if known is not None:
            base = self.config.pages_dir.strip("/") + "/"
            for where, name in fence.state.usage:
                if where == page.file.src_uri and name not in known and not where.startswith(base):
                    log.warning(
                        "%s uses snapshot '%s', which has no entry in %s; add one there so "
                        "`imagefs refresh` can regenerate it", where, name, self._listings_path())
        fence.set_page(None)
        return html

    def _link(self, name: str, path: str) -> str:
        """URL of ``path`` on snapshot ``name``'s page, relative to the page being rendered."""
        base = self.config.pages_dir.strip("/")
        target = f"{base}/{name}/" if self.use_directory_urls else f"{base}/{name}/index.html"
        url = self.page_url or ""
        here = url if url.endswith("/") or not url else posixpath.dirname(url) + "/"
        rel = posixpath.relpath(target, here.rstrip("/") or ".")
        if self.use_directory_urls and not rel.endswith("/"):
            rel += "/"
        return rel + ("" if path == "/" else "#" + anchor_id(name, path))

    # -- warnings -------------------------------------------------------------------------
    def _check_ages(self) -> None:
        days = self.config.max_age_days
        if days <= 0:
            return
        now = _dt.datetime.now(_dt.timezone.utc)
        for name in self.snapshots:
            try:
                snap = load_snapshot(self.snapshots_path, name)
            except ImagefsError as err:
                log.warning("snapshot %s: %s", name, err)
                continue
            stamp = _parse_time(snap.generated_at)
            if stamp is None:
                log.warning("snapshot %s has no valid generated_at; regenerate it with `imagefs snapshot %s %s`",
                            name, name, snap.reference or "IMAGE")
            elif (now - stamp).days > days:
                log.warning("snapshot %s was generated %s, more than %d days ago; refresh it with "
                            "`imagefs snapshot %s %s`", name, snap.generated_at, days, name, snap.reference or "IMAGE")

    def _listings_path(self) -> Path:
        given = self.config.listings_config
        return Path(given).resolve() if given else self.snapshots_path / "listings.yml"

    def _listed_names(self) -> set[str] | None:
        path = self._listings_path()
        if not path.is_file():
            return None
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as err:
            log.warning("cannot read the listings config %s: %s", path, str(err).replace("\n", " "))
            return set()
        return _names_in(doc)


def _names_in(doc: Any) -> set[str]:
    """Snapshot names in the listings config (``snapshots: [{name: ..., image: ...}]``, the
    recipes' format; a plain mapping name -> source, or a list of ``{name: ...}``, also work)."""
    for key in ("snapshots", "listings"):
        if isinstance(doc, dict) and isinstance(doc.get(key), (dict, list)):
            doc = doc[key]
            break
    if isinstance(doc, dict):
        return {str(k) for k in doc}
    if isinstance(doc, list):
        return {str(x["name"]) for x in doc if isinstance(x, dict) and "name" in x}
    return set()


def _parse_time(text: str | None) -> _dt.datetime | None:
    if not text:
        return None
    try:
        t = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=_dt.timezone.utc)


def _is_within(path: Path, directory: Path) -> bool:
    try:
        Path(path).resolve().relative_to(Path(directory).resolve())
        return True
    except ValueError:
        return False
