#!/usr/bin/env python3
"""Benchmark: cold and warm ``imagefs list`` through a loopback registry vs ``skopeo copy``.

Builds an image of real files (default: two layers, /usr/lib/python3.11 and /usr/lib/python3,
about 100 MB uncompressed), pushes it to Debian's docker-registry on 127.0.0.1, then in the
same run measures:

- ``skopeo copy docker://127.0.0.1:PORT/bench:v1 oci:DIR:v1`` (the peer: download + verify,
  no listing at all);
- a cold ``imagefs list`` (empty caches: download, verify, inflate and index every layer);
- a warm ``imagefs list`` (layer cache filled: only the manifest round trip);
- a cold ``imagefs list oci:LAYOUT`` of the same image on disk (what the network adds).

and prints the ratios. Timings are best of ``--repeat`` runs. Run from a checkout::

    python3 benchmarks/registry_list.py [--dirs /usr/lib/python3.11 /usr/lib/python3] [--repeat 3]
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "plugins"))
sys.path.insert(0, str(ROOT / "tests"))

from imagefs.oci_writer import ImageSpec, build_image, write_oci_layout
from registry.server import RegistryServer, skopeo_push


def layer_of(directory: str) -> bytes:
    """An uncompressed, reproducible layer tar of ``directory`` (stored under its own path)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:

        def clean(ti: tarfile.TarInfo) -> tarfile.TarInfo:
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = "root"
            ti.mtime = 0
            return ti

        tar.add(directory, arcname=directory.lstrip("/"), filter=clean)
    return buf.getvalue()


def timed(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--dirs", nargs="+", default=["/usr/lib/python3.11", "/usr/lib/python3"]
    )
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    for tool in ("docker-registry", "skopeo"):
        if not shutil.which(tool):
            print(f"{tool} is not installed (apt-get install {tool})", file=sys.stderr)
            return 2
    with tempfile.TemporaryDirectory(prefix="imagefs-bench-") as tmp_s:
        tmp = Path(tmp_s)
        layers = [layer_of(d) for d in args.dirs]
        image = build_image(ImageSpec(layers))
        compressed = sum(
            len(b) for d, b in image.blobs.items() if d != image.manifest_digest
        )
        write_oci_layout(tmp / "layout", [image], tag="v1")
        server = RegistryServer(tmp / "registry").start()
        try:
            skopeo_push(tmp / "layout", "v1", f"{server.hostport}/bench:v1")
            ref = f"docker://{server.hostport}/bench:v1"
            env = dict(os.environ, PYTHONPATH=str(ROOT / "plugins"))
            cache = tmp / "cache"

            def skopeo() -> None:
                out = tmp / "skopeo-out"
                shutil.rmtree(out, ignore_errors=True)
                subprocess.run(
                    [
                        "skopeo",
                        "copy",
                        "--quiet",
                        "--src-tls-verify=false",
                        "--insecure-policy",
                        ref,
                        f"oci:{out}:v1",
                    ],
                    check=True,
                )

            def imagefs_list(target: str = ref) -> None:
                subprocess.run(
                    [sys.executable, "-m", "imagefs", "list", target],
                    check=True,
                    stdout=subprocess.DEVNULL,
                    env=dict(env, IMAGEFS_CACHE_DIR=str(cache)),
                )

            def cold() -> None:
                shutil.rmtree(cache, ignore_errors=True)
                imagefs_list()

            t_skopeo = timed(skopeo, args.repeat)
            t_cold = timed(cold, args.repeat)
            imagefs_list()  # make sure the cache is warm
            t_warm = timed(imagefs_list, args.repeat)

            def local_cold() -> None:
                shutil.rmtree(cache, ignore_errors=True)
                imagefs_list(f"oci:{tmp / 'layout'}:v1")

            t_local = timed(local_cold, args.repeat)
        finally:
            server.stop()
    raw = sum(len(x) for x in layers)
    print(
        f"image: {len(layers)} layers, {raw / 1e6:.1f} MB uncompressed, {compressed / 1e6:.1f} MB compressed"
    )
    print(f"skopeo copy docker:// -> oci:  {t_skopeo:7.3f} s")
    print(
        f"imagefs list, cold:            {t_cold:7.3f} s   ratio vs skopeo {t_cold / t_skopeo:5.2f}x"
    )
    print(
        f"imagefs list, warm:            {t_warm:7.3f} s   ratio vs skopeo {t_warm / t_skopeo:5.2f}x"
    )
    print(
        f"imagefs list oci:LAYOUT, cold: {t_local:7.3f} s   registry cold / local cold {t_cold / t_local:5.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
