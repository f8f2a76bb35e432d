"""The JSON v1 listing document, serialised deterministically.

Schema (``schema`` = 1)
=======================

A listing is one JSON object::

    {
      "schema": 1,
      "generator": {"name": "imagefs", "version": "0.1.0"},
      "image": {
        "reference": "oci:images/demo:latest",
        "manifest_digest": "sha256:…",     # the platform manifest listed
        "platform": "linux/amd64",
        "media_type": "application/vnd.oci.image.manifest.v1+json",
        "config_digest": "sha256:…",
        "created": "2024-05-01T13:07:00Z",  # from the config, or null
        "config": {…},                       # selected config fields (may be {})
        "layers": [                          # base first
          {"index": 0, "digest": "sha256:…", "diff_id": "sha256:…", "size": 1234,
           "media_type": "…tar+gzip", "created_by": "RUN …" | null,
           "uncompressed_size": 10240 | null, "entries": 12,
           "added": 12, "modified": 0, "deleted": 0, "wasted": 0}
        ]
      },
      "entries": [                           # sorted by path (code point order)
        {"path": "/etc/passwd",              # absolute; the root "/" is not an entry
         "type": "file",                     # file|dir|symlink|hardlink|char|block|fifo
         "mode": 420,                        # int: permission + setuid/setgid/sticky bits
         "uid": 0, "gid": 0,
         "size": 1234,                       # bytes (hardlink: its target's size)
         "mtime": 1714568820,                # seconds since the epoch, UTC
         "target": "…",                      # symlink text / hardlink target path (only then)
         "layer": 2,                         # 0-based index of the layer that last wrote it
         "xattrs": ["security.capability"],  # xattr names (only when there are any)
         "devmajor": 1, "devminor": 3,       # char and block devices only
         "implicit": true}                   # a parent directory no layer wrote (only then)
      ]
    }

``image`` is ``null`` for a tree that did not come from an image. Readers must ignore
keys they do not know; a new ``schema`` number means an incompatible change.

Encoding
--------

Output is UTF-8 with object keys sorted and two-space indentation, ending in a newline,
except that each element of ``entries`` is written on one line
(:func:`dumps_listing`): the same tree always gives the same bytes, and a committed
snapshot's diff shows one line per changed path.

Names are byte strings in a layer. Bytes that are not valid UTF-8 are carried in memory
as lone surrogates (PEP 383 ``surrogateescape``: byte ``0xff`` is U+DCFF) and written as
the JSON escape ``\\udcff``. Reading the document back with any JSON parser gives the
same lone surrogate, and ``path.encode("utf-8", "surrogateescape")`` gives the original
bytes. Characters that are invisible or deceptive in a text file (bidi controls such as
U+202E, zero-width characters, U+2028/U+2029, C1 controls, private use and unassigned
code points) are written as ``\\uXXXX`` escapes too, so a committed snapshot cannot hide
text from a reviewer ("Trojan Source"); they parse back to the same characters. Other
non-ASCII text (``café``) is written as UTF-8.
"""

from __future__ import annotations

import json as _json
import re
import unicodedata
from typing import Any

from ..tree import Tree

_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_ESCAPE_CATEGORIES = frozenset(("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"))


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    if unicodedata.category(ch) not in _ESCAPE_CATEGORIES:
        return ch
    o = ord(ch)
    if o > 0xFFFF:  # astral: a UTF-16 surrogate pair, as JSON requires
        o -= 0x10000
        return f"\\u{0xD800 + (o >> 10):04x}\\u{0xDC00 + (o & 0x3FF):04x}"
    return f"\\u{o:04x}"


def _safe(text: str) -> str:
    if not text.isascii():
        # Non-ASCII characters only occur inside JSON strings (the syntax is ASCII), so
        # replacing one by its \u escape keeps the document valid and equal.
        text = _NON_ASCII.sub(_escape, text)
    return text


def dumps(doc: Any, *, indent: int | None = 2) -> str:
    """Serialise ``doc`` deterministically (sorted keys; see the module docstring).

    The result contains no lone surrogate, so it can always be written as UTF-8.
    """
    return _safe(_json.dumps(doc, ensure_ascii=False, sort_keys=True, indent=indent, allow_nan=False)) + "\n"


_compact = _json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(", ", ": "), allow_nan=False).encode


def dumps_listing(doc: dict[str, Any]) -> str:
    """The canonical layout of a listing document: one entry per line.

    Like :func:`dumps` (sorted keys, two-space indentation) except that each element of
    ``entries`` is written on one line, so a snapshot's diff shows one line per changed
    path, and large listings serialise with the C encoder.
    """
    rest = {k: v for k, v in doc.items() if k != "entries"}
    entries = doc.get("entries") or []
    outer = _json.dumps(rest, ensure_ascii=False, sort_keys=True, indent=2, allow_nan=False)
    if entries:
        block = '  "entries": [\n    ' + ",\n    ".join(_compact(e) for e in entries) + "\n  ]"
    else:
        block = '  "entries": []'
    if rest:
        # "entries" sorts before every other key of a listing ("generator", "image", "schema").
        assert min(rest) > "entries", "dumps_listing expects 'entries' to sort first"
        text = "{\n" + block + ",\n" + outer[2:]
    else:
        text = "{\n" + block + "\n}"
    return _safe(text) + "\n"


def loads(text: str | bytes) -> Any:
    """Parse a document written by :func:`dumps` (lone-surrogate escapes come back as is)."""
    return _json.loads(text)


def subtree(tree: Tree, path: str = "/", depth: int | None = None, *, where: str = "the image") -> Tree:
    """The part of ``tree`` at and below ``path`` (``depth`` levels), with its ancestors.

    The ancestors keep the result a valid tree (``Tree.from_json`` needs every parent),
    so ``/etc/ssl`` gives ``/etc``, ``/etc/ssl`` and everything under it. A ``path``
    through symlinks resolves to the real directory first.
    """
    from .fields import lookup

    start = lookup(tree, path, follow_last=True, where=where)
    if start.path == "/" and depth is None:
        return tree
    out = Tree(tree.image)
    parts = [p for p in start.path.split("/") if p]
    cur = ""
    for part in parts:
        cur += "/" + part
        entry = tree.get(cur)
        assert entry is not None
        out.add(entry)
    if start.type == "dir":
        for _, entry in tree.walk(start.path, depth):
            out.add(entry)
    return out


def render(tree: Tree, *, indent: int | None = 2, path: str = "/", depth: int | None = None,
           where: str = "the image") -> str:
    """The JSON v1 document of ``tree`` (or of the :func:`subtree` at ``path``)."""
    if path not in ("/", "") or depth is not None:
        tree = subtree(tree, path, depth, where=where)
    doc = tree.to_json()
    return dumps_listing(doc) if indent == 2 else dumps(doc, indent=indent)
