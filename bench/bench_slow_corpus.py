"""How much room the per-call time limits leave a correct solution written with Python loops (issue 12, target 2).

    python bench/bench_slow_corpus.py                     # every topic with a tests/slow_corpus/<topic>_loops.py
    python bench/bench_slow_corpus.py --topics residual --runs 5 --margin 5

A call into a submission may use FACTOR (50) times the reference's slowest call of the same
function in CPU time, at least FLOOR (0.25 s): the floor is there so that an unvectorised but
correct solution never times out. For every topic, the reference (solutions/<topic>.py) and
the corpus file (tests/slow_corpus/<topic>_loops.py) are graded by the hidden graders in the
sandbox, twice over: as the graders run (checks pipeline several calls into one request) and
step by step (each call a request of its own, the graders' fallback). Every request that calls
one function is recorded with its number of calls, its wall time and the worker's CPU time
(/proc/<pid>/task/*/schedstat, nanoseconds); each figure is the smallest of ``--runs`` runs.
Calls are made with a flat 30 s limit, so nothing times out while it is measured.

Printed per topic and function:

- ``corpus`` / ``ref``: the slowest call, CPU milliseconds per call (a pipeline's calls share
  its time, as calibration counts them);
- ``ratio``: corpus / ref;
- ``limit``: the CPU seconds the corpus's tightest request gets, ``CallLimits.cpu_limit`` with
  the reference's CPU times as calibration would measure them on a quiet machine (on a loaded
  one calibration measures wall time, which only makes limits larger); ``calls``: how many calls
  that request makes (a pipeline of n calls gets max(floor, FACTOR x ref x n), one floor);
  ``by``: what sets the limit (floor, factor or ceiling);
- ``margin``: how many times its CPU time that request could take before it is stopped, the
  smallest over all of the function's requests: (limit - overhead) / CPU time, where the
  overhead is what the engine may charge a request beyond the CPU time it used (its first
  reading counts CPU_POLL as spent, and /proc counts in clock ticks): CPU_POLL + one tick.

Last, the lowest floor that keeps ``--margin`` (5x) for every request whose limit the floor
sets (FACTOR x ref x calls < FLOOR): max over those requests of margin x CPU + CPU_POLL + one
tick (and the same if each call of a pipeline had a floor of its own, not one per pipeline
as now); and the requests whose limit the factor sets but that get less than the margin (a floor
below their limit does not change theirs). The load average is printed before and after: the CPU
figures barely move with load, the wall figures do.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder.calibration import FACTOR, FLOOR, CallLimits  # noqa: E402
from autograder.graders import stepwise  # noqa: E402
from autograder.grading import DEFAULT_CALL_TIMEOUT, Job, run_session  # noqa: E402
from autograder.sandbox import proxy  # noqa: E402

CORPUS = ROOT / "tests" / "slow_corpus"
FLAT_TIMEOUT = 30.0  # seconds per call while measuring: nothing may time out
TICK = 1.0 / (os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100)
OVERHEAD = proxy.CPU_POLL + TICK  # what the engine may charge a request beyond the CPU it used


@dataclass(frozen=True)
class Request:
    """One request that called a single function (``strike``) of the submission."""

    strike: str
    calls: int
    wall: float
    cpu: float


def worker_cpu(pid: int) -> float:
    """CPU seconds the worker's threads have used (nanosecond counters; 0.0 once it is gone)."""
    total = 0
    for path in glob.glob(f"/proc/{pid}/task/*/schedstat"):
        try:
            with open(path) as fh:
                total += int(fh.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total / 1e9


class Recorder:
    """Records every request of a grading session that calls one function, with its CPU time."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._last: tuple[float, float] | None = None

    def __enter__(self) -> Recorder:
        conn_request, sub_request = proxy.Connection.request, proxy.Submission.request
        recorder = self

        def timed_conn_request(conn, message, *args, **kwargs):
            before, start = worker_cpu(conn.pid), time.perf_counter()
            try:
                return conn_request(conn, message, *args, **kwargs)
            finally:
                recorder._last = (time.perf_counter() - start, worker_cpu(conn.pid) - before)

        def timed_sub_request(sub, message, where="your code", strike=None, calls=1):
            recorder._last = None
            reply = sub_request(sub, message, where, strike=strike, calls=calls)
            if strike and recorder._last is not None:
                wall, cpu = recorder._last
                recorder.requests.append(Request(strike, max(1, calls), wall, cpu))
            return reply

        self._saved = conn_request, sub_request
        proxy.Connection.request, proxy.Submission.request = timed_conn_request, timed_sub_request
        return self

    def __exit__(self, *exc: object) -> None:
        proxy.Connection.request, proxy.Submission.request = self._saved


def grade(topic: str, source: bytes, step_by_step: bool) -> tuple[list[Request], float]:
    """Grade ``source`` once; its requests and its score (percent)."""
    results = []
    stepwise.ALWAYS_STEP_BY_STEP = step_by_step
    try:
        with Recorder() as recorder:
            run_session([Job("bench", topic, {f"{topic}.py": source})], results.append, call_timeout=FLAT_TIMEOUT)
    finally:
        stepwise.ALWAYS_STEP_BY_STEP = False
    score = 100.0 * results[0].score / results[0].max_score if results and results[0].max_score else 0.0
    return recorder.requests, score


def best_of(runs: list[list[Request]]) -> list[Request]:
    """Request by request, the smallest wall and CPU time over runs (a busy machine only adds)."""
    first = runs[0]
    same = [r for r in runs if [(q.strike, q.calls) for q in r] == [(q.strike, q.calls) for q in first]]
    return [Request(q.strike, q.calls, min(r[i].wall for r in same), min(r[i].cpu for r in same))
            for i, q in enumerate(first)]


def measure(topic: str, source: bytes, runs: int) -> tuple[list[Request], list[Request], float]:
    """The requests of ``runs`` gradings pipelined and step by step (best of runs each); the lowest score."""
    modes, scores = [], []
    for step_by_step in (False, True):
        got = []
        for _ in range(runs):
            reqs, score = grade(topic, source, step_by_step)
            got.append(reqs)
            scores.append(score)
        modes.append(best_of(got))
    return modes[0], modes[1], min(scores)


def slowest_call(requests: list[Request]) -> dict[str, float]:
    """Per function, its slowest call in CPU seconds (a request's CPU time shared by its calls)."""
    out: dict[str, float] = {}
    for q in requests:
        out[q.strike] = max(out.get(q.strike, 0.0), q.cpu / q.calls)
    return out


def set_by(limits: CallLimits, strike: str, calls: int) -> str:
    ref = limits.reference.get(strike)
    if ref is None or limits.ceiling * calls <= max(limits.floor, limits.factor * ref * calls):
        return "ceiling"
    return "floor" if limits.floor >= limits.factor * ref * calls else "factor"


def _cpu_by_process() -> dict[tuple[int, str], int]:
    """Clock ticks of CPU time used so far, per (pid, name)."""
    ticks = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat, "rb") as fh:
                head, _, rest = fh.read().rpartition(b")")
            fields = rest.split()
            ticks[(int(stat.split("/")[2]), head.split(b"(", 1)[1].decode(errors="replace"))] = \
                int(fields[11]) + int(fields[12])
        except (OSError, ValueError, IndexError):
            pass
    return ticks


def busiest(n: int = 4, seconds: float = 1.0) -> str:
    """The ``n`` processes that used the most CPU over the next ``seconds`` (what else is running)."""
    before = _cpu_by_process()
    time.sleep(seconds)
    after = _cpu_by_process()
    # by pid: a kernel worker's name changes with its work; a process new since `before` counts from 0,
    # so only those that existed before count (a short-lived one is missed, a long one shows next time)
    was = {pid: t for (pid, _), t in before.items()}
    used = sorted(((t - was[pid], name) for (pid, name), t in after.items() if pid in was), reverse=True)
    return ", ".join(f"{name} {100 * t * TICK / seconds:.0f}%" for t, name in used[:n] if t > 0) or "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--topics", nargs="*", help="topics to measure (default: every *_loops.py in tests/slow_corpus)")
    parser.add_argument("--runs", type=int, default=3, help="gradings per file and mode; the smallest time counts")
    parser.add_argument("--margin", type=float, default=5.0, help="room wanted between a call's CPU time and its limit")
    args = parser.parse_args()
    topics = args.topics or sorted(p.stem.removesuffix("_loops") for p in CORPUS.glob("*_loops.py"))
    load_before = os.getloadavg()
    print(f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f} "
          f"on {os.cpu_count()} cores; FLOOR {FLOOR} s, FACTOR {FACTOR:g}, ceiling {DEFAULT_CALL_TIMEOUT:g} s, "
          f"charge overhead {1000 * OVERHEAD:.0f} ms; runs {args.runs}; margin wanted {args.margin:g}x")
    print(f"busiest processes: {busiest()}\n")
    needs: list[tuple[float, str, str, int]] = []  # (floor needed, topic, function, calls)
    short: dict[str, tuple[float, str]] = {}  # per function, its tightest request the factor sets under the margin
    worst: tuple[float, str] = (float("inf"), "")
    for topic in topics:
        ref_requests, _, ref_score = measure(topic, (ROOT / "solutions" / f"{topic}.py").read_bytes(), args.runs)
        pipelined, one_by_one, corpus_score = measure(topic, (CORPUS / f"{topic}_loops.py").read_bytes(), args.runs)
        corpus_requests = pipelined + one_by_one
        # calibration times the reference as the graders call it (pipelined), and so does this
        ref_calls, corpus_calls = slowest_call(ref_requests), slowest_call(corpus_requests)
        limits = CallLimits(reference=ref_calls, ceiling=DEFAULT_CALL_TIMEOUT)
        print(f"{topic}: reference scores {ref_score:.0f}, corpus {corpus_score:.0f}; "
              f"{len(corpus_requests)} corpus requests timed")
        print(f"  {'function':<26}{'corpus ms':>10}{'ref ms':>9}{'ratio':>8}{'limit s':>9}{'calls':>6}"
              f"{'by':>8}{'margin':>9}{'wall ms':>9}")
        for strike in sorted(corpus_calls, key=lambda s: -corpus_calls[s]):
            tightest = None
            for q in corpus_requests:
                if q.strike != strike:
                    continue
                limit = limits.cpu_limit(strike, calls=q.calls)
                margin = (limit - OVERHEAD) / max(q.cpu, 1e-9)  # times it could grow before it is stopped
                if tightest is None or margin < tightest[0]:
                    tightest = (margin, limit, q)
                want = args.margin * q.cpu + OVERHEAD
                factor_limit = limits.factor * limits.reference.get(strike, float("inf")) * q.calls
                if factor_limit >= want:
                    continue  # the factor alone gives this request its margin, whatever the floor
                if factor_limit < FLOOR:  # the floor sets its limit today: the floor must give the margin
                    needs.append((want, topic, strike, q.calls))
                else:  # the factor sets it and leaves too little room: no floor below it changes that
                    room = (factor_limit - OVERHEAD) / q.cpu
                    name = f"{topic}.{strike}"
                    if name not in short or room < short[name][0]:
                        short[name] = (room, f"{name} ({q.calls} call(s), {1000 * q.cpu:.0f} ms of CPU, "
                                             f"limit {factor_limit:.3f} s: {room:.1f}x)")
            margin, limit, q = tightest
            worst = min(worst, (margin, f"{topic}.{strike}"))
            ref = ref_calls.get(strike)
            ratio = f"{corpus_calls[strike] / ref:8.1f}" if ref else f"{'-':>8}"
            print(f"  {strike:<26}{1000 * corpus_calls[strike]:10.2f}"
                  + (f"{1000 * ref:9.3f}" if ref else f"{'-':>9}")
                  + f"{ratio}{limit:9.3f}{q.calls:6d}{set_by(limits, strike, q.calls):>8}{margin:8.1f}x"
                  + f"{1000 * q.wall:9.1f}")
        mine = [n for n in needs if n[1] == topic]
        if mine:
            want, _, strike, calls = max(mine)
            print(f"  floor this topic needs for {args.margin:g}x: {want:.3f} s ({strike}, {calls} call(s))")
        else:
            print(f"  floor this topic needs for {args.margin:g}x: none")
        print()
    load_after = os.getloadavg()
    print(f"load average after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}; "
          f"busiest processes: {busiest()}")
    print(f"smallest margin of any corpus request at FLOOR = {FLOOR} s: {worst[0]:.1f}x ({worst[1]})")
    if needs:
        want, topic, strike, calls = max(needs)
        print(f"lowest floor keeping {args.margin:g}x for every request the floor sets: {want:.3f} s "
              f"(set by {topic}.{strike}, a request of {calls} call(s))")
        # The engine gives a pipeline one floor whatever its number of calls; were each call of a
        # pipeline given its own, a request of n calls would need 1/n of it.
        want, topic, strike, calls = max((w / n, t, s, n) for w, t, s, n in needs)
        print(f"  the same if each call of a pipeline had a floor of its own: {want:.3f} s "
              f"(set by {topic}.{strike}, a request of {calls} call(s))")
    else:
        print(f"lowest floor keeping {args.margin:g}x: none needed (the factor alone gives every request its margin)")
    if short:
        print(f"limits set by the factor with less than {args.margin:g}x (the floor does not help them):")
        for _, line in short.values():
            print(f"  {line}")


if __name__ == "__main__":
    main()
