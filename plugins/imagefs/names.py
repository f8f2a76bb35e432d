"""Showing untrusted names safely: control characters, bidi overrides and bad bytes made visible.

Image content is untrusted. A file name can hold a newline, an ANSI escape, U+202E
(RIGHT-TO-LEFT OVERRIDE) or bytes that are not UTF-8. Text renderers pass every name
through :func:`visible`; HTML renderers escape the result of :func:`visible`.
"""

from __future__ import annotations

import unicodedata

_SIMPLE = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def visible(name: str, *, escape_backslash: bool = False) -> str:
    """Return ``name`` with every invisible or deceptive character shown as an escape.

    - bytes that were not UTF-8 (lone surrogates U+DC80..U+DCFF) become ``\\xNN``;
    - C0/C1 controls and DEL become ``\\n``, ``\\t``, ``\\x1b``...;
    - format characters (bidi overrides such as U+202E, zero-width joiners) and other
      unassigned or separator code points become ``\\uXXXX``.

    A backslash is an ordinary character in a Linux name and is kept as is, unless
    ``escape_backslash`` asks for an unambiguous form.
    """
    if name.isprintable() and name.isascii() and "\\" not in name:
        return name
    out = []
    for ch in name:
        o = ord(ch)
        if ch == "\\":
            out.append("\\\\" if escape_backslash else ch)
        elif ch in _SIMPLE:
            out.append(_SIMPLE[ch])
        elif 0xDC80 <= o <= 0xDCFF:
            out.append(f"\\x{o - 0xDC00:02x}")
        elif o < 0x20 or o == 0x7F or 0x80 <= o < 0xA0:
            out.append(f"\\x{o:02x}")
        elif o > 0x7F and unicodedata.category(ch) in ("Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            out.append(f"\\u{o:04x}" if o <= 0xFFFF else f"\\U{o:08x}")
        else:
            out.append(ch)
    return "".join(out)
