"""Text renderers over the merged tree: ``tree``, ``ls``, ``json``, ``layers`` and ``diff``.

Each module has a pure ``render(tree, **options) -> str``: deterministic (same tree,
same bytes), no I/O, and every name or link target passes through
:func:`imagefs.names.visible`, so hostile names (newlines, ANSI escapes, U+202E,
bytes that are not UTF-8) are shown as escapes. Shared field formatting (mode strings,
human sizes, times) and path lookup live in :mod:`imagefs.render.fields`.
"""

FORMATS = ("tree", "ls", "json", "layers")
