"""deepgrade vs nbgrader on the same student notebooks (issue: 25x nbgrader).

    python bench/bench_vs_nbgrader.py [--rounds 2]

One nbgrader course for the activations topic, made the way an instructor makes it:
`deepgrade nbgrader export` + `nbgrader generate_assignment`. 17 students hand in the
released notebook with their answers filled in: the reference, an alternative correct
implementation, the sample class's buggy students, realistic single mistakes, and one
student whose sigmoid loops forever. Then, interleaved for `--rounds` rounds:

- `nbgrader autograde activations --force`: the public test cells, run in each student's kernel;
- `deepgrade grade activations submitted/`: every hidden check, in the sandbox.

Both are timed as whole commands (start-up included); the script prints both and the ratio.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from autograder.notebooks import answered_notebook

ROOT = Path(__file__).resolve().parents[1]
TOPIC = "activations"
REFERENCE = (ROOT / "solutions" / f"{TOPIC}.py").read_text()
SAMPLES = ROOT / "autograder" / "samples" / "class"

# Realistic single mistakes (text replaced in the reference); one that no longer applies is skipped.
MISTAKES = {
    "deriv_uses_z": {"return s * (1.0 - s)": "return s * (1.0 - z)"},
    "tanh_uses_z": {"return 1.0 - t * t": "return 1.0 - z * z"},
    "relu_at_zero": {"(np.asarray(z) > 0).astype(float)": "(np.asarray(z) >= 0).astype(float)"},
    "relu_bool": {"return (np.asarray(z) > 0).astype(float)": "return np.asarray(z) > 0"},
    "norms_forward_order": {"zip(reversed(weights), reversed(pre_activations))": "zip(weights, pre_activations)"},
    "norms_no_derivative": {"grad = (grad * derivative(z)) @ W.T": "grad = grad @ W.T"},
    "weak_excludes_vanished": {"weak_count = int(np.sum(norms < weak))":
                               "weak_count = int(np.sum((norms < weak) & (norms >= vanish)))"},
    "no_isfinite": {"if vanished or exploding or not np.all(np.isfinite(norms)):": "if vanished or exploding:"},
    "leaky_is_relu": {"return np.where(np.asarray(z) > 0, 1.0, float(alpha))":
                      "return np.where(np.asarray(z) > 0, 1.0, 0.0)"},
    "elu_sign": {"alpha * np.exp(z)": "-alpha * np.exp(z)"},
    "unstable_sigmoid": {"return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))":
                         "return 1.0 / (1.0 + np.exp(-z))"},
}
LOOPER = "\n\ndef sigmoid(z):\n    while True:\n        pass\n"


def apply(source: str, replace: dict[str, str]) -> str | None:
    for old, new in replace.items():
        if source.count(old) != 1:
            return None
        source = source.replace(old, new)
    return source


def class_sources() -> dict[str, str]:
    """17 students: id -> the module source of their answers."""
    students = {"ada_reference": REFERENCE}
    alt = apply(REFERENCE, {"return (np.asarray(z) > 0).astype(float)": "return np.where(np.asarray(z) > 0, 1.0, 0.0)"})
    if alt:
        students["alt_correct"] = alt
    for name in ("ben", "chloe", "dev"):
        students[f"{name}_sample"] = (SAMPLES / name / f"{TOPIC}.py").read_text()
    for name, replace in MISTAKES.items():
        source = apply(REFERENCE, replace)
        if source is not None:
            students[f"bug_{name}"] = source
    n = 0
    while len(students) < 16:  # pad with more correct students if mistakes no longer apply
        students[f"correct_{n}"] = REFERENCE
        n += 1
    # The looping student's sigmoid never returns; the other functions call it too.
    students["loop_forever"] = REFERENCE + LOOPER
    return dict(list(students.items())[:17])


def run(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    bindir = Path(sys.executable).parent
    deepgrade, nbgrader = str(bindir / "deepgrade"), [sys.executable, "-m", "nbgrader"]
    with tempfile.TemporaryDirectory(prefix="bench-nbgrader-") as tmp:
        course = Path(tmp) / "course"
        course.mkdir()
        (course / "nbgrader_config.py").write_text('c = get_config()\nc.CourseDirectory.course_id = "bench"\n')
        run([deepgrade, "nbgrader", "export", TOPIC, "--course", str(course)], course)
        run([*nbgrader, "generate_assignment", TOPIC], course)
        released = nbformat.read(str(course / "release" / TOPIC / f"{TOPIC}.ipynb"), as_version=4)
        students = class_sources()
        for sid, source in students.items():
            folder = course / "submitted" / sid / TOPIC
            folder.mkdir(parents=True)
            nbformat.write(answered_notebook(released, source), str(folder / f"{TOPIC}.ipynb"))
            (folder / "timestamp.txt").write_text("2026-11-20 10:00:00.000000 UTC")
        # deepgrade reads <id>/<topic>.ipynb: the same notebooks, laid out as a submissions folder.
        flat = Path(tmp) / "submissions"
        for sid in students:
            (flat / sid).mkdir(parents=True)
            shutil.copy(course / "submitted" / sid / TOPIC / f"{TOPIC}.ipynb", flat / sid / f"{TOPIC}.ipynb")
        times: dict[str, list[float]] = {"nbgrader autograde": [], "deepgrade grade": []}
        for _ in range(args.rounds):
            times["nbgrader autograde"].append(run([*nbgrader, "autograde", TOPIC, "--force"], course))
            times["deepgrade grade"].append(run([deepgrade, "grade", TOPIC, str(flat), "--out", str(Path(tmp) / "out"),
                                                 "--workers", str(os.cpu_count() or 2)], Path(tmp)))
    n = len(students)
    print(f"{n} notebooks of {TOPIC} ({sum(1 for s in students if s.startswith('loop'))} looping forever); "
          f"{args.rounds} interleaved round(s); median of whole-command wall times")
    print(f"{'':<22}{'whole class':>12}{'per notebook':>14}")
    med = {k: statistics.median(v) for k, v in times.items()}
    for name, secs in med.items():
        print(f"{name:<22}{secs:>11.1f}s{secs / n:>13.2f}s")
    print(f"ratio (nbgrader / deepgrade): {med['nbgrader autograde'] / med['deepgrade grade']:.1f}x")


if __name__ == "__main__":
    main()
