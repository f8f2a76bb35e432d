"""Unit tables for the registry source: challenges, credentials, redaction, insecure hosts, retry timing."""

from __future__ import annotations

import base64
import json
import logging
import os
import stat

import pytest
from imagefs.errors import AuthError, BadReferenceError, UsageError
from imagefs.reference import DockerReference, ImageRef
from imagefs.sources._auth import (
    Challenge,
    Credentials,
    find_credentials,
    parse_challenges,
    redact,
)
from imagefs.sources._client import endpoint_of, repository_of
from imagefs.sources._http import (
    RetryPolicy,
    insecure_allowed,
    is_loopback,
    parse_retry_after,
    safe_url,
)
from imagefs.sources.registry import open_source


@pytest.mark.parametrize(
    "header, expected",
    [
        (
            'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"',
            [
                Challenge(
                    "bearer",
                    {
                        "realm": "https://auth.docker.io/token",
                        "service": "registry.docker.io",
                        "scope": "repository:library/alpine:pull",
                    },
                )
            ],
        ),
        (
            'Basic realm="Registry Realm"',
            [Challenge("basic", {"realm": "Registry Realm"})],
        ),
        (
            "BEARER Realm=https://x/t , Service=s",
            [Challenge("bearer", {"realm": "https://x/t", "service": "s"})],
        ),
        (
            'Basic realm="a", Bearer realm="b",error="invalid_token"',
            [
                Challenge("basic", {"realm": "a"}),
                Challenge("bearer", {"realm": "b", "error": "invalid_token"}),
            ],
        ),
        (
            'Bearer realm="q\\"uote",scope="repository:a:pull,push"',
            [
                Challenge(
                    "bearer", {"realm": 'q"uote', "scope": "repository:a:pull,push"}
                )
            ],
        ),
        (
            "Negotiate abc==, Basic realm=x",
            [Challenge("negotiate", {"": "abc=="}), Challenge("basic", {"realm": "x"})],
        ),
        ("", []),
        (',,,="', []),
        ("Bearer", [Challenge("bearer", {})]),
    ],
    ids=[
        "docker-hub",
        "basic",
        "case-and-tokens",
        "two-challenges",
        "escaped-quote-and-comma-in-value",
        "token68",
        "empty",
        "garbage",
        "bare-scheme",
    ],
)
def test_www_authenticate_parsing(header, expected):
    assert parse_challenges(header) == expected


