"""Running untrusted submissions: fork server, confined workers, plain-data wire, proxy."""

from autograder.sandbox.isolation import Limits
from autograder.sandbox.proxy import (
    Budget,
    BudgetSpent,
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
    "Budget", "BudgetSpent", "ImportFailed", "Limits", "NotPlainData", "Remote", "Sandbox", "StudentException",
    "StudentTimeout", "Submission", "SubmissionError", "WorkerCrashed",
]
