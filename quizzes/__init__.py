"""deepgrade quizzes: a question bank from the course material, per-student variants, LMS
exports, response grading and item analysis.

Where things live:
  bank/*.yaml       the questions, one file per topic (data; rendered in a Jinja sandbox)
  specs/*.yaml      quiz specs: which questions, points, shuffling, seed
  templates/        Jinja templates for pages, keys, feedback and the report (shared base layout)
  samples/          a sample roster and responses for the demo

Pipeline: bank.py (load) → variants.py (render per seed) → spec.py/assemble.py (per student)
→ exports/ (html, md, moodle, gift, qti, key) → grading.py → analysis.py → report.py.
"""

from .errors import QuizError

__all__ = ["QuizError"]
