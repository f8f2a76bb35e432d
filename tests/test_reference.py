"""Image names: skopeo transports and distribution/reference docker references."""

from __future__ import annotations

import pytest

from imagefs.errors import BadReferenceError, UsageError
from imagefs.reference import DockerReference, ImageRef, parse, parse_docker_reference

H64 = "a" * 64
D256 = "sha256:" + H64
D512 = "sha512:" + "b" * 128

GOOD_DOCKER = [
    # text, registry, repository, tag, digest, familiar str
    ("debian", "docker.io", "library/debian", "latest", None, "debian:latest"),
    ("debian:12", "docker.io", "library/debian", "12", None, "debian:12"),
    ("docker.io/library/debian:12", "docker.io", "library/debian", "12", None, "debian:12"),
    ("index.docker.io/library/debian", "docker.io", "library/debian", "latest", None, "debian:latest"),
    ("library/debian", "docker.io", "library/debian", "latest", None, "debian:latest"),
    ("user/app", "docker.io", "user/app", "latest", None, "user/app:latest"),
    ("user/team/app:v1.2", "docker.io", "user/team/app", "v1.2", None, "user/team/app:v1.2"),
    ("ghcr.io/o/r@" + D256, "ghcr.io", "o/r", None, D256, "ghcr.io/o/r@" + D256),
    ("ghcr.io/o/r:1@" + D256, "ghcr.io", "o/r", "1", D256, "ghcr.io/o/r:1@" + D256),
    ("debian@" + D512, "docker.io", "library/debian", None, D512, "debian@" + D512),
    ("localhost/app", "localhost", "app", "latest", None, "localhost/app:latest"),
    ("localhost:5000/app:dev", "localhost:5000", "app", "dev", None, "localhost:5000/app:dev"),
    ("127.0.0.1:5000/a/b", "127.0.0.1:5000", "a/b", "latest", None, "127.0.0.1:5000/a/b:latest"),
    ("[::1]:5000/app", "[::1]:5000", "app", "latest", None, "[::1]:5000/app:latest"),
    ("registry.example.com/a.b/c_d/e__f/g-h/i---j", "registry.example.com", "a.b/c_d/e__f/g-h/i---j", "latest", None, None),
    ("myhost:443/x", "myhost:443", "x", "latest", None, None),
    ("Registry.Example.COM/x", "Registry.Example.COM", "x", "latest", None, None),
    ("UpperHost/x", "UpperHost", "x", "latest", None, None),
    ("app:" + "t" * 128, "docker.io", "library/app", "t" * 128, None, None),
    ("app:_under.dot-dash", "docker.io", "library/app", "_under.dot-dash", None, None),
    ("a" * 64 + ":tag", "docker.io", "library/" + "a" * 64, "tag", None, None),
]
GOOD_IDS = [
    "official-short", "official-tag", "fully-qualified", "legacy-index-host", "library-explicit",
    "user-repo", "deep-path-dotted-tag", "digest-only", "tag-and-digest", "sha512-digest", "localhost-no-port",
    "localhost-port", "ipv4-port", "ipv6-port", "all-separators", "host-with-port-no-dot",
    "uppercase-domain-allowed", "uppercase-first-component-is-domain", "tag-128-chars", "tag-underscore-start",
    "hex64-name-with-tag",
]


@pytest.mark.parametrize("text, registry, repository, tag, digest, familiar", GOOD_DOCKER, ids=GOOD_IDS)
def test_good_docker_references(text, registry, repository, tag, digest, familiar):
    ref = parse_docker_reference(text)
    assert ref == DockerReference(registry, repository, tag, digest)
    if familiar:
        assert str(ref) == familiar
    # the canonical form parses back to the same reference
    assert parse_docker_reference(ref.canonical) == ref


BAD_DOCKER = [
    ("", "empty"),
    ("Debian", "lowercase"),
    ("user/MyApp", "lowercase"),
    ("debian:", "invalid tag"),
    ("debian:-x", "invalid tag"),
    ("debian:.x", "invalid tag"),
    ("debian:" + "t" * 129, "maximum is 128"),
    ("debian:a/b", "invalid registry host"),
    ("debian@sha256:abc", "invalid digest"),
    ("debian@sha256:" + "A" * 64, "lowercase"),
    ("debian@sha256:" + "a" * 63 + "g", "invalid digest"),
    ("debian@md5:" + "a" * 32, "unsupported digest algorithm"),
    ("debian@sha256:" + "a" * 65, "64 hex digits"),
    ("debian@" + D256 + "@" + D256, "more than one"),
    ("a" * 64, "image ID"),
    ("-debian", "invalid repository"),
    ("debian-", "invalid repository"),
    ("deb..ian", "invalid repository"),
    ("deb___ian", "invalid repository"),
    ("a//b", "invalid repository"),
    ("/debian", "invalid repository"),
    ("ghcr.io/", "no repository"),
    ("-bad.host/x", "invalid registry host"),
    ("host:port/x", "invalid registry host"),
    ("debian 12", "no spaces"),
    (":12", "no repository"),
    ("ghcr.io/" + "a" * 250, "maximum is 255"),
    ("@" + D256, "no repository"),
]


