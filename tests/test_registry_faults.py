"""The bearer-token flow and every fault, through a token server and a fault proxy in front
of the real registry (all on loopback). Each case ends in success or a one-line error, never
a hang (short timeouts) and never a partial result (the error is raised, nothing returned).
"""

from __future__ import annotations

import logging

import pytest
from imagefs.errors import (
    AuthError,
    DigestMismatchError,
    ImagefsError,
    InvalidImageError,
    RegistryError,
    UnsupportedError,
)
from registry.fixtures import *
from registry.fixtures import Pushed
from registry.proxy import BLOB_RE, MANIFEST_RE, Reply
from test_registry import local_layers, read_all


def big_layer_digest(pushed: Pushed) -> str:
    import json

    return json.loads(pushed.image.manifest)["layers"][1]["digest"]


def test_bearer_token_flow(registry_images: Pushed, token_proxy):
    facts, layers = read_all(registry_images.ref(host=token_proxy.hostport))
    assert facts[0] == registry_images.image.manifest_digest
    assert layers == local_layers(registry_images, registry_images.image)
    token_requests = token_proxy.tokens.requests
    assert token_requests, "the proxy challenged, so a token was fetched"
    assert all("scope=repository%3Atest%2Fimg%3Apull" in r.path for r in token_requests)
    assert all("service=imagefs-test" in r.path for r in token_requests)
    # every request after the first challenge carried a token the server issued
    authed = [r for r in token_proxy.requests if r.headers.get("Authorization")]
    assert authed and all(
        r.headers["Authorization"][7:] in token_proxy.tokens.issued for r in authed
    )


def test_bearer_with_creds_sends_basic_to_the_realm_only(
    registry_images: Pushed, token_proxy, monkeypatch
):
    monkeypatch.setenv("DOCKER_CONFIG", "/nonexistent")
    read_all(registry_images.ref(host=token_proxy.hostport), creds="bob:hunter22")
    assert all(
        r.headers.get("Authorization", "").startswith("Basic ")
        for r in token_proxy.tokens.requests
    )
    assert not any(
        r.headers.get("Authorization", "").startswith("Basic ")
        for r in token_proxy.requests
    )


def _wrong_length(h, req, upstream):
    reply = upstream()
    if req.method == "GET" and req.is_blob and len(reply.body) > 100_000:
        h.send(reply, declared_length=len(reply.body) + 100)
        return True
    return reply


def _gzip_mtime_changed(h, req, upstream):
    """Change the gzip header's MTIME of the big layer: it still inflates to the same tar,
    so only the blob digest can tell (the layer digest check, not gzip's CRC, must catch it)."""
    reply = upstream()
    if req.method == "GET" and req.is_blob and len(reply.body) > 100_000:
        body = bytearray(reply.body)
        body[4] ^= 0xFF
        return Reply(reply.status, reply.headers, bytes(body))
    return reply


def _config_byte_flipped(h, req, upstream):
    reply = upstream()
    if req.method == "GET" and req.is_blob and reply.body.startswith(b"{"):
        return Reply(
            reply.status, reply.headers, reply.body.replace(b"amd64", b"amd65")
        )
    return reply


def _huge_manifest(h, req, upstream):
    if req.is_manifest:
        body = (
            b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","x":"'
            + b"A" * (10 << 20)
            + b'"}'
        )
        return Reply(
            200,
            {
                "Content-Type": "application/vnd.oci.image.manifest.v1+json",
                "Docker-Content-Digest": "sha256:" + "2" * 64,
            },
            body,
        )
    return None


def _huge_manifest_no_length(h, req, upstream):
    """A 10 MiB manifest sent without Content-Length on HEAD (forcing GET), then streamed."""
    if req.is_manifest and req.method == "HEAD":
        return Reply(405, {}, b"")
    return _huge_manifest(h, req, upstream)


