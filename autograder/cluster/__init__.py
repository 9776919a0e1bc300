"""Scale-out: grade on a Dask distributed cluster when one machine is not enough.

Only imported when a scheduler is configured (``--scheduler`` or ``[cluster] scheduler`` in
deepgrade.toml); Dask is the optional ``cluster`` extra. ``worker_side`` is what runs on the
Dask workers (a plugin that starts deepgrade's sandbox once per worker, and the grading task);
``executor`` is the client: it checks the workers, hands out work and streams results back.
"""

from autograder.cluster.settings import ClusterError, ClusterSettings

__all__ = ["ClusterError", "ClusterSettings"]
