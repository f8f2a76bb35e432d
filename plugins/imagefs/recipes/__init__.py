"""Recipes: the site's example images, built reproducibly from Debian packages.

``build_recipe(name, build_dir)`` writes ``build/images/<name>/`` (an OCI layout, tag
``latest``) unless the layout already holds the same *input key*: a hash of everything the
image is made from (the exact package versions resolved from the mirror, the recipe code and
Go source, ``SOURCE_DATE_EPOCH``, tool versions). The key is stored as an annotation on the
``index.json`` entry (``org.imagefs.recipe.input-key``), outside the content-addressed blobs,
so it never changes an image digest.

Everything is reproducible: layer tars are sorted with clamped mtimes and fixed owners, gzip
has no name or time, JSON has sorted keys, and ``created`` is ``SOURCE_DATE_EPOCH``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import ImagefsError, NotFoundError
from ..oci_writer import (
    ImageSpec,
    WrittenImage,
    build_image,
    canonical_json,
    write_oci_layout,
)
from ..platform import Platform
from . import images as _img
from .debs import Apt, Package

log = logging.getLogger(__name__)

# Bump to rebuild every recipe after a change in how images are assembled.
RECIPE_FORMAT = 1
# The default SOURCE_DATE_EPOCH (2025-01-01T00:00:00Z) when the environment sets none.
DEFAULT_SOURCE_DATE_EPOCH = 1735689600
KEY_ANNOTATION = "org.imagefs.recipe.input-key"
NAME_ANNOTATION = "org.imagefs.recipe.name"


def source_date_epoch() -> int:
    value = os.environ.get("SOURCE_DATE_EPOCH")
    if not value:
        return DEFAULT_SOURCE_DATE_EPOCH
    try:
        return int(value)
    except ValueError as e:
        raise ImagefsError(f"SOURCE_DATE_EPOCH={value!r} is not an integer number of seconds") from e


class Context:
    """Shared state of one refresh: apt per architecture, resolved packages, built layers."""

    def __init__(self, build_dir: str | os.PathLike[str] = "build", sde: int | None = None,
                 images_dir: str | os.PathLike[str] | None = None):
        self.build_dir = Path(build_dir).resolve()
        self.build_dir.mkdir(parents=True, exist_ok=True)
        # Where layouts go (build/images by default); the apt state and .deb cache stay in build_dir.
        self.images_dir = Path(images_dir).resolve() if images_dir else self.build_dir / "images"
        self.sde = source_date_epoch() if sde is None else sde
        self.memo: dict[Any, Any] = {}
        self._apts: dict[str, Apt] = {}
        self._lock = threading.RLock()

    def apt(self, arch: str) -> Apt:
        with self._lock:
            if arch not in self._apts:
                self._apts[arch] = Apt(self.build_dir, arch)
            return self._apts[arch]

    def packages(self, arch: str, names: list[str]) -> list[Package]:
        """Resolved packages; the first call per arch resolves every recipe's list in one
        ``apt-cache`` run (each run re-reads the package lists, about two seconds)."""
        with self._lock:
            resolved: dict[str, Package] = self.memo.setdefault(("pkgs", arch), {})
            missing = [n for n in names if n not in resolved]
            if missing:
                wanted = sorted(set(missing) | {n for r in RECIPES.values() for n in r.packages.get(arch, ())})
                for p in self.apt(arch).resolve(wanted):
                    resolved[p.name] = p
            return [resolved[n] for n in names]

    @property
    def created(self) -> str:
        return datetime.fromtimestamp(self.sde, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Recipe:
    name: str
    description: str
    build: Callable[[Context], list[WrittenImage]]
    packages: dict[str, list[str]] = field(default_factory=dict)  # arch -> package names
    tools: Callable[[Context], dict[str, str]] = lambda ctx: {}
    needs_root: bool = False


def _labels(ctx: Context, name: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    labels = {
        "org.opencontainers.image.title": name,
        "org.opencontainers.image.description": RECIPES[name].description,
        "org.opencontainers.image.created": ctx.created,
        "org.imagefs.recipe": name,
    }
    labels.update(extra or {})
    return labels


def _spec(ctx: Context, name: str, layers: list[bytes], created_by: list[str], *, arch: str = "amd64",
          config: dict[str, Any] | None = None, labels: dict[str, str] | None = None) -> WrittenImage:
    lab = _labels(ctx, name, labels)
    cfg = {"Env": [_img.PATH_ENV], "Labels": lab, **(config or {})}
    return build_image(
        ImageSpec(layers, platform=Platform("linux", arch), created=ctx.created, created_by=created_by,
                  config=cfg, annotations=lab)
    )


def _pins(ctx: Context, arch: str, names: list[str]) -> str:
    return "apt: " + " ".join(p.pin() for p in ctx.packages(arch, names))


def _static(ctx: Context, arch: str = "amd64", name: str = "distroless-static") -> WrittenImage:
    return _spec(
        ctx, name, [_img.static_layer(ctx, arch)],
        [_pins(ctx, arch, _img.STATIC_PACKAGES) + " + passwd/group/os-release/ca bundle"],
        arch=arch, config={"User": "0", "WorkingDir": "/", "Env": [_img.PATH_ENV, "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"]},
    )


def _base(ctx: Context) -> list[WrittenImage]:
    return [
        _spec(
            ctx, "distroless-base", [_img.static_layer(ctx, "amd64"), _img.base_layer(ctx, "amd64")],
            [_pins(ctx, "amd64", _img.STATIC_PACKAGES) + " + passwd/group/os-release/ca bundle",
             _pins(ctx, "amd64", _img.BASE_PACKAGES)],
            config={"User": "0", "WorkingDir": "/", "Env": [_img.PATH_ENV, "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"]},
        )
    ]


def _go_tools(ctx: Context) -> dict[str, str]:
    go = shutil.which("go")
    version = subprocess.run([go, "version"], check=False, capture_output=True, text=True).stdout.strip() if go else "missing"
    return {"go": version}


def _go_scratch(ctx: Context) -> list[WrittenImage]:
    return [_spec(ctx, "go-scratch", [_img.go_layer(ctx)], ["go build -trimpath (CGO_ENABLED=0) hello"],
                  config={"Entrypoint": ["/hello"], "User": "65532:65532", "ExposedPorts": {"8080/tcp": {}}},
                  labels={"org.imagefs.go.version": _go_tools(ctx)["go"]})]


def _go_static(ctx: Context) -> list[WrittenImage]:
    return [_spec(ctx, "go-static", [_img.static_layer(ctx, "amd64"), _img.go_layer(ctx)],
                  [_pins(ctx, "amd64", _img.STATIC_PACKAGES) + " + passwd/group/os-release/ca bundle",
                   "go build -trimpath (CGO_ENABLED=0) hello"],
                  config={"Entrypoint": ["/hello"], "User": "65532:65532", "ExposedPorts": {"8080/tcp": {}},
                          "Env": [_img.PATH_ENV, "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"]},
                  labels={"org.imagefs.go.version": _go_tools(ctx)["go"]})]


def _multilayer(ctx: Context) -> list[WrittenImage]:
    return [_spec(ctx, "multilayer", _img.multilayer_layers(ctx), [
        _pins(ctx, "amd64", ["base-files", "netbase"]) + " + passwd/group",
        _pins(ctx, "amd64", ["tzdata"]) + " + /opt/app v1 (hardlink, symlinks), /var/cache/app",
        "delete /etc/services and zoneinfo/right; /opt/app/config dir -> symlink; /opt/app/logs dir -> file; opaque /var/cache/app",
        "/opt/app v2 (re-linked), re-add /etc/services",
    ])]


def _mirror_state(ctx: Context) -> str:
    """What mmdebstrap will install is decided by the mirror: hash the Release files apt saw."""
    apt = ctx.apt("amd64")
    apt.update()
    h = hashlib.sha256()
    for p in sorted((apt.root / "lists").glob("*Release")):
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def _minbase_tools(ctx: Context) -> dict[str, str]:
    return {"mmdebstrap": _img.mmdebstrap_version(), "mirror": _mirror_state(ctx)}


def _minbase(ctx: Context) -> list[WrittenImage]:
    version = _img.mmdebstrap_version()
    how = f"mmdebstrap {version} --variant=minbase --mode=root {_img.SUITE}"
    return [_spec(ctx, "debian-minbase", [_img.minbase_layer(ctx)], [how], config={"Cmd": ["bash"]}, labels={
        "org.imagefs.build.tool": f"mmdebstrap {version}",
        "org.imagefs.build.suite": _img.SUITE,
        "org.imagefs.build.variant": "minbase",
        "org.imagefs.build.command": how,
    })]


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in [
        Recipe("distroless-static", "distroless/static-style: base-files, netbase, tzdata, CA bundle, root/nobody/nonroot users",
               lambda ctx: [_static(ctx)], {"amd64": _img.STATIC_PACKAGES}),
        Recipe("distroless-base", "distroless/base-style: the static layer plus libc6, libssl3 and openssl as a second layer",
               _base, {"amd64": _img.STATIC_PACKAGES + _img.BASE_PACKAGES}),
        Recipe("go-scratch", "a scratch image holding one static Go binary (CGO_ENABLED=0, -trimpath)",
               _go_scratch, {}, _go_tools),
        Recipe("go-static", "the same static Go binary on the distroless-static layer",
               _go_static, {"amd64": _img.STATIC_PACKAGES}, _go_tools),
        Recipe("debian-minbase", "Debian 12 minbase built by mmdebstrap --variant=minbase, one layer",
               _minbase, {}, _minbase_tools, needs_root=True),
        Recipe("multilayer", "four layers with deletions, a directory replaced by a symlink and by a file, an opaque directory, hardlinks",
               _multilayer, {"amd64": _img.MULTILAYER_PACKAGES}),
        Recipe("distroless-static-arm64", "the distroless-static recipe for linux/arm64",
               lambda ctx: [_static(ctx, "arm64", "distroless-static-arm64")], {"arm64": _img.STATIC_PACKAGES}),
        Recipe("distroless-static-multiarch", "a multi-arch index of distroless-static for linux/amd64 and linux/arm64",
               lambda ctx: [_static(ctx, "amd64", "distroless-static-multiarch"), _static(ctx, "arm64", "distroless-static-multiarch")],
               {"amd64": _img.STATIC_PACKAGES, "arm64": _img.STATIC_PACKAGES}),
    ]
}


def _source_hash() -> str:
    """The recipe code and the Go source: any edit changes every input key."""
    h = hashlib.sha256()
    root = Path(__file__).parent
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix in (".py", ".go", ".mod"):
            h.update(p.relative_to(root).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def inputs(name: str, ctx: Context) -> dict[str, Any]:
    """Everything recipe ``name`` is made from (resolved package versions included)."""
    recipe = get(name)
    return {
        "recipe": name,
        "format": RECIPE_FORMAT,
        "source_date_epoch": ctx.sde,
        "packages": {arch: [f"{p.pin()} {p.arch} {p.sha256}" for p in ctx.packages(arch, names)]
                     for arch, names in sorted(recipe.packages.items())},
        "tools": recipe.tools(ctx),
        "source": _source_hash(),
    }


def input_key(name: str, ctx: Context) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(inputs(name, ctx))).hexdigest()


def get(name: str) -> Recipe:
    try:
        return RECIPES[name]
    except KeyError:
        raise NotFoundError(f"no recipe named {name!r}; known: {', '.join(RECIPES)}") from None


def layout_dir(images_dir: str | os.PathLike[str], name: str) -> Path:
    return Path(images_dir) / name


def stored_key(layout: Path, tag: str = "latest") -> str | None:
    """The input key recorded in ``layout``'s index.json for ``tag``, if any."""
    try:
        index = json.loads((layout / "index.json").read_bytes())
    except (OSError, ValueError):
        return None
    for m in index.get("manifests", []):
        ann = m.get("annotations") or {}
        if ann.get("org.opencontainers.image.ref.name") == tag:
            return ann.get(KEY_ANNOTATION)
    return None