def _schema1(h, req, upstream):
    if req.is_manifest:
        body = b'{"schemaVersion":1,"name":"test/img","tag":"v1","fsLayers":[]}'
        return Reply(
            200,
            {
                "Content-Type": "application/vnd.docker.distribution.manifest.v1+prettyjws"
            },
            body,
        )
    return None


def _server_error_forever(h, req, upstream):
    return Reply(
        503,
        {"Content-Type": "application/json"},
        b'{"errors":[{"code":"UNAVAILABLE","message":"down"}]}',
    )


def _manifest_for_other_digest(h, req, upstream):
    """By digest, the registry answers with a different manifest (HEAD says another digest)."""
    if req.is_manifest and req.path.endswith("sha256:" + "0" * 64):
        return Reply(
            200,
            {
                "Content-Type": "application/vnd.oci.image.manifest.v1+json",
                "Docker-Content-Digest": "sha256:" + "1" * 64,
            },
            b"{}",
        )
    return None


@pytest.mark.parametrize(
    "fault, name, error, message",
    [
        (
            _wrong_length,
            "test/img:v1",
            RegistryError,
            r"announces \d+ bytes where the descriptor says \d+ at byte 0 of \d+ \(gave up after 3 tries\)",
        ),
        (_gzip_mtime_changed, "test/img:v1", DigestMismatchError, r"layer 1 .*sha256:"),
        (
            _config_byte_flipped,
            "test/img:v1",
            DigestMismatchError,
            r"config sha256:[0-9a-f]+: content digest is sha256:[0-9a-f]+, expected",
        ),
        (
            _huge_manifest,
            "test/img:v1",
            InvalidImageError,
            r"10485\d+ bytes, over the 4194304-byte cap",
        ),
        (
            _huge_manifest_no_length,
            "test/img:v1",
            RegistryError,
            r"over the 4194304-byte cap",
        ),
        (
            _schema1,
            "test/img:v1",
            UnsupportedError,
            r"schema 1 manifests are not supported; re-push",
        ),
        (
            _server_error_forever,
            "test/img:v1",
            RegistryError,
            r"manifest: 127.0.0.1:\d+/test/img answered 503 \(gave up after 3 tries\)",
        ),
        (
            _manifest_for_other_digest,
            "test/img@sha256:" + "0" * 64,
            DigestMismatchError,
            r"says sha256:1+ for the requested sha256:0+",
        ),
    ],
    ids=[
        "wrong-content-length",
        "blob-digest-mismatch",
        "config-digest-mismatch",
        "10MiB-manifest",
        "10MiB-manifest-via-get",
        "schema1-rejected",
        "503-forever",
        "manifest-digest-mismatch",
    ],
)
def test_fault_ends_in_one_line_error(
    registry_images: Pushed, plain_proxy, fault, name, error, message
):
    plain_proxy.fault = fault
    with pytest.raises(error, match=message) as info:
        read_all(registry_images.ref(name, host=plain_proxy.hostport))
    assert "\n" not in str(info.value)


def test_redirect_to_another_host_gets_no_credentials(
    registry_images: Pushed, token_proxy, cdn
):
    def redirect(h, req, upstream):
        m = BLOB_RE.match(req.path)
        if m and req.method == "GET":
            return Reply(
                307,
                {
                    "Location": f"http://{cdn.hostport}/blob/{m.group('digest')}?sig=SECRETSIG"
                },
                b"",
            )
        return None

    token_proxy.fault = redirect
    _, layers = read_all(registry_images.ref(host=token_proxy.hostport))
    assert layers == local_layers(registry_images, registry_images.image)
    assert len(cdn.requests) == 4  # three layers and the config, all from the CDN
    assert not any("Authorization" in r.headers for r in cdn.requests)
    assert any(
        r.headers.get("Authorization", "").startswith("Bearer ")
        for r in token_proxy.requests
    )


