"""Start-up of `deepgrade grade <topic>` for one submission (issue 12, target 5: at most 0.4 s).

Prints the wall and CPU time of the whole command for one correct student, as a .py and as
the same code in a notebook (runs interleaved, so a busy machine slows both alike; the
notebook's extra cost is taken run by run against the .py run just before it), and the
parts of its critical path: Python's own start, importing the CLI, and the fork server's
start to ready (it runs while the grading process imports pytest and NumPy). Then the time
of a looping function for the whole topic (target 2).

Every figure moves with the machine's load: read the CPU columns and the minima on a busy
machine. deepgrade's modules are compiled to bytecode first, as an installed copy has them
(--no-bytecode: not; with PYTHONDONTWRITEBYTECODE set, as printed, every run then compiles
them from source, about 0.05 s of CPU).

    python bench/bench_startup.py [--runs 7] [--topic activations]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def notebook(source: str) -> str:
    """The source as a one-code-cell notebook."""
    cell = {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
            "source": source.splitlines(keepends=True)}
    return json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def timed(args: list[str]) -> tuple[float, float]:
    """Wall seconds of the command, and the CPU seconds of it and every process it waited for
    (the fork server and workers included): the CPU figure barely moves on a busy machine."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def fork_server_start() -> tuple[float, float]:
    """Wall seconds from starting a fork server to its ready message, and its CPU seconds:
    the other half of a one-submission grade's critical path (the grading process imports
    pytest and NumPy meanwhile)."""
    sys.path.insert(0, str(ROOT))
    from autograder import prestart

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc, ctrl, log = prestart.launch()
    ctrl.recv(65536)  # ("ready", tier, ...)
    wall = time.perf_counter() - start
    ctrl.close()
    proc.wait()
    log.close()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.3f}  min {min(values):.3f}"


