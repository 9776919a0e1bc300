"""Where results become reading: per-student feedback and the class report (Jinja + matplotlib).

Both read the gradebook only; templates live in ``autograder/templates`` and extend
``base.html``; every plot comes from ``plots.py``.
"""
