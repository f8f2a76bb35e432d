"""A small MkDocs site for the plugin, Zensical and browser tests, written into a directory."""

from __future__ import annotations

import textwrap
from pathlib import Path

import os

import site_trees as st

IN_CI = bool(os.environ.get("CI"))

FENCE_CONFIG = """\
markdown_extensions:
  - attr_list
  - pymdownx.superfences:
      custom_fences:
        - name: imagefs
          class: imagefs
          validator: !!python/name:imagefs.fence.validate
          format: !!python/name:imagefs.fence.format
"""

ARTICLE = """\
# Inside the fixture image

See also [the other page](other.md). The root of the image:

```imagefs
snapshot: small
view: tree
highlight: [/etc/passwd]
```

## /etc as ls -la

```imagefs
snapshot: small
view: ls
path: /etc
```

## Layers

```imagefs
snapshot: small
view: layers
```

## What changed in v2

```imagefs
snapshot: other
view: diff
against: small
```

```imagefs
snapshot: small
view: summary
```
"""

OTHER = """\
# Another page

Instant navigation target.

```imagefs
snapshot: other
view: tree
path: /etc
```
"""


def write_site(root: Path, *, plugin: bool = True, fence_in_yaml: bool = False, strict_extra: str = "",
               big: bool = False, site_url: str = "http://127.0.0.1/") -> Path:
    docs = root / "docs"
    snaps = docs / "snapshots"
    snaps.mkdir(parents=True, exist_ok=True)
    st.write(snaps, "small", st.small_tree())
    st.write(snaps, "other", st.other_tree())
    if big:
        st.write(snaps, "big", st.big_tree())
    (docs / "index.md").write_text("# Fixture site\n\n- [Article](article.md)\n- [Other](other.md)\n")
    (docs / "article.md").write_text(ARTICLE)
    (docs / "other.md").write_text(OTHER)
    cfg = textwrap.dedent("""\
        site_name: imagefs fixture
        site_url: {site_url}
        theme:
          name: material
          features:
            - navigation.instant
          palette:
            - media: "(prefers-color-scheme: light)"
              scheme: default
              toggle: {icon: material/brightness-7, name: dark mode}
            - media: "(prefers-color-scheme: dark)"
              scheme: slate
              toggle: {icon: material/brightness-4, name: light mode}
        nav:
          - index.md
          - article.md
          - other.md
        """).replace("{site_url}", site_url)
    if plugin:
        cfg += "plugins:\n  - imagefs:\n      max_age_days: 0\n" + strict_extra
    if fence_in_yaml or not plugin:
        cfg += FENCE_CONFIG
    elif not fence_in_yaml:
        cfg += "markdown_extensions:\n  - attr_list\n"
    (root / "mkdocs.yml").write_text(cfg)
    return root
