"""deepgrade's grading side: sandbox, graders, results, reports.

Importing this package must stay cheap and must not import references or graders: the
sandbox's fork server imports it too.
"""

__version__ = "0.1.0"


def one_blas_thread() -> None:
    """Grade with one BLAS thread, as ``deepgrade`` does: call before NumPy loads. OpenBLAS
    starting a thread per core costs ~45 ms of CPU and buys nothing on the small arrays
    graded; its idle threads spin on the core a sandbox worker needs (workers have one too).
    An explicit setting in the environment wins."""
    import os

    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
