"""Benchmark: the lean tar reader against tarfile and GNU tar on one synthetic layer.

    python3 benchmarks/tarstream.py [--entries N]

Builds an uncompressed layer tar in memory (small files, like a Debian root: most under
8 KiB) and lists it three ways in the same run, from a non-seekable stream:
``imagefs.tarstream.iter_members`` (plus ``layer_index.index_layer`` on top),
``tarfile`` in stream mode (``r|``), and ``tar -t`` reading stdin. Prints seconds and
ratios (best of 3). Not a test: speed is only ever reported as a ratio to a peer.
"""

from __future__ import annotations

import argparse
import io
import random
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "plugins"))

from imagefs.layer_index import index_layer
from imagefs.tarstream import iter_members


class Pipe(io.RawIOBase):
    """A non-seekable reader over bytes (what a decompressor hands the tar reader)."""

    def __init__(self, data: bytes):
        self._b = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        return self._b.read(n)

    def readinto(self, b) -> int:
        return self._b.readinto(b)


def build(entries: int) -> bytes:
    rng = random.Random(1)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for d in range(entries // 50):
            info = tarfile.TarInfo(f"usr/share/pkg{d}")
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tf.addfile(info)
            for i in range(49):
                size = rng.choice((0, 90, 700, 2500, 6000, 30000))
                info = tarfile.TarInfo(f"usr/share/pkg{d}/file-{i}.txt")
                info.size = size
                tf.addfile(info, io.BytesIO(b"x" * size))
    return buf.getvalue()


def best(fn, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=50_000)
    args = ap.parse_args()
    data = build(args.entries)
    print(f"layer: {len(data) / 1e6:.1f} MB, {args.entries} entries")

    def lean() -> None:
        for _ in iter_members(Pipe(data), where="bench"):
            pass

    def indexed() -> None:
        index_layer(Pipe(data), where="bench")

    def stdlib() -> None:
        with tarfile.open(fileobj=Pipe(data), mode="r|") as tf:
            for _ in tf:
                pass

    rows = [("tarstream.iter_members", best(lean)), ("layer_index.index_layer", best(indexed)), ("tarfile r|", best(stdlib))]
    tar = shutil.which("tar")
    if tar:
        rows.append(("tar -t (stdin)", best(lambda: subprocess.run([tar, "-t"], input=data, stdout=subprocess.DEVNULL, check=True))))
    base = rows[0][1]
    for name, sec in rows:
        print(f"{name:26s} {sec:7.3f} s   {sec / base:5.2f}x the lean reader's time")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
