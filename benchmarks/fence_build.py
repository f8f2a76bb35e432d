"""``mkdocs build`` of a site with 20 embedded imagefs listings vs the same site without them.

Both sites have the same pages, prose, theme (Material), snapshots and configuration; the
only difference is that the second has its ```imagefs fences removed. Builds alternate
(A, B, A, B...) in one run and the medians are compared, of the build processes' CPU
time (robust when other jobs share the machine) and of wall time. Goal: ratio <= 1.15.

Two configurations are measured: the fence registered in mkdocs.yml alone, and the
MkDocs plugin (which also generates the per-image pages, identical in both sites).

    PYTHONPATH=plugins python3 benchmarks/fence_build.py [--runs 5] [--entries 3000]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "plugins"), str(ROOT / "tests")]

import site_trees as st  # noqa: E402  (the test fixtures build the trees)
from imagefs.tree import Entry  # noqa: E402

FENCE_YAML = """\
markdown_extensions:
  - attr_list
  - admonition
  - tables
  - pymdownx.highlight
  - pymdownx.superfences:
      custom_fences:
        - name: imagefs
          class: imagefs
          validator: !!python/name:imagefs.fence.validate
          format: !!python/name:imagefs.fence.format
"""
PLUGIN_YAML = """\
plugins:
  - search  # as in the fence-only site (MkDocs' default) and the real site
  - imagefs:
      max_age_days: 0
markdown_extensions:
  - attr_list
  - admonition
  - tables
  - pymdownx.highlight
  - pymdownx.superfences
"""
FENCES = [
    "snapshot: {s}\nview: tree\ndepth: 3",
    "snapshot: {s}\nview: ls\npath: /usr/lib",
    "snapshot: {s}\nview: layers",
    "snapshot: {s}\nview: summary",
    "snapshot: {s}\nview: diff\nagainst: {o}",
]
PROSE = ("Container images are stacks of tar layers. The merged filesystem is what a container "
         "sees at run time: later layers replace files and whiteouts delete them. Reading the "
         "layers without running the image shows what ships: shells, package managers, setuid "
         "binaries, certificates and the leftovers of the build.\n\n")
# The rest of a typical article around each listing: prose, a Dockerfile, a shell session,
# an admonition and a small table (about 700 words per page, like the knowledge base's articles).
SECTION = PROSE * 3 + """\
```dockerfile
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \\
 && rm -rf /var/lib/apt/lists/*
COPY --chown=10001:10001 app /usr/local/bin/app
USER 10001
ENTRYPOINT ["/usr/local/bin/app"]
```

!!! note "Why the listing is pinned"
    The snapshot records the manifest digest, so the page shows exactly the image it names.

| Layer | What it adds |
|---|---|
| base | the distribution's root filesystem |
| packages | certificates and curl |
| app | the binary, owned by 10001 |

```bash
$ imagefs list --tree --depth 2 oci:images/app:latest
$ imagefs diff debian:bookworm-slim oci:images/app:latest
```
"""


def image(n: int, seed: int):
    entries = [st.D("/etc"), st.D("/usr"), st.D("/usr/lib"), st.D("/usr/bin")]
    for i in range(n):
        d = ("/usr/lib", "/usr/bin", "/etc")[i % 3]
        entries.append(Entry(path=f"{d}/f{seed}-{i:05d}", type="file", mode=0o644, size=i * 7, layer=i % 2))
    return st.make_tree(entries, layers=2)


def write_site(root: Path, *, fences: bool, plugin: bool, entries: int) -> None:
    docs = root / "docs"
    (docs / "snapshots").mkdir(parents=True)
    for k in range(3):
        st.write(docs / "snapshots", f"img{k}", image(entries, k))
    (docs / "index.md").write_text("# Bench\n\n" + PROSE)
    for page in range(10):
        body = [f"# Article {page}\n", PROSE * 2]
        for j in range(2):
            n = page * 2 + j
            fence = FENCES[n % len(FENCES)].format(s=f"img{n % 3}", o=f"img{(n + 1) % 3}")
            body.append(f"## Section {j}\n\n" + SECTION)
            if fences:
                body.append(f"```imagefs\n{fence}\n```\n")
        (docs / f"article{page}.md").write_text("\n".join(body))
    (root / "mkdocs.yml").write_text("site_name: bench\ntheme:\n  name: material\n"
                                     + (PLUGIN_YAML if plugin else FENCE_YAML))


def build(root: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the build process): CPU time is robust to other load."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mkdocs", "build", "-q"], cwd=root, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--entries", type=int, default=3000, help="entries per snapshot (3 snapshots)")
    args = ap.parse_args()
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1",
               PYTHONPATH=os.pathsep.join([str(ROOT / "plugins"), os.environ.get("PYTHONPATH", "")]))
    with tempfile.TemporaryDirectory() as tmp:
        for plugin in (False, True):
            a, b = Path(tmp, f"with-{plugin}"), Path(tmp, f"without-{plugin}")
            write_site(a, fences=True, plugin=plugin, entries=args.entries)
            write_site(b, fences=False, plugin=plugin, entries=args.entries)
            build(a, env), build(b, env)  # warm-up: bytecode, fonts, caches
            ta, tb = [], []
            for _ in range(args.runs):
                ta.append(build(a, env))
                tb.append(build(b, env))
            label = "plugin" if plugin else "fence in mkdocs.yml"
            for i, what in ((1, "CPU"), (0, "wall")):
                ma = statistics.median(x[i] for x in ta)
                mb = statistics.median(x[i] for x in tb)
                print(f"{label:20} {what:4} 20 listings: {ma:.3f}s  no listings: {mb:.3f}s  "
                      f"ratio {ma / mb:.3f}x (goal <= 1.15x; median of {args.runs}); "
                      f"{(ma - mb) / 20 * 1000:.1f} ms per listing")
    return 0


if __name__ == "__main__":
    sys.exit(main())
