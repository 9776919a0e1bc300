"""PDF benchmark: print N anonymous papers of the sample quiz, A4 and Letter, plus the answer keys.

Needs the pdf extra and Chromium (see README, "Quizzes on paper"). Run from the repository root:

    python bench/bench_quiz_pdf.py [--students 40] [--keep DIR]

Prints the wall time of the whole PDF export and the time per printed paper.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from quizzes.assemble import assemble  # noqa: E402
from quizzes.exports.pdf import PAPER_SIZES, write_pdf  # noqa: E402

SPEC = Path(__file__).resolve().parents[1] / "quizzes" / "specs" / "sample.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--keep", type=Path, help="write the PDFs here instead of a temporary folder")
    args = parser.parse_args()
    quiz = assemble(SPEC, variants=args.students)
    with tempfile.TemporaryDirectory() as tmp:
        out = args.keep or Path(tmp)
        start = time.perf_counter()
        files = write_pdf(quiz, out / "pdf")
        elapsed = time.perf_counter() - start
    papers = args.students * len(PAPER_SIZES)
    print(f"{args.students} students x {len(PAPER_SIZES)} paper sizes: {len(files)} PDFs in {elapsed:.1f} s")
    print(f"  {1000 * elapsed / papers:.0f} ms per printed paper (keys and the joined files included)")


if __name__ == "__main__":
    main()
