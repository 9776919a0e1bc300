"""The course: deepgrade.toml, the SQLite gradebook, late policy, manifests, grading runs, exports.

Data flows one way: results from ``autograder.grading`` are recorded here; ``autograder.reports``
reads the gradebook to write feedback and the class report.
"""

from autograder.gradebook.course import Course, CourseError, find_course, load_course, scaffold_course
from autograder.gradebook.late import LatePolicy
from autograder.gradebook.store import Gradebook
from autograder.gradebook.sync import CourseBusy, grade_course

__all__ = ["Course", "CourseBusy", "CourseError", "Gradebook", "LatePolicy", "find_course", "grade_course",
           "load_course", "scaffold_course"]
