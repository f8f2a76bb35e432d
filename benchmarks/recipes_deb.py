"""Reading a .deb for a recipe: imagefs.recipes.debs (pure Python) versus dpkg-deb.

The recipe needs every member's metadata and bytes in memory (to build a layer), so the
peer is ``dpkg-deb --fsys-tarfile`` piped into the same tarfile walk, and ``dpkg-deb -x`` to a
temporary directory (what a shell recipe would do). Prints seconds and ratios, measured in
the same run; run from the project root after the recipes have filled build/debs/:

    PYTHONPATH=plugins python3 benchmarks/recipes_deb.py [PACKAGE...]
"""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "plugins"))

from imagefs.recipes import Context
from imagefs.recipes.debs import iter_deb_members


def best(fn, n: int = 5) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def ours(path: Path) -> int:
    return sum(len(data) for _, data in iter_deb_members(path))


def fsys_tarfile(path: Path) -> int:
    raw = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(path)], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
        return sum(len(tf.extractfile(i).read()) for i in tf if i.isreg())


def extract(path: Path) -> None:
    with tempfile.TemporaryDirectory() as d:
        subprocess.run(["dpkg-deb", "-x", str(path), d], check=True)


def main(names: list[str]) -> None:
    ctx = Context("build")
    print(f"{'package':<14} {'ours s':>8} {'fsys-tar s':>10} {'dpkg-deb -x s':>13} {'ours/fsys':>9} {'ours/-x':>8}")
    for pkg in ctx.packages("amd64", names):
        path = ctx.apt("amd64").fetch(pkg)
        a, b, c = (best(lambda p=path, f=f: f(p)) for f in (ours, fsys_tarfile, extract))
        print(f"{pkg.name:<14} {a:8.3f} {b:10.3f} {c:13.3f} {a / b:9.2f} {a / c:8.2f}")


if __name__ == "__main__":
    main(sys.argv[1:] or ["base-files", "tzdata", "libc6", "openssl"])
