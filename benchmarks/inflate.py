"""Inflate speed: stdlib zlib vs ISA-L (python-isal) vs zlib-ng, on a real gzipped layer.

Builds (once, cached) a layer from this machine's Debian files: a tar of
``/usr/lib/x86_64-linux-gnu`` and ``/usr/share`` (capped, default 400 MB), gzipped with
``gzip -6`` like ``docker``/``buildkit`` layers. Then, in the same run, it inflates that
layer with every decoder available and prints MB/s of uncompressed output and the ratio
to stdlib zlib and to ``gzip -dc`` (the peer pipeline ``gzip -dc LAYER | tar -t`` is
bound by it). The last rows time imagefs's own verified stream
(:func:`imagefs.sources._blobs.open_layer_stream`: inflate + sha256 of both sides).

    python3 benchmarks/inflate.py [--cap-mb 400] [--repeat 3] [--workdir /tmp/imagefs-bench]

zlib-ng is optional (``pip install zlib-ng``); rows for missing libraries are skipped.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tarfile
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "plugins"))

from imagefs.sources._blobs import open_layer_stream  # noqa: E402
from imagefs.sources._inflate import READ_SIZE, ZlibGzipReader  # noqa: E402
from imagefs.sources.base import Descriptor, Limits  # noqa: E402

BUF = bytearray(READ_SIZE)


def build_layer(workdir: Path, cap: int) -> tuple[Path, int]:
    workdir.mkdir(parents=True, exist_ok=True)
    gz = workdir / f"debian-layer-{cap >> 20}M.tar.gz"
    tar = workdir / f"debian-layer-{cap >> 20}M.tar"
    if not gz.exists():
        total = 0
        with tarfile.open(tar, "w", format=tarfile.PAX_FORMAT) as tf:
            for top in ("/usr/lib/x86_64-linux-gnu", "/usr/share"):
                for dirpath, dirnames, filenames in os.walk(top):
                    dirnames.sort()
                    for name in sorted(filenames):
                        p = os.path.join(dirpath, name)
                        try:
                            st = os.lstat(p)
                            if total + st.st_size > cap:
                                continue
                            tf.add(p, recursive=False)
                            total += st.st_size
                        except OSError:
                            continue
        with open(gz, "wb") as out:
            subprocess.run(["gzip", "-6", "-n", "-c", str(tar)], stdout=out, check=True)
        tar.unlink()
    return gz, gz.stat().st_size


def drain(reader, use_read: bool = False) -> int:
    total = 0
    view = memoryview(BUF)
    readinto = getattr(reader, "readinto", None)
    if readinto is not None and not use_read:
        while n := readinto(view):
            total += n
    else:
        while chunk := reader.read(READ_SIZE):
            total += len(chunk)
    return total


def raw_file(path: Path):
    return open(path, "rb", buffering=0)


def subjects(path: Path, size: int, digest: str, diff_id: str):
    yield "gzip -dc > /dev/null (peer)", lambda: _gzip_cli(path)
    yield "stdlib zlib.decompressobj", lambda: drain(ZlibGzipReader(raw_file(path), zlib))
    try:
        from isal import isal_zlib

        yield "isal isal_zlib.decompressobj", lambda: drain(ZlibGzipReader(raw_file(path), isal_zlib))
        yield "isal C _GzipReader (imagefs)", lambda: drain(isal_zlib._GzipReader(raw_file(path), READ_SIZE))
    except ImportError:
        pass
    try:
        from zlib_ng import zlib_ng

        yield "zlib-ng zlib_ng.decompressobj", lambda: drain(ZlibGzipReader(raw_file(path), zlib_ng))
        if hasattr(zlib_ng, "_GzipReader"):
            yield "zlib-ng C _GzipReader", lambda: drain(zlib_ng._GzipReader(raw_file(path), READ_SIZE))
    except ImportError:
        pass
    desc = Descriptor("application/vnd.oci.image.layer.v1.tar+gzip", digest, size)
    yield "imagefs open_layer_stream readinto (+2 sha256)", lambda: drain(
        open_layer_stream(raw_file(path), desc, diff_id, "bench", Limits())
    )
    yield "imagefs open_layer_stream read(1MiB) (+2 sha256)", lambda: drain(
        open_layer_stream(raw_file(path), desc, diff_id, "bench", Limits()), use_read=True
    )


def _gzip_cli(path: Path) -> int:
    out = subprocess.run(f"gzip -dc '{path}' | wc -c", shell=True, check=True, capture_output=True, text=True)
    return int(out.stdout)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cap-mb", type=int, default=400)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "imagefs-bench")
    args = ap.parse_args(argv)
    path, size = build_layer(args.workdir, args.cap_mb << 20)
    h, u = hashlib.sha256(), hashlib.sha256()
    usize = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    r = ZlibGzipReader(raw_file(path), zlib)
    while chunk := r.read(1 << 20):
        u.update(chunk)
        usize += len(chunk)
    digest, diff_id = "sha256:" + h.hexdigest(), "sha256:" + u.hexdigest()
    print(f"layer: {path} ({size / 1e6:.1f} MB gzip, {usize / 1e6:.1f} MB tar, ratio {usize / size:.2f})")
    print(f"{'decoder':48} {'best s':>8} {'MB/s out':>9} {'x zlib':>7} {'x gzip':>7}")
    results = {}
    for name, fn in subjects(path, size, digest, diff_id):
        best = float("inf")
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            n = fn()
            best = min(best, time.perf_counter() - t0)
            if n != usize:
                raise SystemExit(f"{name}: inflated {n} bytes, expected {usize}")
        results[name] = best
    base = results["stdlib zlib.decompressobj"]
    peer = results["gzip -dc > /dev/null (peer)"]
    for name, best in results.items():
        print(f"{name:48} {best:8.3f} {usize / best / 1e6:9.0f} {base / best:7.2f} {peer / best:7.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
