"""Benchmark: ``imagefs extract`` against peers on the same image, in the same run.

Builds a synthetic multi-layer image (many small files, some large ones, whiteouts and
hardlinks) in a scratch directory, then times, as whole processes:

- ``imagefs extract IMAGE DIR`` (cold: no layer-index cache);
- the pipeline ``tar -xzf LAYER -C DIR`` over the same layer blobs, one after the other
  (no whiteouts applied: a lower bound of plain unpacking);
- ``umoci unpack --rootless`` when umoci is installed.

Prints seconds and ratios. Not a test: run ``python3 benchmarks/extract.py [--scratch DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "plugins"))

from imagefs.oci_writer import (
    ImageSpec,
    TarMember,
    build_image,
    make_layer_tar,
    write_oci_layout,
)


def build(scratch: Path, files: int, big_mb: int) -> Path:
    layers = []
    rnd = os.urandom(1 << 20)
    for li in range(3):
        members = [TarMember(f"l{li}", "dir")]
        for d in range(files // 100):
            members.append(TarMember(f"l{li}/d{d}", "dir"))
            for f in range(100):
                members.append(
                    TarMember(
                        f"l{li}/d{d}/f{f}",
                        "file",
                        data=rnd[f * 100 : f * 100 + 1000 + f],
                    )
                )
        for b in range(big_mb):
            members.append(TarMember(f"l{li}/big{b}", "file", data=rnd))
        members.append(
            TarMember(
                f"l{li}/hard",
                "hardlink",
                linkname=f"l{li}/big0" if big_mb else f"l{li}/d0/f0",
            )
        )
        if li:
            members.append(TarMember(f"l{li - 1}/.wh.d0", "file"))
        layers.append(make_layer_tar(members))
    img = build_image(ImageSpec(layers))
    layout = scratch / "img"
    write_oci_layout(layout, [img], tag="bench")
    return layout


def timed(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--scratch",
        type=Path,
        default=None,
        help="where to build and extract (default: a temp dir)",
    )
    ap.add_argument("--files", type=int, default=20_000, help="small files per layer")
    ap.add_argument("--big-mb", type=int, default=20, help="1 MiB files per layer")
    args = ap.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="imagefs-bench-", dir=args.scratch))
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT / "plugins"),
        IMAGEFS_CACHE_DIR=str(scratch / "cache"),
    )
    try:
        layout = build(scratch, args.files, args.big_mb)
        manifest = json.loads((layout / "index.json").read_text())["manifests"][0][
            "digest"
        ]
        m = json.loads(
            (layout / "blobs" / "sha256" / manifest.split(":")[1]).read_text()
        )
        blobs = [
            layout / "blobs" / "sha256" / d["digest"].split(":")[1] for d in m["layers"]
        ]
        results = {}
        out = scratch / "imagefs"
        results["imagefs extract"] = timed(
            [
                sys.executable,
                "-m",
                "imagefs",
                "extract",
                f"oci:{layout}:bench",
                str(out),
                "--no-cache",
                "-q",
            ],
            env,
        )
        tar_out = scratch / "tar"
        tar_out.mkdir()
        t0 = time.perf_counter()
        for b in blobs:
            subprocess.run(["tar", "-xzf", str(b), "-C", str(tar_out)], check=True)
        results["tar -xzf (each layer)"] = time.perf_counter() - t0
        if shutil.which("umoci"):
            results["umoci unpack --rootless"] = timed(
                [
                    "umoci",
                    "unpack",
                    "--rootless",
                    "--image",
                    f"{layout}:bench",
                    str(scratch / "umoci"),
                ],
                env,
            )
        base = results["imagefs extract"]
        for name, secs in results.items():
            print(f"{name:28s} {secs:7.2f}s   imagefs is {secs / base:5.2f}x its speed")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
