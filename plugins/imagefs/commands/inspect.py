"""``imagefs inspect IMAGE``: what the image is, without reading any layer.

Text::

    Reference:        oci:images/demo:latest
    Manifest digest:  sha256:…
    Index digest:     sha256:…   (or -)
    Platform:         linux/amd64
    Media type:       application/vnd.oci.image.manifest.v1+json
    Config digest:    sha256:…
    Created:          2024-05-01T13:07:00Z
    Layers:           2
      0  sha256:…  28M  application/vnd.oci.image.layer.v1.tar+gzip  ADD file:… in /

``--format json`` gives the same as an object (layers with ``index``, ``digest``,
``diff_id``, ``size``, ``media_type``, ``created_by``); ``--digest-only`` prints only the
manifest digest (what CI compares to detect drift).
"""

from __future__ import annotations

import argparse
from typing import Any

from ._common import add_image_options, emit, open_image


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "inspect",
        help="show an image's digests, platform and layers",
        description="Show an image's manifest digest, platform, config and layers, reading no layer data.",
    )
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("-f", "--format", choices=("text", "json"), default="text", help="output format (default text)")
    p.add_argument("--digest-only", action="store_true", help="print only the manifest digest")
    add_image_options(p)
    p.set_defaults(run=run)
    return p


def describe(image: Any) -> dict[str, Any]:
    config = image.config
    created = config.get("created")
    return {
        "reference": image.reference,
        "manifest_digest": image.manifest_digest,
        "index_digest": image.index_digest,
        "platform": str(image.platform),
        "media_type": image.media_type,
        "config_digest": image.config_descriptor.digest,
        "created": created if isinstance(created, str) else None,
        "layers": [
            {
                "index": layer.index,
                "digest": layer.digest,
                "diff_id": layer.diff_id,
                "size": layer.descriptor.size,
                "media_type": layer.descriptor.media_type,
                "created_by": layer.created_by,
            }
            for layer in image.layers()
        ],
    }


def render_text(info: dict[str, Any]) -> str:
    from ..names import visible
    from ..render.fields import human_size
    from ..render.layers import created_by

    rows = [
        ("Reference", visible(info["reference"])),
        ("Manifest digest", info["manifest_digest"]),
        ("Index digest", info["index_digest"] or "-"),
        ("Platform", visible(info["platform"])),
        ("Media type", visible(info["media_type"] or "-")),
        ("Config digest", info["config_digest"]),
        ("Created", visible(info["created"] or "-")),
        ("Layers", str(len(info["layers"]))),
    ]
    lines = [f"{k + ':':<17} {v}" for k, v in rows]
    layers = info["layers"]
    if layers:
        w_size = max(len(human_size(layer["size"])) for layer in layers)
        w_mt = max(len(visible(layer["media_type"])) for layer in layers)
        for layer in layers:
            lines.append(
                f"  {layer['index']:<{len(str(len(layers) - 1))}}  {layer['digest']}  "
                f"{human_size(layer['size']):>{w_size}}  {visible(layer['media_type']):<{w_mt}}  "
                f"{created_by(layer['created_by'], None)}".rstrip()
            )
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    with open_image(args, args.image) as image:
        if args.digest_only:
            emit(image.manifest_digest + "\n")
            return 0
        info = describe(image)
    if args.format == "json":
        from ..render.json import dumps

        emit(dumps(info))
    else:
        emit(render_text(info))
    return 0