@pytest.fixture
def docker_config(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    monkeypatch.delenv("IMAGEFS_REGISTRY_CREDS", raising=False)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    helper = bindir / "docker-credential-test"
    # a fake credential helper: answers for two servers, "not found" for the rest
    helper.write_text(
        "#!/bin/sh\n"
        "read server\n"
        'case "$server" in\n'
        '  https://index.docker.io/v1/) echo \'{"ServerURL":"hub","Username":"hubuser","Secret":"hubpass"}\';;\n'
        '  ghcr.io) echo \'{"ServerURL":"ghcr.io","Username":"<token>","Secret":"idtok"}\';;\n'
        '  *) echo "credentials not found in native keychain"; exit 1;;\n'
        "esac\n"
    )
    helper.chmod(helper.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")

    def write(doc):
        (tmp_path / "config.json").write_text(json.dumps(doc))

    return write


def _b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


@pytest.mark.parametrize(
    "config, registry, expected",
    [
        (
            {"auths": {"quay.io": {"auth": _b64("u:p:with:colons")}}},
            "quay.io",
            ("u", "p:with:colons"),
        ),
        (
            {"auths": {"https://quay.io/v1/": {"username": "u", "password": "p"}}},
            "quay.io",
            ("u", "p"),
        ),
        (
            {"auths": {"https://index.docker.io/v1/": {"auth": _b64("hub:pw")}}},
            "docker.io",
            ("hub", "pw"),
        ),
        (
            {"auths": {"localhost:5000": {"auth": _b64("l:p")}}},
            "localhost:5000",
            ("l", "p"),
        ),
        ({"auths": {"localhost:5000": {"auth": _b64("l:p")}}}, "localhost:5001", None),
        ({"credHelpers": {"docker.io": "test"}}, "docker.io", ("hubuser", "hubpass")),
        ({"credsStore": "test"}, "docker.io", ("hubuser", "hubpass")),
        ({"credsStore": "test"}, "quay.io", None),
        ({"credsStore": "test"}, "ghcr.io", ("", "")),  # an identity token, see below
        (
            {
                "credHelpers": {"quay.io": "test"},
                "auths": {"quay.io": {"auth": _b64("a:b")}},
            },
            "quay.io",
            None,
        ),
        (
            {"auths": {"quay.io": {"auth": _b64("a:b")}}, "credsStore": "test"},
            "quay.io",
            ("a", "b"),
        ),
        ({}, "quay.io", None),
    ],
    ids=[
        "auth-base64-colons",
        "username-password-url-key",
        "hub-legacy-key",
        "host-port",
        "other-port-no-match",
        "credHelpers",
        "credsStore-hub",
        "credsStore-not-found",
        "helper-identity-token",
        "credHelpers-win-over-auths",
        "auths-before-credsStore",
        "empty",
    ],
)
def test_docker_config_lookup(docker_config, config, registry, expected):
    docker_config(config)
    creds = find_credentials(registry)
    assert (None if creds is None else (creds.username, creds.password)) == expected


def test_identity_token_from_helper(docker_config):
    docker_config({"credsStore": "test"})
    assert find_credentials("ghcr.io").identity_token == "idtok"


def test_explicit_creds_then_env_win(docker_config, monkeypatch):
    docker_config({"auths": {"quay.io": {"auth": _b64("cfg:cfg")}}})
    monkeypatch.setenv("IMAGEFS_REGISTRY_CREDS", "env:envpw")
    assert find_credentials("quay.io", "cli:clipw").username == "cli"
    assert find_credentials("quay.io").username == "env"


@pytest.mark.parametrize(
    "config, message",
    [
        ({"credsStore": "absent"}, r"docker-credential-absent is not on PATH"),
        ({"auths": {"quay.io": {"auth": _b64("nocolon")}}}, r"not base64 of USER:PASS"),
    ],
    ids=["missing-helper", "bad-auth-field"],
)
def test_docker_config_errors_are_clear(docker_config, config, message):
    docker_config(config)
    with pytest.raises((AuthError, UsageError), match=message):
        find_credentials("quay.io")


@pytest.mark.parametrize("text", ["nopassword", ":pw"], ids=["no-colon", "no-user"])
def test_bad_creds_option(text):
    with pytest.raises(UsageError, match=r"--creds: expected USER:PASS"):
        find_credentials("quay.io", text)


def test_credentials_repr_hides_the_secret():
    assert "pw123" not in repr(Credentials("u", "pw123", "test"))


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Authorization: Bearer eyJhbGciOi.J9-x_y", "Authorization: Bearer ***"),
        ("Authorization: Basic YWxpY2U6czNjcmV0", "Authorization: Basic ***"),
        (
            "https://cdn/x?X-Amz-Signature=abc123&X-Amz-Credential=k",
            "https://cdn/x?X-Amz-Signature=***&X-Amz-Credential=***",
        ),
        ("token=abc&scope=repository", "token=***&scope=repository"),
        ('{"token": "abc", "expires_in": 60}', '{"token": "***", "expires_in": 60}'),
        ('{"access_token":"abc"}', '{"access_token": "***"}'),
        ("nothing secret here", "nothing secret here"),
    ],
    ids=[
        "bearer",
        "basic",
        "signed-url",
        "query-token",
        "json-token",
        "json-access-token",
        "clean",
    ],
)
def test_redaction_patterns(text, expected):
    assert redact(text) == expected


def test_redaction_of_known_secrets_and_log_lines(caplog):
    redact.add("sekrit-token-value")
    Credentials("u", "p4ssw0rd-x", "test")
    log = logging.getLogger("imagefs.sources._client")
    caplog.set_level(logging.DEBUG)
    log.warning("got %s and %s", "sekrit-token-value", "p4ssw0rd-x")
    assert caplog.records[-1].getMessage() == "got *** and ***"
    assert redact("a sekrit-token-value b") == "a *** b"


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://cdn.example/blobs/x?sig=abc", "https://cdn.example/blobs/x?…"),
        ("https://user:pw@host:8443/v2/", "https://host:8443/v2/"),
        ("http://[::1]:5000/v2/", "http://[::1]:5000/v2/"),
    ],
    ids=["query-dropped", "userinfo-dropped", "ipv6"],
)
def test_safe_url(url, expected):
    assert safe_url(url) == expected


@pytest.mark.parametrize(
    "host, insecure, tls_verify, allowed",
    [
        ("localhost:5000", (), True, True),
        ("127.0.0.1:5000", (), True, True),
        ("127.8.9.10", (), True, True),
        ("[::1]:5000", (), True, True),
        ("registry.localhost", (), True, True),
        ("10.0.0.1:5000", (), True, False),
        ("registry.example", (), True, False),
        ("registry.example:5000", ("registry.example",), True, True),
        ("registry.example:5000", ("registry.example:5000",), True, True),
        ("registry.example:5001", ("registry.example:5000",), True, False),
        ("registry.example", (), False, True),
        ("localhost.example.com", (), True, False),
        ("128.0.0.1", (), True, False),
    ],
    ids=[
        "localhost",
        "127.0.0.1",
        "127/8",
        "ipv6-loopback",
        "dot-localhost",
        "private-ip",
        "public-name",
        "insecure-host-any-port",
        "insecure-host-port",
        "insecure-other-port",
        "tls-verify-false",
        "localhost-lookalike",
        "not-127/8",
    ],
)
def test_plain_http_rules(host, insecure, tls_verify, allowed):
    assert insecure_allowed(host, insecure, tls_verify) is allowed


