#!/usr/bin/env python3
"""Benchmark: ``imagefs list`` on a real multi-layer image, against its peers, in one run.

The image: ``mmdebstrap --variant=minbase --mode=root bookworm`` (Debian's packages, about
170 MB of files), split into four gzip layers written with :mod:`imagefs.oci_writer`:
``/usr/lib``, ``/usr/share``, the rest, and a clean-up layer of whiteouts (``/usr/share/doc``
deleted, ``/usr/share/man`` made opaque, apt's caches deleted). Built once into
``build/bench/`` and reused (``--rebuild`` to redo it; building needs root and Debian's
mirror).

Timed, each as a whole process, best of ``--runs``:

  (a) pipeline  ``gzip -dc LAYER | tar -t >/dev/null`` over the same layer blobs;
  (b) umoci     ``umoci unpack --rootless`` of the same OCI layout;
  (c) cold      ``imagefs list --no-cache --format json`` (empty cache dir, no cache);
                (and, for information, the same with ``-j NCPU``: layers inflated in parallel);
  (d) warm      ``imagefs list --format json`` with every layer's index cached.

Floors, for reading the warm time: ``python3 -c pass`` (interpreter start-up) and
``python3 -m imagefs --version`` (start-up plus the CLI's imports).

Goals (issue 2): cold at least 1.5x faster than (a), at least 5x faster than (b), and warm
at most 15% of cold. ``--check`` exits 1 when a goal is missed. ``--profile`` runs
cProfile over one cold list in this process and prints where the time goes.

Run: ``python3 benchmarks/list_bench.py`` (as root, the first time). See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import pstats
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "plugins"))

from imagefs.oci_writer import (  # noqa: E402
    TAR_TO_ENTRY,
    ImageSpec,
    TarMember,
    build_image,
    make_layer_tar,
    write_oci_layout,
)

BENCH = ROOT / "build" / "bench"
ROOTFS_TAR = BENCH / "rootfs.tar"
LAYOUT = BENCH / "oci"
TAG = "bench"
REF = f"oci:{LAYOUT}:{TAG}"
LAYER_NAMES = ["rest of the root filesystem", "/usr/lib", "/usr/share", "clean-up: whiteouts"]

GOALS = {
    "cold vs pipeline": ("pipeline", "cold", 1.5),  # peer time / imagefs time >= 1.5
    "cold vs umoci": ("umoci", "cold", 5.0),
    "warm / cold": ("warm", "cold", 0.15),  # warm time / cold time <= 0.15
}

LOAD_BEFORE = " ".join(f"{x:.2f}" for x in os.getloadavg())


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# -- the image ---------------------------------------------------------------------------
def debootstrap(dest: Path) -> None:
    if os.geteuid() != 0:
        sys.exit("list_bench: building the image needs root (mmdebstrap --mode=root); run as root once")
    if not shutil.which("mmdebstrap"):
        sys.exit("list_bench: mmdebstrap is not installed (apt-get install mmdebstrap)")
    tmp = dest.with_name(dest.name + ".tmp.tar")
    log("building the root filesystem: mmdebstrap --variant=minbase --mode=root bookworm (about 20 s)")
    subprocess.run(
        ["mmdebstrap", "--quiet", "--variant=minbase", "--mode=root", "bookworm", str(tmp)],
        check=True,
        stdin=subprocess.DEVNULL,
    )
    os.replace(tmp, dest)


def _layer_of(name: str) -> int:
    if name == "usr/lib" or name.startswith("usr/lib/"):
        return 1
    if name == "usr/share" or name.startswith("usr/share/"):
        return 2
    return 0


def split_layers(rootfs_tar: Path) -> list[bytes]:
    """Split the rootfs tar into three layer tars plus a whiteout layer.

    A hardlink goes into its target's layer (a layer's hardlinks name files of the same tar).
    """
    members: list[list[TarMember]] = [[], [], []]
    where: dict[str, int] = {}
    with tarfile.open(rootfs_tar, encoding="utf-8", errors="surrogateescape") as tf:
        for info in tf:
            name = info.name.removeprefix("./").rstrip("/")
            if not name or name == ".":
                continue
            kind = TAR_TO_ENTRY.get(info.type)
            if kind is None:
                continue
            linkname = info.linkname.removeprefix("./") if info.type == tarfile.LNKTYPE else info.linkname
            index = where.get(linkname, _layer_of(name)) if kind == "hardlink" else _layer_of(name)
            where[name] = index
            data = tf.extractfile(info).read() if kind == "file" else b""
            xattrs = {k.removeprefix("SCHILY.xattr."): v for k, v in info.pax_headers.items() if k.startswith("SCHILY.xattr.")}
            members[index].append(
                TarMember(
                    name + ("/" if kind == "dir" else ""),
                    kind,
                    data=data,
                    mode=info.mode & 0o7777,
                    uid=info.uid,
                    gid=info.gid,
                    mtime=int(info.mtime),
                    linkname=linkname,
                    xattrs=xattrs,
                    devmajor=info.devmajor,
                    devminor=info.devminor,
                    uname=info.uname,
                    gname=info.gname,
                )
            )
    cleanup = [
        TarMember("usr/share/", "dir"),
        TarMember("usr/share/.wh.doc", mode=0),
        TarMember("usr/share/man/", "dir"),
        TarMember("usr/share/man/.wh..wh..opq", mode=0),
        TarMember("var/cache/apt/", "dir"),
        TarMember("var/cache/apt/.wh.pkgcache.bin", mode=0),
        TarMember("var/cache/apt/.wh.srcpkgcache.bin", mode=0),
        TarMember("etc/", "dir"),
        TarMember("etc/imagefs-bench", data=b"cleaned\n"),
    ]
    return [make_layer_tar(m) for m in members] + [make_layer_tar(cleanup)]


def ensure_image(rebuild: bool) -> list[Path]:
    """Build (or reuse) the benchmark image; return its layer blob paths, base first."""
    if rebuild:
        shutil.rmtree(LAYOUT, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            ROOTFS_TAR.unlink()
    if not (LAYOUT / "index.json").exists():
        BENCH.mkdir(parents=True, exist_ok=True)
        if not ROOTFS_TAR.exists():
            debootstrap(ROOTFS_TAR)
        log("splitting into layers and compressing (gzip -6, about 15 s)")
        image = build_image(
            ImageSpec(
                split_layers(ROOTFS_TAR),
                compression="gzip",
                created_by=[f"layer {i}: {n}" for i, n in enumerate(LAYER_NAMES)],
            )
        )
        tmp = LAYOUT.with_name("oci.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        write_oci_layout(tmp, [image], tag=TAG)
        os.replace(tmp, LAYOUT)
    index = json.loads((LAYOUT / "index.json").read_bytes())
    (top,) = [m for m in index["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == TAG]
    manifest = json.loads((LAYOUT / "blobs" / "sha256" / top["digest"].split(":")[1]).read_bytes())
    return [LAYOUT / "blobs" / "sha256" / d["digest"].split(":")[1] for d in manifest["layers"]]


# -- timing ------------------------------------------------------------------------------
def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def best_of(runs: int, cmd: list[str], *, env: dict[str, str] | None = None, before=None) -> tuple[float, float]:
    """(best wall time, best CPU time: user+sys of the process and its children) over ``runs``."""
    walls, cpus = [], []
    for _ in range(runs):
        if before:
            before()
        c0 = _children_cpu()
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        walls.append(time.perf_counter() - t0)
        cpus.append(_children_cpu() - c0)
        if proc.returncode != 0:
            sys.exit(f"list_bench: {' '.join(cmd)} exited {proc.returncode}: {proc.stderr.decode(errors='replace').strip()}")
    return min(walls), min(cpus)


def imagefs_env(cache_dir: Path) -> dict[str, str]:
    """The environment of the timed imagefs processes.

    Bytecode caches on, as for an installed package: with PYTHONDONTWRITEBYTECODE set (as
    some shells and sandboxes do), every run recompiles every module, ~30 ms here.
    """
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "plugins"), env.get("PYTHONPATH")]))
    env["IMAGEFS_CACHE_DIR"] = str(cache_dir)
    return env


def measure(layers: list[Path], runs: int, skip_umoci: bool) -> dict[str, tuple[float, float]]:
    results: dict[str, tuple[float, float]] = {}
    pipeline = " ; ".join(f"gzip -dc '{p}' | tar -t >/dev/null" for p in layers)
    log(f"(a) pipeline: gzip -dc LAYER | tar -t >/dev/null over {len(layers)} layers, best of {runs}")
    results["pipeline"] = best_of(runs, ["bash", "-o", "pipefail", "-c", pipeline])
    if not skip_umoci:
        if not shutil.which("umoci"):
            sys.exit("list_bench: umoci is not installed (apt-get install umoci), or pass --skip-umoci")
        scratch = Path(tempfile.mkdtemp(prefix="umoci-bench-", dir=BENCH))
        bundle = scratch / "bundle"
        log(f"(b) umoci unpack --rootless, best of {runs}")
        try:
            results["umoci"] = best_of(
                runs,
                ["umoci", "unpack", "--rootless", "--image", f"{LAYOUT}:{TAG}", str(bundle)],
                before=lambda: shutil.rmtree(bundle, ignore_errors=True),
            )
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="imagefs-bench-cache-") as cache:
        env = imagefs_env(Path(cache))
        base = [sys.executable, "-m", "imagefs", "list", "--format", "json"]
        log(f"floors: python3 -c pass, and python3 -m imagefs --version (start-up and CLI imports), best of {runs}")
        best_of(1, [sys.executable, "-m", "imagefs", "list", "--help"], env=env)  # write the bytecode caches
        results["python"] = best_of(runs, [sys.executable, "-c", "pass"], env=env)
        results["imports"] = best_of(runs, [sys.executable, "-m", "imagefs", "--version"], env=env)
        log(f"(c) imagefs list --no-cache --format json (cold), best of {runs}")
        results["cold"] = best_of(runs, [*base, "--no-cache", REF], env=env)
        jobs = os.cpu_count() or 1
        if jobs > 1:
            log(f"(c') imagefs list --no-cache -j {jobs} --format json (cold, {jobs} layers at once), best of {runs}")
            results[f"cold -j{jobs}"] = best_of(runs, [*base, "--no-cache", "-j", str(jobs), REF], env=env)
        log(f"(d) imagefs list --format json (warm): one run to fill the cache, then best of {runs}")
        best_of(1, [*base, REF], env=env)
        results["warm"] = best_of(runs, [*base, REF], env=env)
    return results


def report(results: dict[str, tuple[float, float]], layers: list[Path], runs: int) -> list[str]:
    """Print times and ratios; return the goals missed. Goals are judged on wall time."""
    compressed = sum(p.stat().st_size for p in layers)
    print(f"image: {REF}")
    rootfs_mb = ROOTFS_TAR.stat().st_size / 1e6
    print(f"  {len(layers)} gzip layers, {compressed / 1e6:.1f} MB compressed, {rootfs_mb:.1f} MB of rootfs tar")
    print(f"  load average before the run: {LOAD_BEFORE}; {os.cpu_count()} CPUs")
    print(f"times (best of {runs}, whole processes):    wall       CPU (user+sys)")
    for key in ("pipeline", "umoci", "cold", *[k for k in results if k.startswith("cold -j")], "warm", "python", "imports"):
        if key in results:
            wall, cpu = results[key]
            print(f"  {key:<9} {wall:18.3f} s {cpu:12.3f} s")
    print("ratios (wall; CPU in brackets):")
    missed = []
    for name, (a, b, goal) in GOALS.items():
        if a not in results or b not in results:
            continue
        value = results[a][0] / results[b][0]
        cpu_value = results[a][1] / results[b][1]
        if name == "warm / cold":
            ok = value <= goal
            print(f"  {name:<17} {value:6.1%}  [{cpu_value:6.1%}]  goal <= {goal:.0%}   {'ok' if ok else 'MISSED'}")
        else:
            ok = value >= goal
            print(f"  {name:<17} {value:6.2f}x [{cpu_value:6.2f}x]  goal >= {goal}x   {'ok' if ok else 'MISSED'}")
        if not ok:
            missed.append(name)
    for key in results:
        if key.startswith("cold -j") and "pipeline" in results:
            value = results["pipeline"][0] / results[key][0]
            print(f"  (info) {key} vs pipeline: {value:.2f}x [{results['pipeline'][1] / results[key][1]:.2f}x]")
    return missed


def profile(which: str, top: int) -> None:
    """cProfile one cold or warm list in this process (stdout discarded); print the top functions.

    Imports are not in the profile (they happen before it starts): compare the whole-process
    times of ``measure`` with the profile's total to see start-up and import costs.
    """
    from imagefs import cli

    argv = ["list", "--format", "json", REF] if which == "warm" else ["list", "--no-cache", "--format", "json", REF]
    with tempfile.TemporaryDirectory(prefix="imagefs-bench-cache-") as cache:
        os.environ["IMAGEFS_CACHE_DIR"] = cache
        with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
            if which == "warm":
                cli.main(["list", "--format", "json", REF])  # fill the cache
            prof = cProfile.Profile()
            t0 = time.perf_counter()
            rc = prof.runcall(cli.main, argv)
            elapsed = time.perf_counter() - t0
    print(f"profile of a {which} `imagefs {' '.join(argv)}` (in-process, exit {rc}, {elapsed:.2f} s under cProfile)")
    for key in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(prof, stream=out).strip_dirs().sort_stats(key).print_stats(top)
        print(f"--- top {top} by {key} ---")
        print(out.getvalue().split("\n", 4)[-1].rstrip())


def phases(runs: int) -> None:
    """Time the phases of a cold and a warm list in this process (best of ``runs``).

    open (manifest, config), index (inflate + tar headers; from the cache when warm),
    merge, render (JSON). Imports are timed once, before anything else of imagefs runs.
    """
    t0 = time.perf_counter()
    from imagefs.listing import image_info, index_layers
    from imagefs.merge import merge
    from imagefs.render import json as render_json
    from imagefs.sources import open_image

    imports = time.perf_counter() - t0
    print(f"phases, in-process, best of {runs} (imports of listing+sources+merge+render.json: {imports * 1000:.1f} ms)")
    with tempfile.TemporaryDirectory(prefix="imagefs-bench-cache-") as cache:
        from imagefs.cache import LayerCache

        for which in ("cold", "warm"):
            best: dict[str, float] = {}
            for _ in range(runs):
                marks = [time.perf_counter()]
                image = open_image(REF)
                layers = image.layers()
                marks.append(time.perf_counter())
                lc = LayerCache(Path(cache)) if which == "warm" else False
                indexes = index_layers(image, cache=lc, layers=layers)
                marks.append(time.perf_counter())
                info = image_info(image, layers, indexes)
                tree = merge(indexes, info.layers)
                tree.image = info
                marks.append(time.perf_counter())
                out = render_json.render(tree)
                marks.append(time.perf_counter())
                image.close()
                for name, a, b in zip(("open", "index", "merge", "render"), marks, marks[1:]):
                    best[name] = min(best.get(name, float("inf")), b - a)
            total = sum(best.values())
            cells = "  ".join(f"{k} {v * 1000:7.1f} ms" for k, v in best.items())
            print(f"  {which}: {cells}  (sum {total * 1000:.1f} ms, {len(tree)} entries, {len(out) / 1e6:.1f} MB JSON)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="runs per measurement; the best counts (default 5)")
    ap.add_argument("--rebuild", action="store_true", help="rebuild the image in build/bench/")
    ap.add_argument("--skip-umoci", action="store_true", help="do not time umoci unpack")
    ap.add_argument(
        "--profile",
        nargs="?",
        const="cold",
        choices=("cold", "warm"),
        help="cProfile one cold (default) or warm list and print the top functions",
    )
    ap.add_argument("--phases", action="store_true", help="time open/index/merge/render of a cold and a warm list, in-process")
    ap.add_argument("--top", type=int, default=30, help="functions to show with --profile (default 30)")
    ap.add_argument("--json", type=Path, help="also write the times and ratios to this file")
    ap.add_argument("--check", action="store_true", help="exit 1 if a goal is missed")
    args = ap.parse_args(argv)
    layers = ensure_image(args.rebuild)
    if args.profile:
        profile(args.profile, args.top)
        return 0
    if args.phases:
        phases(args.runs)
        return 0
    results = measure(layers, args.runs, args.skip_umoci)
    missed = report(results, layers, args.runs)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        doc = {"times": {k: {"wall": w, "cpu": c} for k, (w, c) in results.items()}, "missed": missed, "load": LOAD_BEFORE}
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
    return 1 if (args.check and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
