"""Similarity across submissions: which students handed in the same code, for a person to review.

``detect`` reads one topic's submissions (and any compared-against references), subtracts the
starter code and compares winnowed fingerprints (copydetect, the MOSS method); ``pages`` writes
the ranked table, clusters, side-by-side pages, JSON and CSV; ``cli`` is `deepgrade similarity`.
"""

from autograder.similarity.detect import (
    Pair,
    Report,
    Settings,
    SimilarityError,
    Source,
    compare,
    compare_folder,
)

__all__ = ["Pair", "Report", "Settings", "SimilarityError", "Source", "compare", "compare_folder"]
