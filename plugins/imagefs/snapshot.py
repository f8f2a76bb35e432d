"""The snapshot store: digest-pinned listings committed to the repo, one JSON file per image.

Snapshots live in ``docs/snapshots/<name>.json``. That directory is chosen because:

- it sits inside MkDocs' ``docs_dir``, so ``mkdocs serve`` watches it and rebuilds when a
  snapshot is refreshed (the plugin also adds it to ``watch`` when it is configured elsewhere);
- everything in ``docs_dir`` is published, so each snapshot's JSON is downloadable from its
  per-image page (``/snapshots/<name>.json``) under MkDocs *and* under Zensical;
- the fence finds it relative to the docs directory (``docs/snapshots`` from the project
  root, where both site generators run) without any plugin.

A snapshot is the engine's JSON v1 document (:meth:`imagefs.tree.Tree.to_json`: ``schema``,
``generator`` with the tool version, ``image``, ``entries``) plus ``name``, the source
``reference``, the resolved ``manifest_digest``, ``platform`` and ``generated_at``.

The file is deterministic so a refresh is a reviewable diff: keys sorted, entries sorted by
path and written one per line, no timestamp but ``generated_at``, which is kept from the old
file when the manifest digest did not change (so regenerating an unchanged image changes no
byte). The layout is the render helper's canonical listing encoding
(:func:`imagefs.render.json.dumps_listing`): names that are not UTF-8 are stored as
lone-surrogate escapes (``"\\udcff"``), which ``json.loads`` turns back into the same ``str``.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ImagefsError, NotFoundError, UsageError
from .render.json import dumps_listing
from .tree import SCHEMA_VERSION, Entry, ImageInfo, Tree

NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]*\Z")
SUFFIX = ".json"
DEFAULT_DIR = Path("docs") / "snapshots"


@dataclass(slots=True)
class Snapshot:
    """A loaded snapshot: its metadata and the merged tree."""

    name: str
    reference: str
    manifest_digest: str | None
    platform: str | None
    generated_at: str | None
    tree: Tree
    path: Path


def check_name(name: str) -> str:
    """Return ``name`` if it is a valid snapshot name, else raise :class:`UsageError`."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise UsageError(
            f"snapshot name {name!r} is invalid: use lowercase letters, digits, '.', '_' and '-', "
            "starting with a letter or digit (for example debian-bookworm)"
        )
    return name


def snapshot_path(directory: str | os.PathLike[str], name: str) -> Path:
    return Path(directory) / f"{check_name(name)}{SUFFIX}"


def dumps(doc: dict[str, Any]) -> bytes:
    """Serialise a snapshot document deterministically: the canonical listing layout.

    This is :func:`imagefs.render.json.dumps_listing` (keys sorted, one entry per line,
    non-UTF-8 bytes as ``\\udcNN`` escapes, bidi and invisible characters as ``\\uXXXX``
    so a committed snapshot cannot hide text from a reviewer), so ``imagefs list --json``
    and a snapshot share one format.
    """
    return dumps_listing(doc).encode("utf-8")


def _now() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    t = int(epoch) if epoch and epoch.isdigit() else int(time.time())
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def build_document(name: str, tree: Tree, *, reference: str, platform: str | None,
                   generated_at: str) -> dict[str, Any]:
    doc = tree.to_json()
    image = doc.get("image") or {}
    doc.update(
        name=name,
        reference=reference,
        manifest_digest=image.get("manifest_digest"),
        platform=platform if platform is not None else image.get("platform"),
        generated_at=generated_at,
    )
    return doc


def _read_doc(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError):
        return None