@dataclass
class BuildResult:
    name: str
    layout: Path
    digest: str  # what index.json names for tag latest (a manifest or an index)
    input_key: str
    built: bool  # false when the stored input key matched and nothing was written


def build_recipe(name: str, ctx: Context, *, force: bool = False) -> BuildResult:
    """Build recipe ``name`` into ``build/images/<name>/`` unless its inputs are unchanged."""
    recipe = get(name)
    out = layout_dir(ctx.images_dir, name)
    key = input_key(name, ctx)
    if not force and stored_key(out) == key:
        digest = _top_digest(out)
        log.info("recipe %s: inputs unchanged (%s)", name, digest)
        return BuildResult(name, out, digest, key, False)
    log.info("recipe %s: building", name)
    images = recipe.build(ctx)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{name}.tmp-{os.getpid()}-{threading.get_ident()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        digest = write_oci_layout(tmp, images, tag="latest", as_index=len(images) > 1)
        index_path = tmp / "index.json"
        index = json.loads(index_path.read_bytes())
        for m in index["manifests"]:
            m.setdefault("annotations", {}).update({KEY_ANNOTATION: key, NAME_ANNOTATION: name})
        index_path.write_bytes(canonical_json(index))
        old = out.with_name(f".{name}.old-{os.getpid()}-{threading.get_ident()}")
        if out.exists():
            os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return BuildResult(name, out, digest, key, True)


def _top_digest(layout: Path, tag: str = "latest") -> str:
    index = json.loads((layout / "index.json").read_bytes())
    for m in index.get("manifests", []):
        if (m.get("annotations") or {}).get("org.opencontainers.image.ref.name") == tag:
            return m["digest"]
    raise NotFoundError(f"{layout}: no tag {tag!r} in index.json; rebuild with `imagefs refresh --only NAME`")
