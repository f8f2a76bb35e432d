"""The stderr progress line: drawn only on a terminal, correct numbers, thread-safe."""

from __future__ import annotations

import io
import threading
from types import SimpleNamespace

import pytest
from imagefs.progress import ProgressLine, enabled, progress_for


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def fake_layer(digest: str, size: int, n_layers: int = 2):
    image = SimpleNamespace(manifest={"layers": [{}] * n_layers})
    return SimpleNamespace(descriptor=SimpleNamespace(digest=digest, size=size), image=image)


@pytest.mark.parametrize(
    "stream,env,quiet,expected",
    [(FakeTTY, {}, False, True), (io.StringIO, {}, False, False), (FakeTTY, {}, True, False),
     (FakeTTY, {"IMAGEFS_NO_PROGRESS": "1"}, False, False), (FakeTTY, {"TERM": "dumb"}, False, False)],
    ids=["tty", "not-a-tty", "quiet", "env-off", "dumb-terminal"],
)
def test_enabled_only_on_a_terminal(monkeypatch, stream, env, quiet, expected):
    monkeypatch.delenv("IMAGEFS_NO_PROGRESS", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    s = stream()
    assert enabled(s, quiet=quiet) is expected
    assert (progress_for(s, quiet=quiet) is not None) is expected


def test_line_shows_digest_bytes_and_percent():
    out = FakeTTY()
    bar = ProgressLine(out, min_interval=0)
    cb = bar(fake_layer("sha256:" + "ab" * 32, 4096))
    cb(1024)
    assert bar.line() == "imagefs: abababababab 1.0K/4.0K 25%   [0/2 layers done]"
    cb(3072)
    assert bar.line() == "imagefs: reading layers   [1/2 layers done]"
    assert "abababababab 1.0K/4.0K 25%" in out.getvalue()
    bar.close()
    assert out.getvalue().endswith("\r")
    assert "\n" not in out.getvalue()


def test_concurrent_layers_add_up():
    out = FakeTTY()
    bar = ProgressLine(out, min_interval=0)
    callbacks = [bar(fake_layer(f"sha256:{i:064x}", 1000 * 64, n_layers=4)) for i in range(4)]

    def feed(cb):
        for _ in range(1000):
            cb(64)

    threads = [threading.Thread(target=feed, args=(cb,)) for cb in callbacks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert bar.line().endswith("[4/4 layers done]")
