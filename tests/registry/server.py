"""Debian's real ``docker-registry`` (the CNCF distribution registry) on 127.0.0.1, and skopeo pushes.

``RegistryServer(tmp_path).start()`` writes a config YAML into ``tmp_path`` (filesystem
storage there, a free loopback port, optional htpasswd auth), starts the binary, waits
until ``/v2/`` answers and ``stop()`` ends it by its PID.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

REGISTRY_BIN = "docker-registry"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class RegistryServer:
    def __init__(
        self, workdir: Path, *, htpasswd: str | None = None, binary: str = REGISTRY_BIN
    ):
        self.workdir = Path(workdir)
        self.htpasswd = (
            htpasswd  # the content of an htpasswd file (htpasswd -Bbn USER PASS)
        )
        self.binary = binary
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def hostport(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> RegistryServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        storage = self.workdir / "storage"
        storage.mkdir(exist_ok=True)
        self.port = free_port()
        auth = ""
        if self.htpasswd is not None:
            pw = self.workdir / "htpasswd"
            pw.write_text(self.htpasswd)
            auth = f"auth:\n  htpasswd:\n    realm: imagefs-test\n    path: {pw}\n"
        config = self.workdir / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log:\n  level: error\n  accesslog:\n    disabled: true\n"
            f"storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n"
            f"http:\n  addr: {self.hostport}\n" + auth
        )
        with open(self.workdir / "registry.log", "wb") as log:
            self.proc = subprocess.Popen(
                [self.binary, "serve", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"docker-registry exited: {(self.workdir / 'registry.log').read_text()[-2000:]}"
                )
            try:
                urllib.request.urlopen(f"http://{self.hostport}/v2/", timeout=1).close()
                return self
            except urllib.error.HTTPError:
                return self  # 401 with auth on: it is up
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(
            f"docker-registry did not answer on {self.hostport} within {timeout}s"
        )

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)


def skopeo_push(
    layout: Path,
    tag: str,
    dest: str,
    *,
    all_platforms: bool = False,
    creds: str | None = None,
) -> None:
    """``skopeo copy oci:LAYOUT:TAG docker://DEST`` (plain HTTP to the loopback registry)."""
    cmd = ["skopeo", "copy", "--quiet", "--dest-tls-verify=false", "--insecure-policy"]
    if all_platforms:
        cmd.append("--all")
    if creds:
        cmd += ["--dest-creds", creds]
    cmd += [f"oci:{layout}:{tag}", f"docker://{dest}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {proc.stderr.strip()}")
