"""The cluster options shared by every command that grades: ``--scheduler`` and its TLS files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from autograder.cluster.settings import ClusterError, ClusterSettings

SCHEDULER_HELP = ("Grade on this Dask scheduler (tls://HOST:8786, or tcp:// on loopback) instead of on this machine "
                  "[default: the course's [cluster] scheduler]. Needs `pip install 'deepgrade[cluster]'`.")


def cluster_options(func: Callable) -> Callable:
    """Add --scheduler, --tls-ca/--tls-cert/--tls-key and --allow-insecure-scheduler to a command."""
    file = click.Path(dir_okay=False, exists=True, path_type=Path)
    options = [
        click.option("--scheduler", default=None, metavar="URL", help=SCHEDULER_HELP),
        click.option("--tls-ca", type=file, default=None, help="Cluster: the CA certificate (PEM) every party trusts."),
        click.option("--tls-cert", type=file, default=None, help="Cluster: this client's certificate (PEM)."),
        click.option("--tls-key", type=file, default=None, help="Cluster: this client's private key (PEM)."),
        click.option("--allow-insecure-scheduler", is_flag=True,
                     help="Cluster: allow plain tcp:// to another machine (anyone who reaches it can run code on "
                          "the workers)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def settings_from_options(scheduler: str | None, tls_ca: Path | None, tls_cert: Path | None,
                          tls_key: Path | None, allow_insecure_scheduler: bool, **_: Any) -> ClusterSettings | None:
    """The ``ClusterSettings`` the options ask for (None: grade locally); a bad setting is one clear line."""
    if scheduler is None:
        if tls_ca or tls_cert or tls_key or allow_insecure_scheduler:
            raise click.UsageError("--tls-*/--allow-insecure-scheduler need --scheduler")
        return None
    settings = ClusterSettings(scheduler, tls_ca=tls_ca, tls_cert=tls_cert, tls_key=tls_key,
                               allow_insecure=allow_insecure_scheduler)
    try:
        settings.validate()
    except ClusterError as exc:
        raise click.ClickException(str(exc)) from None
    return settings