def _hops(n: int):
    def redirect(h, req, upstream):
        m = BLOB_RE.match(req.path)
        if not (m and req.method == "GET"):
            return None
        hop = int(req.path.split("hop=")[1]) if "hop=" in req.path else 0
        if hop < n:
            return Reply(
                307,
                {
                    "Location": f"/v2/{m.group('repo')}/blobs/{m.group('digest')}?hop={hop + 1}"
                },
                b"",
            )
        return None

    return redirect


def test_ten_redirects_are_followed(registry_images: Pushed, token_proxy):
    token_proxy.fault = _hops(10)
    _, layers = read_all(registry_images.ref(host=token_proxy.hostport))
    assert layers == local_layers(registry_images, registry_images.image)


def test_eleven_redirects_fail(registry_images: Pushed, token_proxy):
    token_proxy.fault = _hops(11)
    with pytest.raises(RegistryError, match=r"more than 10 redirects") as info:
        read_all(registry_images.ref(host=token_proxy.hostport))
    assert "\n" not in str(info.value)


def test_429_waits_for_retry_after(registry_images: Pushed, plain_proxy):
    seen: list = []

    def throttle(h, req, upstream):
        if req.is_manifest and not seen:
            seen.append(req)
            return Reply(
                429,
                {"Retry-After": "1"},
                b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}',
            )
        return None

    plain_proxy.fault = throttle
    facts, _ = read_all(registry_images.ref(host=plain_proxy.hostport))
    assert facts[0] == registry_images.image.manifest_digest
    manifests = [r for r in plain_proxy.requests if r.is_manifest]
    assert (
        manifests[1].when - manifests[0].when >= 1.0
    )  # Retry-After honoured (capped at 2 s here)


def test_401_forever_is_one_auth_error(registry_images: Pushed, token_proxy, caplog):
    token_proxy.reject_all_tokens = True
    caplog.set_level(logging.DEBUG)
    with pytest.raises(
        AuthError, match=r"refused anonymous access \(401 after a fresh token\)"
    ) as info:
        read_all(registry_images.ref(host=token_proxy.hostport))
    assert len(token_proxy.tokens.requests) == 1  # one refresh, then the error
    text = str(info.value) + "\n".join(r.getMessage() for r in caplog.records)
    assert not any(tok in text for tok in token_proxy.tokens.issued)


