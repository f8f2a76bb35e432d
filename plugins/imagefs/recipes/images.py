"""The example images: what goes in each layer.

Each function builds the layers of one recipe from Debian packages (see :mod:`.debs`) and
generated files, in a :class:`~.rootfs.RootFS`; :mod:`imagefs.recipes` turns them into OCI
layouts. Facts about distroless (which packages, which users, which directories) follow
GoogleContainerTools/distroless ``base/`` as documented upstream; no code is taken from it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ImagefsError
from .rootfs import RootFS

if TYPE_CHECKING:
    from . import Context

SUITE = "bookworm"
STATIC_PACKAGES = ["base-files", "netbase", "tzdata", "ca-certificates"]
BASE_PACKAGES = ["libc6", "libssl3", "openssl"]
MULTILAYER_PACKAGES = ["base-files", "netbase", "tzdata"]
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
NONROOT = 65532
GO_SOURCE = Path(__file__).parent / "hello"

PASSWD = (
    "root:x:0:0:root:/root:/sbin/nologin\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
    f"nonroot:x:{NONROOT}:{NONROOT}:nonroot:/home/nonroot:/sbin/nologin\n"
)
GROUP = (
    "root:x:0:\n"
    "tty:x:5:\n"
    "staff:x:50:\n"
    "nogroup:x:65534:\n"
    f"nonroot:x:{NONROOT}:\n"
)


def os_release(name: str) -> bytes:
    return (
        f'PRETTY_NAME="imagefs {name} (distroless-style, Debian 12)"\n'
        'NAME="Debian GNU/Linux"\n'
        'ID="debian"\n'
        'VERSION_ID="12"\n'
        'VERSION="12 (bookworm)"\n'
        'VERSION_CODENAME=bookworm\n'
        'HOME_URL="https://github.com/GoogleContainerTools/distroless"\n'
    ).encode()


def ca_bundle(fs_certs: dict[str, bytes]) -> bytes:
    """``/etc/ssl/certs/ca-certificates.crt``: the package's PEM files concatenated in path order,
    as ``update-ca-certificates`` does with the default (all enabled) configuration."""
    out = b""
    for _, pem in sorted(fs_certs.items()):
        out += pem if pem.endswith(b"\n") else pem + b"\n"
    return out


def static_layer(ctx: Context, arch: str) -> bytes:
    """One layer: the distroless/static content for ``arch``."""
    key = ("static", arch)
    if key in ctx.memo:
        return ctx.memo[key]
    apt = ctx.apt(arch)
    fs = RootFS()
    pkgs = {p.name: p for p in ctx.packages(arch, STATIC_PACKAGES)}
    for name in ("base-files", "netbase", "tzdata"):
        fs.add_deb(apt.fetch(pkgs[name]))
    # ca-certificates: only the generated bundle and the copyright, like distroless.
    ca = RootFS()
    ca.add_deb(apt.fetch(pkgs["ca-certificates"]))
    certs = {k: m.data for k, m in ca.entries.items() if k.startswith("usr/share/ca-certificates/") and k.endswith(".crt")}
    if not certs:
        raise ImagefsError("ca-certificates .deb holds no PEM under /usr/share/ca-certificates; has the package layout changed?")
    fs.file("etc/ssl/certs/ca-certificates.crt", ca_bundle(certs))
    fs.put(ca.entries["usr/share/doc/ca-certificates/copyright"])
    # What base-files' maintainer script would install (we run none).
    nss = fs.entries.get("usr/share/base-files/nsswitch.conf")
    if nss is not None:
        fs.file("etc/nsswitch.conf", nss.data)
    fs.remove("etc/os-release")
    fs.file("etc/os-release", os_release("distroless-static"))
    fs.file("etc/passwd", PASSWD.encode())
    fs.file("etc/group", GROUP.encode())
    fs.dir("root", 0o700)
    fs.dir("home", 0o755)
    fs.dir("home/nonroot", 0o700, uid=NONROOT, gid=NONROOT)
    fs.dir("tmp", 0o1777)
    ctx.memo[key] = tar = fs.layer_tar(ctx.sde)
    return tar


def base_layer(ctx: Context, arch: str) -> bytes:
    """The second layer of distroless-base: glibc, libssl and openssl, unpacked as shipped."""
    apt = ctx.apt(arch)
    fs = RootFS()
    for p in ctx.packages(arch, BASE_PACKAGES):
        fs.add_deb(apt.fetch(p))
    return fs.layer_tar(ctx.sde)


def go_binary(ctx: Context) -> bytes:
    """The static ``hello`` binary, built reproducibly with Debian's golang-go."""
    if "go" in ctx.memo:
        return ctx.memo["go"]
    go = shutil.which("go")
    if not go:
        raise ImagefsError("go is not installed; apt-get install golang-go (listed in .ci/apt-packages.txt)")
    gobuild = ctx.build_dir / "go"
    with tempfile.TemporaryDirectory(dir=ctx.build_dir) as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(GO_SOURCE, src)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(gobuild),
            "GOCACHE": str(gobuild / "cache"),
            "GOPATH": str(gobuild / "path"),
            "GOFLAGS": "-mod=mod",
            "GOPROXY": "off",
            "GOTOOLCHAIN": "local",
            "CGO_ENABLED": "0",
            "GOOS": "linux",
            "GOARCH": "amd64",
        }
        out = Path(tmp) / "hello"
        proc = subprocess.run(
            [go, "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "-o", str(out), "."],
            check=False, cwd=src, env=env, capture_output=True, text=True,
        )
        if proc.returncode != 0:
            raise ImagefsError(f"go build of {GO_SOURCE} failed: {proc.stderr.strip().splitlines()[-1:]}")
        ctx.memo["go"] = data = out.read_bytes()
    return data


def go_layer(ctx: Context) -> bytes:
    fs = RootFS()
    fs.file("hello", go_binary(ctx), mode=0o755)
    return fs.layer_tar(ctx.sde)


def multilayer_layers(ctx: Context) -> list[bytes]:
    """Four layers that exercise the merge: deletions, a replaced directory, an opaque
    directory, hardlinks and symlinks, on top of real Debian content."""
    apt = ctx.apt("amd64")
    pkgs = {p.name: p for p in ctx.packages("amd64", MULTILAYER_PACKAGES)}
    l0 = RootFS()
    for name in ("base-files", "netbase"):
        l0.add_deb(apt.fetch(pkgs[name]))
    l0.file("etc/passwd", PASSWD.encode())
    l0.file("etc/group", GROUP.encode())
    l0.dir("tmp", 0o1777)

    l1 = RootFS()  # the "install" layer: tzdata and an application tree
    l1.add_deb(apt.fetch(pkgs["tzdata"]))
    app = b"#!/bin/sh\necho app v1\n"
    l1.file("opt/app/bin/app", app, mode=0o755)
    l1.hardlink("opt/app/bin/app-compat", "opt/app/bin/app")
    l1.symlink("opt/app/current", "releases/1")
    l1.file("opt/app/releases/1/VERSION", b"1\n")
    l1.file("opt/app/config/app.conf", b"listen = :8080\nlog = /opt/app/logs/app.log\n")
    l1.file("opt/app/config/extra.conf", b"debug = false\n")
    l1.dir("opt/app/logs")
    l1.file("opt/app/logs/app.log", b"started\n")
    for name in ("a", "b", "c"):
        l1.file(f"var/cache/app/{name}.bin", name.encode() * 1024)
    l1.symlink("usr/local/bin/app", "/opt/app/bin/app")

    l2 = RootFS()  # the "clean-up" layer: deletions, replaced directories, an opaque cache
    l2.whiteout("etc/services")
    l2.whiteout("usr/share/zoneinfo/right")  # a whole directory of tzdata deleted
    l2.whiteout("usr/share/doc/tzdata")
    l2.symlink("opt/app/config", "/etc/app")  # directory replaced by a symlink
    l2.file("etc/app/app.conf", b"listen = :8080\nlog = /dev/stdout\n")
    l2.file("opt/app/logs", b"logs go to stdout now\n")  # directory replaced by a file
    l2.opaque("var/cache/app")
    l2.file("var/cache/app/fresh.bin", b"fresh" * 200)

    l3 = RootFS()  # the "upgrade" layer: a new release, a re-added file, another hardlink
    app2 = b"#!/bin/sh\necho app v2\n"
    l3.file("opt/app/bin/app", app2, mode=0o755)
    l3.hardlink("opt/app/bin/app-compat", "opt/app/bin/app")
    l3.file("opt/app/releases/2/VERSION", b"2\n")
    l3.symlink("opt/app/current", "releases/2")
    l3.file("etc/services", b"http 80/tcp www\nhttps 443/tcp\n")
    return [fs.layer_tar(ctx.sde) for fs in (l0, l1, l2, l3)]


def mmdebstrap_version() -> str:
    tool = shutil.which("mmdebstrap")
    if not tool:
        raise ImagefsError("mmdebstrap is not installed; apt-get install mmdebstrap (listed in .ci/apt-packages.txt)")
    out = subprocess.run([tool, "--version"], check=False, capture_output=True, text=True).stdout.strip()
    return out.split()[-1] if out else "unknown"


def minbase_layer(ctx: Context) -> bytes:
    """``mmdebstrap --variant=minbase --mode=root`` of the suite, packed into one layer."""
    if os.geteuid() != 0:
        raise ImagefsError("debian-minbase needs root (mmdebstrap --mode=root); run the refresh as root or skip it with --only")
    mmdebstrap_version()
    with tempfile.TemporaryDirectory(dir=ctx.build_dir) as tmp:
        target = Path(tmp) / "rootfs"
        env = {**os.environ, "SOURCE_DATE_EPOCH": str(ctx.sde), "LC_ALL": "C"}
        proc = subprocess.run(
            ["mmdebstrap", "--quiet", "--variant=minbase", "--mode=root", "--format=directory", SUITE, str(target)],
            check=False, env=env, capture_output=True, text=True,
        )
        if proc.returncode != 0:
            raise ImagefsError(f"mmdebstrap failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}")
        fs = RootFS()
        fs.add_dir(target)
        # Per-run state that would defeat reproducibility.
        for p in ("var/cache/ldconfig/aux-cache", "etc/machine-id", "var/lib/dbus/machine-id"):
            if p in fs.entries and fs.entries[p].type == "file":
                fs.file(p, b"", mode=fs.entries[p].mode or 0o644)
        return fs.layer_tar(ctx.sde)
