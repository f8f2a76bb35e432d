"""HTML views of snapshots for the ``imagefs`` fence and the per-image pages.

One module per view, each a pure function ``render(snapshot, **options) -> str``:
:mod:`.tree`, :mod:`.ls`, :mod:`.layers`, :mod:`.diff` (which also takes ``against``) and
:mod:`.summary`. Every name, target and option is escaped (:mod:`.markup`).
"""

from __future__ import annotations

VIEWS = ("tree", "ls", "layers", "diff", "summary")