@pytest.mark.parametrize("text, pattern", BAD_DOCKER, ids=[
    "empty", "uppercase-official", "uppercase-path", "empty-tag", "tag-starts-dash", "tag-starts-dot",
    "tag-129", "slash-in-tag", "short-digest", "uppercase-digest", "non-hex-digest", "unknown-algorithm",
    "digest-too-long", "two-digests", "bare-image-id", "leading-dash", "trailing-dash", "double-dot",
    "triple-underscore", "empty-component", "leading-slash", "registry-only", "bad-host", "non-numeric-port",
    "space", "tag-without-name", "name-over-255", "digest-without-name",
])
def test_bad_docker_references(text, pattern):
    with pytest.raises(BadReferenceError, match=pattern) as ei:
        parse_docker_reference(text)
    msg = str(ei.value)
    assert "\n" not in msg and "for example" in msg


def test_uppercase_hint_suggests_lowercase():
    with pytest.raises(BadReferenceError, match="try 'myapp'"):
        parse_docker_reference("MyApp:1")


def test_bad_reference_is_a_usage_error():
    assert issubclass(BadReferenceError, UsageError)


GOOD_TRANSPORT = [
    ("oci:/data/layout", ImageRef("oci", path="/data/layout")),
    ("oci:/data/layout:v1", ImageRef("oci", path="/data/layout", tag="v1")),
    ("oci:layout:", ImageRef("oci", path="layout")),
    ("oci:./rel/dir:latest", ImageRef("oci", path="./rel/dir", tag="latest")),
    ("oci:/data/layout@" + D256, ImageRef("oci", path="/data/layout", digest=D256)),
    ("oci:/a:b/c", ImageRef("oci", path="/a:b/c")),
    ("oci:/a:b/c:t", ImageRef("oci", path="/a:b/c", tag="t")),
    ("oci:/my@dir:t", ImageRef("oci", path="/my@dir", tag="t")),
    ("oci-archive:img.tar", ImageRef("oci-archive", path="img.tar")),
    ("oci-archive:img.tar:1.0", ImageRef("oci-archive", path="img.tar", tag="1.0")),
    ("docker-archive:img.tar", ImageRef("docker-archive", path="img.tar")),
    ("docker-archive:img.tar:app:1",
     ImageRef("docker-archive", path="img.tar", tag="app:1", docker=DockerReference("docker.io", "library/app", "1"))),
    ("docker-archive:img.tar:localhost:5000/a/b:c",
     ImageRef("docker-archive", path="img.tar", tag="localhost:5000/a/b:c", docker=DockerReference("localhost:5000", "a/b", "c"))),
    ("docker-archive:img.tar:app",
     ImageRef("docker-archive", path="img.tar", tag="app:latest", docker=DockerReference("docker.io", "library/app", "latest"))),
    ("docker-archive:img.tar:@1", ImageRef("docker-archive", path="img.tar", index=1)),
    ("docker://debian", ImageRef("docker", docker=DockerReference("docker.io", "library/debian", "latest"))),
    ("debian:12", ImageRef("docker", docker=DockerReference("docker.io", "library/debian", "12"))),
    ("localhost:5000/x", ImageRef("docker", docker=DockerReference("localhost:5000", "x", "latest"))),
    ("ghcr.io/o/r@" + D256, ImageRef("docker", docker=DockerReference("ghcr.io", "o/r", None, D256))),
]


@pytest.mark.parametrize("text, expected", GOOD_TRANSPORT, ids=[
    "oci-dir", "oci-tag", "oci-empty-tag", "oci-relative", "oci-digest", "oci-colon-in-dir",
    "oci-colon-in-dir-and-tag", "oci-at-in-dir", "oci-archive", "oci-archive-tag", "docker-archive",
    "docker-archive-repo-tag", "docker-archive-port-in-ref", "docker-archive-default-tag",
    "docker-archive-index", "docker-scheme", "bare-ref", "bare-ref-with-port", "bare-digest",
])
def test_good_transport_names(text, expected):
    ref = parse(text)
    assert ref == expected
    assert parse(str(ref)) == ref  # canonical form round-trips