def worker_cpu(topic: str, source: str, call_timeout: float | None) -> tuple[float, float]:
    """Grade ``source`` in this process: (CPU seconds of its sandbox workers, grading wall seconds)."""
    sys.path.insert(0, str(ROOT))
    from autograder import grading

    spent: list[tuple[float, float]] = []
    emit = grading.GradingPlugin._emit

    def recording(plugin: grading.GradingPlugin, key: int) -> None:
        meter = plugin.meters[key]
        spent.append((meter.cpu(), meter.wall))
        emit(plugin, key)

    grading.GradingPlugin._emit = recording
    try:
        grading.run_session([grading.Job("ann", topic, {f"{topic}.py": source.encode()})], lambda r: None,
                            call_timeout=call_timeout)
    finally:
        grading.GradingPlugin._emit = emit
    return spent[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--topic", default="activations")
    parser.add_argument("--compare", type=Path, default=None, metavar="CHECKOUT",
                        help="also time the CLI of another checkout (e.g. `git archive <commit>` unpacked), interleaved")
    parser.add_argument("--no-bytecode", action="store_true",
                        help="do not compile deepgrade's modules first (then, with PYTHONDONTWRITEBYTECODE set, "
                             "every run compiles them from source: ~0.05 s that no installed copy pays)")
    args = parser.parse_args()
    if not args.no_bytecode:
        # An installed deepgrade has bytecode (pip compiles it; Python writes it on first import
        # unless PYTHONDONTWRITEBYTECODE is set, as on this machine): time that, not compiling.
        import compileall

        for folder in ("autograder", "solutions"):
            compileall.compile_dir(ROOT / folder, quiet=1)
        compileall.compile_file(ROOT / "cli.py", quiet=1)
    deepgrade = shutil.which("deepgrade") or "deepgrade"
    source = (ROOT / "solutions" / f"{args.topic}.py").read_text()
    with tempfile.TemporaryDirectory() as tmp:
        py_dir, nb_dir, loop_dir = Path(tmp, "py"), Path(tmp, "nb"), Path(tmp, "loop")
        (py_dir / "ann").mkdir(parents=True)
        (nb_dir / "ann").mkdir(parents=True)
        (py_dir / "ann" / f"{args.topic}.py").write_text(source)
        (nb_dir / "ann" / f"{args.topic}.ipynb").write_text(notebook(source))
        out = Path(tmp, "out")
        commands = {
            ".py": [deepgrade, "grade", args.topic, str(py_dir), "--out", str(out)],
            ".ipynb": [deepgrade, "grade", args.topic, str(nb_dir), "--out", str(out)],
            "python": [sys.executable, "-c", "pass"],
            "import cli": [sys.executable, "-c", "import cli"],
        }
        if args.compare is not None:
            other = [sys.executable, str(args.compare.resolve() / "cli.py")]
            commands["other .py"] = other + commands[".py"][1:]
            commands["other .ipynb"] = other + commands[".ipynb"][1:]
        for name in [n for n in commands if n.endswith(".py")]:
            timed(commands[name])  # the first run calibrates the reference (cached afterwards)
        times: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        server: list[tuple[float, float]] = []
        load = os.getloadavg()[0]
        for _ in range(args.runs):
            for name, command in commands.items():
                wall, used = timed(command)
                times[name].append(wall)
                cpu[name].append(used)
            server.append(fork_server_start())
        load = max(load, os.getloadavg()[0])
        print(f"deepgrade grade {args.topic}, one submission, {args.runs} interleaved runs "
              f"(seconds; load average up to {load:.1f} on {os.cpu_count()} cores; "
              f"PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r}, "
              f"{'modules compiled from source each run' if args.no_bytecode else 'bytecode compiled first'}):")
        for name, values in times.items():
            print(f"  {name:<12} wall {spread(values)}   CPU {spread(cpu[name])}")
        print(f"  {'fork server':<12} wall {spread([w for w, _ in server])}   CPU {spread([c for _, c in server])}"
              "   (start to ready, alone)")
        # Each .ipynb run against the .py run just before it: a busy moment slows both alike.
        for base, other in ((".py", ".ipynb"), ("other .py", "other .ipynb"), (".py", "other .py")):
            if base in times and other in times:
                diff = [b - a for a, b in zip(times[base], times[other])]
                diff_cpu = [b - a for a, b in zip(cpu[base], cpu[other])]
                print(f"  {other} minus {base}, run by run: wall median {statistics.median(diff):+.3f}  "
                      f"min {min(diff):+.3f}   CPU median {statistics.median(diff_cpu):+.3f}")
        if args.topic == "activations":
            loop = source[: source.index("def sigmoid(")] + "def sigmoid(z):\n    while True:\n        pass\n\n\n" \
                + source[source.index("def sigmoid_derivative("):]
            (loop_dir / "ann").mkdir(parents=True)
            (loop_dir / "ann" / "activations.py").write_text(loop)
            for label, limit in (("calibrated limits", None), ("flat --timeout 2", 2.0)):
                cpu_s, wall_s = worker_cpu("activations", loop, limit)
                print(f"a sigmoid that never returns (3 functions call it), {label}: workers' CPU {cpu_s:.2f} s, "
                      f"grading wall {wall_s:.2f} s")
            flat = [deepgrade, "grade", "activations", str(loop_dir), "--out", str(out), "--json"]
            for label, extra_args in (("calibrated limits", []), ("flat --timeout 2", ["--timeout", "2"])):
                start = time.perf_counter()
                done = subprocess.run(flat + extra_args, check=True, capture_output=True, text=True, cwd=ROOT)
                wall = time.perf_counter() - start
                result = json.loads((out / "ann" / "results.json").read_text()) if (out / "ann").exists() else {}
                spent = result.get("execution_time", float("nan"))
                print(f"a sigmoid that never returns (3 functions call it), {label}: grading time {spent:.2f} s, "
                      f"command {wall:.2f} s")
                del done


if __name__ == "__main__":
    main()