def write_snapshot(directory: str | os.PathLike[str], name: str, tree: Tree, *, reference: str,
                   platform: str | None) -> Path:
    """Write ``<directory>/<name>.json`` atomically and return its path.

    ``generated_at`` is kept from the existing file when its manifest digest equals the new
    one (or, for images without a digest, when nothing else changed); the file is only
    replaced when its bytes change.
    """
    path = snapshot_path(directory, name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        why = "a file is in the way" if isinstance(err, (FileExistsError, NotADirectoryError)) else err.strerror
        raise ImagefsError(
            f"snapshot directory {path.parent}: cannot create it ({why}); "
            "give a directory you can write to with --dir"
        ) from err
    old = _read_doc(path) if path.exists() else None
    doc = build_document(name, tree, reference=reference, platform=platform, generated_at=_now())
    if old and old.get("generated_at"):
        same_digest = doc["manifest_digest"] is not None and old.get("manifest_digest") == doc["manifest_digest"]
        same_rest = {k: v for k, v in old.items() if k != "generated_at"} == {
            k: v for k, v in json.loads(dumps(doc).decode("utf-8")).items() if k != "generated_at"
        }
        if same_digest or same_rest:
            doc["generated_at"] = old["generated_at"]
    data = dumps(doc)
    try:
        if path.exists() and path.read_bytes() == data:
            return path
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
    except OSError as err:
        raise ImagefsError(f"writing snapshot {path}: {err}") from err
    return path


def load_snapshot(directory: str | os.PathLike[str], name: str) -> Snapshot:
    """Load ``<directory>/<name>.json``; :class:`NotFoundError` says how to create it."""
    path = snapshot_path(directory, name)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        default = Path(directory).resolve() == (Path.cwd() / DEFAULT_DIR).resolve()
        opt = "" if default else f" --dir {directory}"
        raise NotFoundError(
            f"snapshot {name!r} not found: {path} does not exist; create it with "
            f"`imagefs snapshot {name} IMAGE{opt}` (IMAGE: a registry reference, "
            "oci:DIR or docker-archive:FILE)"
        ) from None
    except OSError as err:
        raise ImagefsError(f"reading snapshot {path}: {err}") from err
    try:
        doc = json.loads(raw.decode("utf-8"))
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
        tree = _tree_from_doc(doc)
    except ImagefsError as err:
        # Same type (callers branch on it), with the file named: "snapshot PATH: ...".
        raise type(err)(f"snapshot {path}: {err}") from err
    except (ValueError, KeyError, TypeError) as err:
        raise ImagefsError(
            f"snapshot {path} is not a valid imagefs listing ({err}); regenerate it with "
            f"`imagefs snapshot {name} IMAGE`"
        ) from err
    return Snapshot(
        name=doc.get("name") or name,
        reference=doc.get("reference") or (tree.image.reference if tree.image else ""),
        manifest_digest=doc.get("manifest_digest"),
        platform=doc.get("platform"),
        generated_at=doc.get("generated_at"),
        tree=tree,
        path=path,
    )


def _tree_from_doc(doc: dict[str, Any]) -> Tree:
    """``Tree.from_json``, faster for the canonical file (entries sorted by path, known keys).

    A page with twenty listings loads each snapshot once per build; a sorted document
    needs no re-sort and its entries map straight onto :class:`Entry`. Anything else
    (hand-edited order, keys from a newer schema) takes the general path.
    """
    if doc.get("schema") == SCHEMA_VERSION:
        try:
            image = doc.get("image")
            tree = Tree(ImageInfo.from_json(image) if image else None)
            add = tree.add
            for d in doc.get("entries", ()):
                if "xattrs" in d:
                    d = {**d, "xattrs": tuple(d["xattrs"])}
                add(Entry(**d))
            return tree
        except (KeyError, TypeError):
            pass
    return Tree.from_json(doc)


def list_snapshots(directory: str | os.PathLike[str]) -> list[str]:
    """Names of the snapshots in ``directory``, sorted (files with invalid names are ignored)."""
    d = Path(directory)
    if not d.is_dir():
        return []
    names = [p.name[: -len(SUFFIX)] for p in d.iterdir() if p.name.endswith(SUFFIX) and p.is_file()]
    return sorted(n for n in names if NAME_RE.match(n))
