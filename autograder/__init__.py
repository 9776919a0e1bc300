"""deepgrade's grading side: sandbox, graders, results, reports.

Importing this package must stay cheap and must not import references or graders: the
sandbox's fork server imports it too.
"""

__version__ = "0.1.0"
