"""Correct but slow solutions, one per topic: the slowest code a student may reasonably write.

Each ``<topic>.py`` does what ``solutions/<topic>.py`` does with plain Python loops over every
element (no vectorisation). Calibration times them under the graders and gives every call at
least ``calibration.SLOW_MARGIN`` times what the same call costs here, so an unvectorised but
correct solution never times out; they must keep full marks (tests/test_call_limits.py).
Hidden like the references: students never see these files.
"""
