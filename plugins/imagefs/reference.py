"""Image names: skopeo's transport syntax and docker references.

PLACEHOLDER until the reference parser lands (owned by the sources work):

    parse("oci:DIR[:TAG]") / parse("oci:DIR@sha256:…")
    parse("oci-archive:FILE[:TAG]")
    parse("docker-archive:FILE[:REPO:TAG]")
    parse("docker://REF") / parse("REF")            -> transport "docker"
    parse_docker_reference("debian")                -> DockerReference(registry="docker.io",
                                                       repository="library/debian", tag="latest")
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DockerReference:
    registry: str  # "docker.io", "ghcr.io", "localhost:5000"
    repository: str  # "library/debian"
    tag: str | None = None
    digest: str | None = None


@dataclass(frozen=True, slots=True)
class ImageRef:
    transport: str  # "oci" | "oci-archive" | "docker-archive" | "docker"
    path: str | None = None  # local transports: the directory or file
    tag: str | None = None  # oci/oci-archive tag, or docker-archive "repo:tag"
    digest: str | None = None  # oci:DIR@sha256:…
    docker: DockerReference | None = None  # transport "docker"
