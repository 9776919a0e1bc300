"""Export formats: each module writes one format of a BuiltQuiz into a folder.

html (print-ready pages + key), md (the same in Markdown), moodle (Moodle XML), gift (GIFT),
qti (Canvas QTI 1.2 zip), key (answer_key.json + variants.csv, what grading reads).
"""
