"""Same submissions, same results: the sample class graded by this checkout and by an older commit.

    python bench/compare_results.py                       # against 2b40472 (just before issue 12's work)
    python bench/compare_results.py --baseline HEAD~3 --copies 2

Speed work must not change a grade. Each side grades the sample class (ada = the references,
the buggy students, the hostile eve and mallory) on every topic, in a child process whose
import path starts at that side's source tree (the older commit is checked out with
``git worktree``). Printed: every check whose score or status differs, and every check whose
message differs (a message that names a time-out may differ: time-outs now end sooner). Exit
status 1 when a score or status differs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "2b40472"

GRADE = r"""
import json, sys, tempfile
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from autograder.demo import make_class
from autograder.grading import available_topics, grade_jobs, jobs_for_folder
with tempfile.TemporaryDirectory() as tmp:
    folder = make_class(Path(tmp))
    results = grade_jobs(jobs_for_folder(folder, available_topics()), workers=2)
out = {}
for r in results:
    for c in r.checks:
        out[f"{r.student_id}/{r.topic}/{c.check_id}"] = [c.score, c.status, c.output]
json.dump(out, sys.stdout)
"""


def grade(tree: Path) -> dict[str, list]:
    """Every check's [score, status, message] when the source tree ``tree`` grades the sample class."""
    done = subprocess.run([sys.executable, "-c", GRADE, str(tree)], cwd=tree, capture_output=True, text=True,
                          check=False)
    if done.returncode:
        sys.exit(f"grading with {tree} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def timed_out(message: str) -> bool:
    return any(word in message for word in ("did not finish within", "timed out earlier", "grading budget"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default=BASELINE, help="git commit to compare with")
    parser.add_argument("--copies", type=int, default=1, help="grade each side this many times (flaky results show)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="deepgrade-compare-") as tmp:
        old_tree = Path(tmp) / "baseline"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(old_tree), args.baseline],
                       check=True)
        try:
            runs = [(grade(old_tree), grade(ROOT)) for _ in range(args.copies)]
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old_tree)], check=False)
    scores = messages = 0
    for old, new in runs:
        for key in sorted(set(old) | set(new)):
            a, b = old.get(key), new.get(key)
            if a is None or b is None or a[:2] != b[:2]:
                scores += 1
                print(f"SCORE  {key}: {a and a[:2]} -> {b and b[:2]}")
            elif a[2] != b[2] and not (timed_out(a[2]) or timed_out(b[2])):
                messages += 1
                print(f"TEXT   {key}:\n    was: {a[2][:300]!r}\n    now: {b[2][:300]!r}")
    checks = len(runs[0][1])
    print(f"{checks} checks x {len(runs)} run(s): {scores} score/status differences, "
          f"{messages} message differences (time-out messages excepted)")
    sys.exit(1 if scores else 0)


if __name__ == "__main__":
    main()