def test_connection_dropped_mid_blob_resumes_with_range(
    registry_images: Pushed, plain_proxy
):
    big = big_layer_digest(registry_images)
    dropped: list = []

    def drop(h, req, upstream):
        if req.method == "GET" and big in req.path and not dropped:
            dropped.append(req)
            reply = upstream()
            h.send(reply, cut_after=len(reply.body) // 2)
            return True
        return None

    plain_proxy.fault = drop
    _, layers = read_all(registry_images.ref(host=plain_proxy.hostport))
    assert layers == local_layers(registry_images, registry_images.image)
    again = [r for r in plain_proxy.requests if big in r.path and r.method == "GET"]
    assert len(again) == 2 and again[1].headers.get("Range", "").startswith("bytes=")
    assert int(again[1].headers["Range"][6:-1]) > 0


def test_resume_when_the_server_ignores_range(registry_images: Pushed, plain_proxy):
    big = big_layer_digest(registry_images)
    dropped: list = []

    def drop_then_full(h, req, upstream):
        if req.method == "GET" and big in req.path:
            reply = upstream()
            if not dropped:
                dropped.append(req)
                h.send(reply, cut_after=1000)
                return True
            full = plain_proxy.fetch(
                "GET", req.path, {}
            )  # a 200 with the whole blob, Range ignored
            return full
        return None

    plain_proxy.fault = drop_then_full
    _, layers = read_all(registry_images.ref(host=plain_proxy.hostport))
    assert layers == local_layers(registry_images, registry_images.image)


def test_never_a_partial_result_on_midway_failure(registry_images: Pushed, plain_proxy):
    big = big_layer_digest(registry_images)

    def always_drop(h, req, upstream):
        if req.method == "GET" and big in req.path:
            reply = upstream()
            h.send(reply, cut_after=len(reply.body) // 3)
            return True
        return None

    plain_proxy.fault = always_drop
    with pytest.raises(
        ImagefsError, match=r"at byte \d+ of \d+ \(gave up after 3 tries\)"
    ):
        read_all(registry_images.ref(host=plain_proxy.hostport))


def test_manifest_regex_sanity():
    assert MANIFEST_RE.match("/v2/a/b/manifests/v1") and BLOB_RE.match(
        "/v2/a/blobs/sha256:" + "a" * 64
    )


def test_concurrent_layer_reads_share_auth_and_connections(
    registry_images: Pushed, token_proxy
):
    """Layers read from 4 threads at once through one source: every read verifies, the
    challenge is answered without a token storm, connections are reused."""
    from concurrent.futures import ThreadPoolExecutor

    from imagefs.sources import open_image
    from test_registry import FAST

    with open_image(registry_images.ref(host=token_proxy.hostport), **FAST) as image:
        layers = image.layers() * 4

        def read(lay):
            with lay.open() as f:
                return f.read()

        with ThreadPoolExecutor(4) as pool:
            got = list(pool.map(read, layers))
    assert got == local_layers(registry_images, registry_images.image) * 4
    assert (
        len(token_proxy.tokens.requests) <= 4
    )  # at most one per thread racing on the first challenge


def test_stalled_body_hits_the_idle_timeout_then_resumes(
    registry_images: Pushed, plain_proxy
):
    import time

    from imagefs.sources._http import RetryPolicy, Timeouts

    big = big_layer_digest(registry_images)
    stalled: list = []

    def stall(h, req, upstream):
        if req.method == "GET" and big in req.path and not stalled:
            stalled.append(req)
            reply = upstream()
            h.send_response(200)
            h.send_header("Content-Length", str(len(reply.body)))
            h.end_headers()
            h.wfile.write(reply.body[:5000])
            h.wfile.flush()
            time.sleep(3)  # silence: longer than the idle timeout
            h.close_connection = True
            return True
        return None

    plain_proxy.fault = stall
    _, layers = read_all(
        registry_images.ref(host=plain_proxy.hostport),
        timeouts=Timeouts(connect=2, idle=0.5, total=20),
        retry=RetryPolicy(attempts=3, base=0.01, cap=0.05),
    )
    assert layers == local_layers(registry_images, registry_images.image)
    again = [r for r in plain_proxy.requests if big in r.path]
    assert again[-1].headers.get("Range") == "bytes=5000-"


def test_trickling_body_hits_the_total_timeout(registry_images: Pushed, plain_proxy):
    import time

    from imagefs.sources._http import RetryPolicy, Timeouts

    big = big_layer_digest(registry_images)

    def trickle(h, req, upstream):
        if req.method == "GET" and big in req.path:
            reply = upstream()
            h.send_response(200)
            h.send_header("Content-Length", str(len(reply.body)))
            h.end_headers()
            try:
                for i in range(40):  # one byte every 0.1 s: never idle, never done
                    h.wfile.write(reply.body[i : i + 1])
                    h.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass
            h.close_connection = True
            return True
        return None

    plain_proxy.fault = trickle
    with pytest.raises(RegistryError, match=r"total timeout reached|gave up") as info:
        read_all(
            registry_images.ref(host=plain_proxy.hostport),
            timeouts=Timeouts(connect=2, idle=1, total=1.5),
            retry=RetryPolicy(attempts=2, base=0.01, cap=0.05),
        )
    assert "\n" not in str(info.value)


def test_config_longer_than_its_descriptor_is_refused(
    registry_images: Pushed, plain_proxy
):
    def padded(h, req, upstream):
        reply = upstream()
        if req.method == "GET" and req.is_blob and reply.body.startswith(b"{"):
            return Reply(reply.status, reply.headers, reply.body + b" " * 1000)
        return reply

    plain_proxy.fault = padded
    with pytest.raises(
        RegistryError,
        match=r"config sha256:\w+: the registry announces \d+ bytes where the descriptor says \d+$",
    ):
        read_all(registry_images.ref(host=plain_proxy.hostport))


def test_identity_token_is_exchanged_with_an_oauth2_post(
    registry_images: Pushed, token_proxy
):
    """``docker login`` with SSO stores an identity (refresh) token: it goes to the realm as
    an OAuth2 ``grant_type=refresh_token`` POST, never to the registry."""
    from urllib.parse import parse_qs

    from imagefs.sources._auth import Credentials

    creds = Credentials("", "", "test", identity_token="refresh-me-1234")
    facts, _ = read_all(registry_images.ref(host=token_proxy.hostport), creds=creds)
    assert facts[0] == registry_images.image.manifest_digest
    (post,) = token_proxy.tokens.requests
    form = parse_qs(post.body.decode())
    assert post.method == "POST" and form["grant_type"] == ["refresh_token"]
    assert form["refresh_token"] == ["refresh-me-1234"] and form["scope"] == [
        "repository:test/img:pull"
    ]
    assert not any(
        "refresh-me-1234" in str(r.headers) + r.path for r in token_proxy.requests
    )


def test_tag_resolves_with_one_head_and_documents_by_digest(
    registry_images: Pushed, plain_proxy
):
    """A tag costs a HEAD (free of Docker Hub's pull quota); every GET names a digest."""
    read_all(
        registry_images.ref("test/multi:v1", host=plain_proxy.hostport), "linux/arm64"
    )
    manifests = [
        (r.method, r.path.rsplit("/", 1)[1])
        for r in plain_proxy.requests
        if r.is_manifest
    ]
    assert manifests[0] == ("HEAD", "v1")
    assert all(m == "GET" and ref.startswith("sha256:") for m, ref in manifests[1:])
    assert [ref for _, ref in manifests[1:]] == [
        registry_images.index_digest,
        registry_images.arm.manifest_digest,
    ]


@pytest.fixture
def tls_proxy(registry_images: Pushed, tmp_path):
    """The fault proxy speaking HTTPS with a self-signed certificate (on 127.0.0.1)."""
    import ssl
    import subprocess

    from conftest import require_tool
    from registry.proxy import FaultProxy

    openssl = require_tool("openssl")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
         "-subj", "/CN=127.0.0.1", "-days", "1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    proxy = FaultProxy(registry_images.registry.hostport)
    proxy.httpd.socket = ctx.wrap_socket(proxy.httpd.socket, server_side=True)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


def test_loopback_https_with_a_self_signed_certificate(
    registry_images: Pushed, tls_proxy
):
    """A loopback registry is an insecure one: HTTPS first, certificate not required."""
    facts, layers = read_all(registry_images.ref(host=tls_proxy.hostport))
    assert facts[0] == registry_images.image.manifest_digest
    assert layers == local_layers(registry_images, registry_images.image)
    assert tls_proxy.requests  # the requests arrived over TLS


def test_untrusted_certificate_fails_at_once_in_one_line(
    registry_images: Pushed, tls_proxy
):
    from imagefs.reference import parse
    from imagefs.sources.registry import open_source

    src = open_source(
        parse(registry_images.ref(host=tls_proxy.hostport)), document_cache=False
    )
    src.client.transport.set_verify(
        "127.0.0.1", True
    )  # as for any non-loopback registry
    src.client._scheme_settled = True
    with pytest.raises(
        RegistryError,
        match=r"TLS certificate of 127.0.0.1:\d+ is not trusted .*--insecure-registry",
    ) as info:
        src.root()
    src.close()
    assert "\n" not in str(info.value) and "gave up" not in str(
        info.value
    )  # no retries
