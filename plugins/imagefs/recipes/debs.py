"""Debian packages for the recipes: resolve, download (cached), and read without dpkg.

apt runs with a private state directory per architecture (``build/apt/<arch>/``) that reuses
the host's configured mirrors (``/etc/apt/sources.list*``), so no root is needed, the host's
package state is untouched, and foreign architectures (arm64) need no ``dpkg
--add-architecture``. Downloads land in ``build/debs/`` and are verified against the SHA256
from the package index; a cached file with the right hash is reused.

A ``.deb`` is an ``ar`` archive; :func:`iter_deb_members` reads its ``data.tar.*`` with
:mod:`tarfile` (gz, xz, bz2, zst, or none), so owners and modes come from the package itself
and no maintainer script ever runs.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import shutil
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import ImagefsError, NotFoundError

log = logging.getLogger(__name__)

_update_lock = threading.Lock()


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    arch: str  # the package's own architecture ("all" for arch-independent ones)
    filename: str  # pool path on the mirror
    sha256: str

    @property
    def deb_name(self) -> str:
        return f"{self.name}_{self.version.replace(':', '%3a')}_{self.arch}.deb"

    def pin(self) -> str:
        return f"{self.name}={self.version}"


class Apt:
    """apt-get / apt-cache with a private state directory for one architecture."""

    def __init__(self, build_dir: Path, arch: str):
        self.arch = arch
        self.root = Path(build_dir) / "apt" / arch
        self.debs = Path(build_dir) / "debs"
        self._updated = False

    def _opts(self) -> list[str]:
        r = self.root
        return [
            "-q",
            "-o", f"APT::Architecture={self.arch}",
            "-o", f"APT::Architectures={self.arch}",
            "-o", f"Dir::State::Lists={r / 'lists'}",
            "-o", f"Dir::State::status={r / 'status'}",
            "-o", f"Dir::Cache={r / 'cache'}",
            "-o", "Debug::NoLocking=1",
            # As root, apt would hand downloads to the _apt user, who cannot write to build/.
            *(["-o", "APT::Sandbox::User=root"] if os.geteuid() == 0 else []),
        ]

    def _run(self, tool: str, *args: str, cwd: Path | None = None) -> str:
        if not shutil.which(tool):
            raise ImagefsError(f"{tool} is not installed; the recipes need Debian's apt (see .ci/apt-packages.txt)")
        cmd = [tool, *self._opts(), *args]
        proc = subprocess.run(cmd, check=False, cwd=cwd, capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"})
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise ImagefsError(f"{' '.join(cmd[:1] + list(args[:2]))} for {self.arch} failed: {last}")
        return proc.stdout

    def update(self, *, force: bool = False) -> None:
        """Fetch the package indexes into the private state (once per process, or if missing)."""
        with _update_lock:
            lists = self.root / "lists"
            if self._updated or (not force and lists.is_dir() and any(lists.glob("*_Packages*"))):
                self._updated = True
                return
            (lists / "partial").mkdir(parents=True, exist_ok=True)
            (self.root / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
            (self.root / "status").touch()
            log.info("apt-get update for %s", self.arch)
            self._run("apt-get", "update")
            self._updated = True

    def resolve(self, names: list[str]) -> list[Package]:
        """The candidate version of each package (exact version, pool file, SHA256)."""
        self.update()
        out = self._run("apt-cache", "show", "--no-all-versions", *names)
        pkgs: dict[str, Package] = {}
        for stanza in out.split("\n\n"):
            fields: dict[str, str] = {}
            for line in stanza.splitlines():
                if line[:1].isspace() or ":" not in line:
                    continue
                k, _, v = line.partition(":")
                fields[k] = v.strip()
            if "Package" in fields and fields["Package"] not in pkgs:
                pkgs[fields["Package"]] = Package(
                    fields["Package"], fields["Version"], fields["Architecture"], fields["Filename"], fields["SHA256"]
                )
        missing = [n for n in names if n not in pkgs]
        if missing:
            raise NotFoundError(f"Debian package(s) {', '.join(missing)} not found for {self.arch}; check the recipe's package list")
        return [pkgs[n] for n in names]

    def fetch(self, pkg: Package) -> Path:
        """The .deb of ``pkg`` in ``build/debs/``, downloaded once and verified by SHA256."""
        self.debs.mkdir(parents=True, exist_ok=True)
        path = self.debs / pkg.deb_name
        if path.exists() and _sha256_file(path) == pkg.sha256:
            return path
        tmp = self.debs / f".dl-{pkg.arch}-{os.getpid()}-{threading.get_ident()}"
        tmp.mkdir(parents=True, exist_ok=True)
        try:
            self._run("apt-get", "download", f"{pkg.name}:{pkg.arch}={pkg.version}" if pkg.arch != "all" else f"{pkg.name}={pkg.version}", cwd=tmp)
            (got,) = list(tmp.glob("*.deb"))
            if _sha256_file(got) != pkg.sha256:
                raise ImagefsError(f"downloaded {got.name} does not match the SHA256 in the package index; run `apt-get update` (indexes are stale)")
            os.replace(got, path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return path


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _ar_members(data: bytes, where: str) -> Iterator[tuple[str, bytes]]:
    if not data.startswith(b"!<arch>\n"):
        raise ImagefsError(f"{where}: not a .deb (no ar magic)")
    pos = 8
    while pos + 60 <= len(data):
        header = data[pos : pos + 60]
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        try:
            size = int(header[48:58].decode("ascii").strip())
        except ValueError as e:
            raise ImagefsError(f"{where}: bad ar header at offset {pos}") from e
        pos += 60
        yield name, data[pos : pos + size]
        pos += size + (size & 1)


def _open_data_tar(name: str, blob: bytes) -> tarfile.TarFile:
    if name.endswith(".zst"):
        import zstandard

        raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(blob)).read()
        return tarfile.open(fileobj=io.BytesIO(raw), mode="r:")
    return tarfile.open(fileobj=io.BytesIO(blob), mode="r:*")


def iter_deb_members(path: Path) -> Iterator[tuple[tarfile.TarInfo, bytes]]:
    """Each (TarInfo, file data) of a .deb's data.tar.* — the files dpkg would unpack."""
    data = Path(path).read_bytes()
    for name, blob in _ar_members(data, str(path)):
        if name.startswith("data.tar"):
            with _open_data_tar(name, blob) as tf:
                for info in tf:
                    body = tf.extractfile(info).read() if info.isreg() else b""  # type: ignore[union-attr]
                    yield info, body
            return
    raise ImagefsError(f"{path}: no data.tar member; is it a .deb?")