def test_is_loopback_plain_names():
    assert is_loopback("127.0.0.1") and not is_loopback("example.com")


@pytest.mark.parametrize(
    "registry, repository, endpoint, repo",
    [
        ("docker.io", "alpine", "registry-1.docker.io", "library/alpine"),
        ("docker.io", "library/alpine", "registry-1.docker.io", "library/alpine"),
        ("index.docker.io", "bitnami/redis", "registry-1.docker.io", "bitnami/redis"),
        ("ghcr.io", "alpine", "ghcr.io", "alpine"),
        ("localhost:5000", "x", "localhost:5000", "x"),
    ],
    ids=[
        "hub-official",
        "hub-library",
        "hub-legacy-name",
        "other-registry-no-library",
        "local",
    ],
)
def test_docker_hub_conventions(registry, repository, endpoint, repo):
    assert (
        endpoint_of(registry) == endpoint
        and repository_of(registry, repository) == repo
    )


@pytest.mark.parametrize(
    "value, expected",
    [
        ("3", 3.0),
        (" 10 ", 10.0),
        (None, None),
        ("soon", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
    ],
    ids=["seconds", "spaces", "absent", "garbage", "past-date"],
)
def test_retry_after_parsing(value, expected):
    assert parse_retry_after(value) == expected


def test_backoff_grows_with_jitter_and_caps():
    policy = RetryPolicy(base=1.0, cap=8.0, retry_after_cap=5.0)
    for attempt, (lo, hi) in enumerate([(0.5, 1), (1, 2), (2, 4), (4, 8), (4, 8)]):
        assert all(lo <= policy.delay(attempt) <= hi for _ in range(50))
    assert policy.delay(0, retry_after=100) == 5.0
    assert policy.delay(3, retry_after=2) == 2.0


def test_open_source_needs_a_docker_reference():
    with pytest.raises(BadReferenceError):
        open_source(ImageRef("docker"))
    src = open_source(
        ImageRef(
            "docker", docker=DockerReference("docker.io", "library/alpine", "3.20")
        )
    )
    assert (
        src.client.endpoint == "registry-1.docker.io"
        and src.name == "docker.io/library/alpine:3.20"
    )
    src.close()


def test_unresolvable_registry_fails_fast_in_one_line(monkeypatch):
    import socket

    from imagefs.errors import RegistryError
    from imagefs.sources import open_image

    def no_dns(*args, **kwargs):  # hermetic: no resolver is asked
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    with pytest.raises(
        RegistryError,
        match=r"cannot resolve no-such-registry\.invalid .*check the registry name",
    ):
        open_image("docker://no-such-registry.invalid/x:1", document_cache=False)


def test_document_cache_verifies_what_it_returns(tmp_path):
    from imagefs.sources.registry import DocumentCache

    cache = DocumentCache(tmp_path)
    data = b'{"schemaVersion":2}'
    import hashlib

    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    assert cache.get(digest) is None
    cache.put(digest, data)
    assert cache.get(digest) == data
    (tmp_path / "sha256" / digest[7:]).write_bytes(b"tampered")
    assert cache.get(digest) is None  # a corrupt entry is a miss, never returned
    assert DocumentCache(None).get(digest) is None


@pytest.mark.parametrize(
    "registry, opts, scheme, may_fall_back",
    [
        ("registry.example", {}, "https", False),
        (
            "registry.example:5000",
            {"insecure_registries": ("registry.example:5000",)},
            "https",
            True,
        ),
        ("registry.example", {"tls_verify": False}, "https", True),
        ("127.0.0.1:5000", {}, "https", True),
    ],
    ids=["https-only-by-default", "insecure-registry", "tls-verify-false", "loopback"],
)
def test_https_first_plain_http_only_when_allowed(
    registry, opts, scheme, may_fall_back
):
    from imagefs.sources._client import RegistryClient

    client = RegistryClient(registry, "r", **opts)
    assert client.url("/x").startswith(f"{scheme}://")
    assert (
        client.insecure is may_fall_back and client._scheme_settled is not may_fall_back
    )
