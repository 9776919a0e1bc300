"""What the safe reader costs: reading a class's folders, and turning notebooks into modules.

    python bench/bench_intake.py [--students 200]

Prints, per student folder, the time of the safe reader (``autograder.intake.read_folder``:
lstat, open with O_NOFOLLOW, fstat, read through the descriptor) next to a naive
``glob('*.py')`` + ``read_bytes()`` (what deepgrade did before, following links), and the
time per notebook of the out-of-process conversion (a forked, rlimited child) next to the
same conversion done in this process.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from autograder.intake import convert_notebook, read_folder
from autograder.notebooks import notebook_from_source, submission_module

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "autograder" / "samples" / "class"


def per_item(func, items: list, repeat: int = 3) -> float:
    """Best-of-``repeat`` mean seconds per item."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for item in items:
            func(item)
        best = min(best, (time.perf_counter() - start) / len(items))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="deepgrade-bench-intake-") as tmp:
        subs = Path(tmp)
        sources = sorted(p for p in SAMPLES.iterdir() if p.is_dir())
        for n in range(args.students):
            shutil.copytree(sources[n % len(sources)], subs / f"s{n:04d}")
        folders = sorted(subs.iterdir())
        files = sum(len(list(f.glob("*.py"))) for f in folders)
        safe = per_item(read_folder, folders)
        naive = per_item(lambda f: {p.name: p.read_bytes() for p in sorted(f.glob("*.py"))}, folders)
        print(f"{len(folders)} folders, {files / len(folders):.1f} .py files each")
        print(f"  safe reader : {1e3 * safe:.3f} ms per folder")
        print(f"  naive glob  : {1e3 * naive:.3f} ms per folder")

        nb = notebook_from_source((ROOT / "solutions" / "activations.py").read_text())
        data = json.dumps(nb).encode()
        convert_notebook(data, "warm.ipynb")  # the first one loads nbformat once
        times = []
        for _ in range(20):
            start = time.perf_counter()
            source, _note = convert_notebook(data, "activations.ipynb")
            times.append(time.perf_counter() - start)
            assert source is not None
        inproc = per_item(lambda d: submission_module(d, "activations.ipynb"), [data] * 20)
        print(f"notebook of {len(nb.cells)} cells ({len(data) / 1000:.0f} kB)")
        print(f"  forked, limited child : {1e3 * statistics.median(times):.1f} ms median "
              f"({1e3 * min(times):.1f}-{1e3 * max(times):.1f})")
        print(f"  in this process       : {1e3 * inproc:.1f} ms")


if __name__ == "__main__":
    main()
