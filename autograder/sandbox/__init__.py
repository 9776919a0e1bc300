"""Running untrusted submissions: fork server, confined workers, plain-data wire, proxy."""

from autograder.sandbox.isolation import Limits
from autograder.sandbox.proxy import (
    ImportFailed,
    NotPlainData,
    Remote,
    Sandbox,
    StudentException,
    StudentTimeout,
    Submission,
    SubmissionError,
    WorkerCrashed,
)

__all__ = [
    "ImportFailed", "Limits", "NotPlainData", "Remote", "Sandbox", "StudentException",
    "StudentTimeout", "Submission", "SubmissionError", "WorkerCrashed",
]
