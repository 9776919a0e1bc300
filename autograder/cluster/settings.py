"""How to reach a cluster: the scheduler address, TLS files, and the insecure opt-in."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse


class ClusterError(RuntimeError):
    """The cluster cannot be used as configured (unreachable, insecure, mismatched workers)."""


@dataclass(frozen=True)
class ClusterSettings:
    """``[cluster]`` in deepgrade.toml, or the ``--scheduler``/``--tls-*`` options.

    ``tls_ca``/``tls_cert``/``tls_key`` are PEM files: the CA that signed every party's
    certificate, and this client's own certificate and key (mutual TLS).
    """

    scheduler: str
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    allow_insecure: bool = False
    connect_timeout: float = 30.0

    @property
    def uses_tls(self) -> bool:
        return self.scheduler.startswith("tls://")

    def validate(self) -> None:
        """Refuse what would let strangers run code on the workers; name the fix."""
        parsed = urlparse(self.scheduler)
        if parsed.scheme not in ("tcp", "tls") or not parsed.hostname or not parsed.port:
            raise ClusterError(f"scheduler address {self.scheduler!r} is not tcp://HOST:PORT or tls://HOST:PORT")
        if self.uses_tls:
            missing = [n for n, v in (("tls_ca", self.tls_ca), ("tls_cert", self.tls_cert),
                                      ("tls_key", self.tls_key)) if v is None]
            if missing:
                raise ClusterError(f"a tls:// scheduler needs {', '.join(missing)} (PEM files; see README, "
                                   "'Grading on a cluster')")
            for path in (self.tls_ca, self.tls_cert, self.tls_key):
                if not Path(path).is_file():
                    raise ClusterError(f"TLS file {path} does not exist")
        elif not is_loopback(parsed.hostname) and not self.allow_insecure:
            raise ClusterError(
                f"refusing plain tcp:// to {parsed.hostname}: anyone who can reach a bare Dask scheduler can run "
                "code on its workers. Use tls:// with certificates (README, 'Grading on a cluster'), or opt in with "
                "--allow-insecure-scheduler / [cluster] allow_insecure = true on a network you trust")

    def security(self):  # -> distributed.Security | None
        """The ``distributed.Security`` for this client (mutual TLS), or None for tcp://."""
        if not self.uses_tls:
            return None
        from distributed import Security

        return Security(tls_ca_file=str(self.tls_ca), tls_client_cert=str(self.tls_cert),
                        tls_client_key=str(self.tls_key), require_encryption=True)


def is_loopback(host: str) -> bool:
    """Is ``host`` this machine's loopback (127.0.0.0/8, ::1, localhost)?"""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return all(ipaddress.ip_address(info[4][0]).is_loopback
                       for info in socket.getaddrinfo(host, None))
        except (OSError, ValueError):
            return False