def test_existing_path_with_colon_is_whole_path(tmp_path):
    d = tmp_path / "lay:out"
    d.mkdir()
    assert parse(f"oci:{d}") == ImageRef("oci", path=str(d))
    f = tmp_path / "a:b.tar"
    f.write_bytes(b"")
    assert parse(f"docker-archive:{f}:app:1").path == str(f)
    assert parse(f"docker-archive:{f}") == ImageRef("docker-archive", path=str(f))


@pytest.mark.parametrize("text, expected", [
    ("debian", "docker://docker.io/library/debian:latest"),
    ("oci:/x:t", "oci:/x:t"),
    ("oci:/x@" + D256, "oci:/x@" + D256),
    ("docker-archive:f.tar:app:1", "docker-archive:f.tar:docker.io/library/app:1"),
], ids=["docker-canonical", "oci", "oci-digest", "docker-archive-canonical"])
def test_canonical_str(text, expected):
    assert str(parse(text)) == expected


BAD_TRANSPORT = [
    ("", "empty"),
    ("oci:", "needs a path"),
    ("oci::tag", "needs a path"),
    ("oci:/x:bad!tag", "invalid tag"),
    ("oci:/x@sha256:123", "invalid digest"),
    ("oci:@" + D256, "needs a path"),
    ("oci-archive:", "needs a path"),
    ("docker-archive:", "needs a file"),
    ("docker-archive:f.tar:@x", "image number"),
    ("docker-archive:f.tar:app@" + D256, "not a digest"),
    ("docker-archive:f.tar:Bad", "lowercase"),
    ("docker:debian", "docker://"),
    ("docker://", "empty"),
    ("dir:/tmp/x", "not supported"),
    ("containers-storage:x", "not supported"),
    ("oci:/x\n", "newline"),
]


@pytest.mark.parametrize("text, pattern", BAD_TRANSPORT, ids=[
    "empty", "oci-no-path", "oci-tag-no-path", "oci-bad-tag", "oci-bad-digest", "oci-digest-no-path",
    "oci-archive-no-path", "docker-archive-no-file", "docker-archive-bad-index", "docker-archive-digest",
    "docker-archive-uppercase", "docker-without-slashes", "docker-empty", "dir-transport",
    "containers-storage", "newline",
])
def test_bad_transport_names(text, pattern):
    with pytest.raises(BadReferenceError, match=pattern) as ei:
        parse(text)
    assert "\n" not in str(ei.value).replace("\\n", "")


def test_parse_passes_imageref_through():
    r = ImageRef("oci", path="x")
    assert parse(r) is r


# --- properties ----------------------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_alnum = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
_sep = st.sampled_from([".", "_", "__", "-", "--"])
_component = st.builds(lambda a, rest: a + "".join(s + b for s, b in rest), _alnum, st.lists(st.tuples(_sep, _alnum), max_size=2))
_path = st.lists(_component, min_size=1, max_size=4).map("/".join)
_host = st.one_of(
    st.just("localhost"),
    st.builds(lambda a, b: f"{a}.{b}", st.text("abcdefghij0123456789", min_size=1, max_size=6), st.sampled_from(["io", "com", "example.org"])),
)
_port = st.one_of(st.just(""), st.integers(1, 65535).map(lambda p: f":{p}"))
_tag = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)
_digest = st.text("0123456789abcdef", min_size=64, max_size=64).map(lambda h: "sha256:" + h)


@settings(max_examples=300, deadline=None)
@given(
    host=st.one_of(st.none(), st.builds(str.__add__, _host, _port)),
    path=_path,
    tag=st.one_of(st.none(), _tag),
    digest=st.one_of(st.none(), _digest),
)
def test_generated_references_round_trip(host, path, tag, digest):
    text = (f"{host}/" if host else "") + path + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
    if len((host or "docker.io") + "/" + path) > 200 or (host is None and len(path) == 64 and not tag):
        return
    if host is None and ("/" in path and "." in path.split("/")[0] or path.split("/")[0] == "localhost"):
        return  # then the first component is a registry host: covered by the tables
    ref = parse_docker_reference(text)
    assert ref.tag == (tag if tag or digest else "latest") and ref.digest == digest
    assert ref.registry == (host or "docker.io")
    assert ref.repository.endswith(path)
    assert parse_docker_reference(ref.canonical) == ref
    assert parse_docker_reference(str(ref)) == ref
    assert parse(str(parse(text))) == parse(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_any_text_parses_or_fails_with_one_line_bad_reference(text):
    try:
        parse(text)
    except BadReferenceError as err:
        assert "\n" not in str(err).replace("\\n", "")
