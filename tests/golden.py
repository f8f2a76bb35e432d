"""Golden-file checks: ``check_golden("name.txt", text)`` compares with tests/golden/.

Set ``IMAGEFS_UPDATE_GOLDEN=1`` to (re)write the files instead, then review the diff
with ``git diff tests/golden`` before committing.
"""

from __future__ import annotations

import os
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent / "golden"


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    data = text.encode("utf-8")
    if os.environ.get("IMAGEFS_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        return
    assert path.exists(), f"missing golden file {path}; run with IMAGEFS_UPDATE_GOLDEN=1 to create it"
    expected = path.read_bytes().decode("utf-8")
    assert text == expected, f"output differs from {path} (IMAGEFS_UPDATE_GOLDEN=1 rewrites it)"
