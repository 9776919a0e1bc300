"""Similarity: seconds to compare N submissions of one topic, and the calibration table.

    python bench/bench_similarity.py                      # 400 submissions of clipping
    python bench/bench_similarity.py --topic optimizers --students 800
    python bench/bench_similarity.py --calibrate          # copies vs independent solutions, every topic

Submissions are built from the correct and buggy implementations deepgrade has (the reference,
the graders' alternative implementations, the sample class): each student takes every function
from one of them at random, then renames, reorders and restyles (tests/similarity_cases.py),
so the class holds a realistic mix of near-copies and partial overlaps. They are written to
disk and read back through the safe reader, as `deepgrade similarity` does.
Target (issue 15): 400 submissions of one topic in under 60 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from similarity_cases import disguise, rename_identifiers, reorder_definitions, restyle_comments  # noqa: E402

from autograder.grading import available_topics  # noqa: E402
from autograder.similarity import Settings, Source, compare, compare_folder  # noqa: E402
from autograder.similarity.pages import write_report  # noqa: E402

SAMPLES = ROOT / "autograder" / "samples" / "class"


def implementations(topic: str, samples: bool = True) -> dict[str, str]:
    """Every whole implementation of ``topic`` deepgrade has: reference, alternatives, sample students."""
    found = {"reference": (ROOT / "solutions" / f"{topic}.py").read_text()}
    tests = importlib.import_module(f"test_grader_{topic}")
    alts = getattr(tests, "ALTERNATIVES", None) or {"alternative": tests.ALTERNATIVE}
    found.update({f"alt:{k}": v for k, v in alts.items()})
    if samples:
        for s in ("ben", "chloe", "dev"):  # eve and mallory attack the grader; they are not solutions
            found[s] = (SAMPLES / s / f"{topic}.py").read_text()
    return found


def _pieces(source: str) -> tuple[str, dict[str, str]]:
    """(the imports and constants before the first definition, {name: definition source})."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    defs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    first = min((d.decorator_list[0].lineno if d.decorator_list else d.lineno) for d in defs) - 1
    return "".join(lines[:first]), {d.name: "".join(lines[(d.decorator_list[0].lineno if d.decorator_list
                                                          else d.lineno) - 1:d.end_lineno]) for d in defs}


def make_class(topic: str, n: int, folder: Path, seed: int = 0) -> Path:
    """N student folders <folder>/sNNNN/<topic>.py mixing whole functions of every implementation."""
    rnd = random.Random(seed)
    bases = [_pieces(src) for src in implementations(topic).values()]
    names = sorted({name for _, defs in bases for name in defs if not name.startswith("_")})
    for i in range(n):
        head = rnd.choice(bases)[0]
        chosen: dict[str, str] = {}
        for name in names:
            options = [b for b in bases if name in b[1]]
            base_head, defs = rnd.choice(options)
            chosen[name] = defs[name]
            # a helper travels with the function that calls it
            chosen.update({h: d for h, d in defs.items() if h.startswith("_") and h in defs[name]})
            head = head if rnd.random() < 0.8 else base_head
        source = head + "\n\n".join(chosen.values())
        source = disguise(source, seed + i) if rnd.random() < 0.7 else source
        (folder / f"s{i:04d}").mkdir(parents=True, exist_ok=True)
        (folder / f"s{i:04d}" / f"{topic}.py").write_text(source)
    return folder


def bench(topic: str, students: int, out: Path | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subs = make_class(topic, students, Path(tmp) / "subs")
        start, cpu = time.perf_counter(), time.process_time()
        report = compare_folder(topic, subs)
        total, cpu = time.perf_counter() - start, time.process_time() - cpu
        print(f"{topic}: {report.students} submissions, {report.compared} pairs")
        print(f"  read + fingerprint + compare all pairs: {total:6.2f} s wall, {cpu:6.2f} s CPU"
              f"   (fingerprint + compare: {report.seconds:.2f} s wall)   target < 60 s")
        print(f"  flagged for review: {len(report.flagged)} pairs, {len(report.clusters)} groups of 3+")
        if out is not None:
            start = time.perf_counter()
            write_report(report, out)
            print(f"  pages, CSV, JSON: {time.perf_counter() - start:6.2f} s -> {out}/index.html")


def calibrate() -> None:
    """Planted copies vs independent implementations, per topic, at the default settings."""
    settings = Settings(listed=0.0)
    edits = {"renamed": rename_identifiers, "reordered": reorder_definitions, "restyled": restyle_comments,
             "all three": disguise}
    lowest_copy, highest_other = 1.0, 0.0
    print(f"threshold {settings.threshold}, min_matched {settings.min_matched}, kgram {settings.kgram}")
    print(f"{'topic':<16}{'copies: lowest smaller figure':>32}{'independent: highest larger figure':>38}")
    for topic in available_topics():
        originals = implementations(topic)
        family = {name: name for name in originals}
        sources = [Source(name, text) for name, text in originals.items()]
        stub = (ROOT / "assignments" / topic / f"{topic}.py").read_text()
        sources += [Source("stub-only", stub), Source("stub-only restyled", restyle_comments(stub, 3))]
        family.update({"stub-only": "stub-only", "stub-only restyled": "stub-only restyled"})
        for name, text in originals.items():
            if name.startswith(("reference", "alt:")):
                for label, edit in edits.items():
                    sources.append(Source(f"{name} {label}", edit(text, 7)))
                    family[f"{name} {label}"] = name
        report = compare(topic, sources, settings)
        copies = [p for p in report.pairs if family[p.a.name] == family[p.b.name]]
        others = [p for p in report.pairs if family[p.a.name] != family[p.b.name]]
        low = min(copies, key=lambda p: min(p.similarity_a, p.similarity_b))
        high = max(others, key=lambda p: p.similarity)
        lowest_copy = min(lowest_copy, min(low.similarity_a, low.similarity_b))
        highest_other = max(highest_other, high.similarity)
        missed = [p for p in copies if not p.flagged]
        wrong = [p for p in others if p.flagged]
        print(f"{topic:<16}{min(low.similarity_a, low.similarity_b):>10.2f} ({low.matched:4d} tokens)"
              f"{high.similarity:>22.2f} ({high.a.name} ~ {high.b.name})"
              f"{'' if not missed else f'  MISSED {len(missed)}'}{'' if not wrong else f'  FLAGGED {len(wrong)}'}")
    print(f"copies >= {lowest_copy:.2f}; independent <= {highest_other:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--topic", default="clipping", choices=available_topics())
    parser.add_argument("--students", type=int, default=400)
    parser.add_argument("--out", type=Path, default=None, help="also write the pages here (timed apart)")
    parser.add_argument("--calibrate", action="store_true", help="print the calibration table instead")
    args = parser.parse_args()
    if args.calibrate:
        calibrate()
    else:
        bench(args.topic, args.students, args.out)


if __name__ == "__main__":
    main()
