"""How much room the per-call time limits leave a correct solution written with Python loops (issue 12, target 2).

    python bench/bench_slow_corpus.py                     # every topic with a solutions/slow/<topic>.py
    python bench/bench_slow_corpus.py --topics residual --runs 5 --margin 5

A call into a submission may use, in CPU time, SLOW_MARGIN (8) times the slow solution's call
on the same input (``proxy.call_key``; else its slowest call of the function) plus CHARGE, or
FACTOR (50) times the reference's slowest call, at least MIN_FLOOR (0.05 s; FLOOR, 0.25 s, for a
function no slow solution times), at most the ceiling (2 s). Calibration times the slow
solution (solutions/slow/<topic>.py) once. This bench checks the limits calibration chose
independently, in CPU time, call by call: for every topic, the reference and the slow solution
are graded by the hidden graders in the sandbox, twice over: as the graders run (checks
pipeline several calls into one request) and step by step (each call a request of its own, the
graders' fallback). A call that is a request of its own is timed by the worker's CPU time
(/proc/<pid>/task/*/schedstat, nanoseconds); a call inside a pipeline by the time the worker
measured for it (wall time in the worker: at least its CPU time, so its margin is if anything
understated). Each figure is the smallest of ``--runs`` runs. Calls are made with a flat 30 s
limit, so nothing times out while it is measured.

Printed per topic and function:

- ``slow`` / ``ref``: the slowest call, CPU milliseconds;
- ``ratio``: slow / ref;
- ``limit``: the CPU seconds the slow solution's tightest call gets under the limits this
  machine's calibration chose (``calibration.call_limits``, from its cache, with each call's
  key as ``proxy.call_cpu_limit`` uses it); ``by``: what sets the function's own limit (slow,
  factor, min floor, floor, ceiling);
- ``margin``: how many times its CPU time that call could take before it is stopped, the
  smallest over all of the function's calls: (limit - overhead) / CPU time, where the
  overhead is what the engine may charge a request beyond the CPU time it used (its first
  reading counts CPU_POLL as spent, and /proc counts in clock ticks): CPU_POLL + one tick.

Last, the smallest margin of any call, and every call under ``--margin`` (5x). The load
average is printed before and after: the CPU figures barely move with load, the wall ones do.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder.calibration import CHARGE, FACTOR, MIN_FLOOR, SLOW_MARGIN, CallLimits, call_limits, slow_path  # noqa: E402
from autograder.graders import stepwise  # noqa: E402
from autograder.grading import DEFAULT_CALL_TIMEOUT, Job, run_session  # noqa: E402
from autograder.sandbox import proxy  # noqa: E402

CORPUS = slow_path("activations").parent
FLAT_TIMEOUT = 30.0  # seconds per call while measuring: nothing may time out
TICK = 1.0 / (os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100)
OVERHEAD = proxy.CPU_POLL + TICK  # what the engine may charge a request beyond the CPU it used


@dataclass(frozen=True)
class Request:
    """One call of a function (``strike``) of the submission: a request of its own, or one
    operation of a pipeline; ``key`` its ``proxy.call_key`` (None: not a call)."""

    strike: str
    calls: int
    wall: float
    cpu: float
    key: str | None = None
    call: tuple | None = field(default=None, compare=False)  # the ("call", ...) operation


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
    """Records every call of a grading session: a request of its own with the worker's CPU
    time (schedstat), a pipeline's calls each with the time the worker measured for it (wall
    time in the worker, at least its CPU time: its margin is then, if anything, understated)."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._last: tuple[float, float] | None = None

    def __enter__(self) -> Recorder:
        conn_request, sub_request = proxy.Connection.request, proxy.Submission.request
        pipeline_record = proxy.Pipeline._record
        recorder = self

        def timed_conn_request(conn, message, *args, **kwargs):
            before, start = worker_cpu(conn.pid), time.perf_counter()
            try:
                return conn_request(conn, message, *args, **kwargs)
            finally:
                recorder._last = (time.perf_counter() - start, worker_cpu(conn.pid) - before)

        def timed_sub_request(sub, message, where="your code", strike=None, calls=1, **kwargs):
            recorder._last = None
            reply = sub_request(sub, message, where, strike=strike, calls=calls, **kwargs)
            if strike and message[0] != "batch" and recorder._last is not None:
                wall, cpu = recorder._last
                call = message if message[0] == "call" else None
                key = proxy.call_key(strike, call) if call else None
                recorder.requests.append(Request(strike, max(1, calls), wall, cpu, key, call))
            return reply

        def timed_record(pipe, reply):
            if type(reply) is tuple and len(reply) == 2 and type(reply[1]) is list:
                for op, made, took in zip(pipe.ops, pipe.made, reply[1]):
                    if op[0] == "call":
                        recorder.requests.append(Request(made._origin, 1, took, took,
                                                         proxy.call_key(made._origin, op), op))
            return pipeline_record(pipe, reply)

        self._saved = conn_request, sub_request, pipeline_record
        proxy.Connection.request, proxy.Submission.request = timed_conn_request, timed_sub_request
        proxy.Pipeline._record = timed_record
        return self

    def __exit__(self, *exc: object) -> None:
        proxy.Connection.request, proxy.Submission.request, proxy.Pipeline._record = self._saved


def grade(topic: str, source: bytes, step_by_step: bool) -> tuple[list[Request], float]:
    """Grade ``source`` once; its calls and its score (percent)."""
    results = []
    stepwise.ALWAYS_STEP_BY_STEP = step_by_step
    try:
        with Recorder() as recorder:  # timings: pipelines report each call's time
            run_session([Job("bench", topic, {f"{topic}.py": source})], results.append, call_timeout=FLAT_TIMEOUT,
                        timings={})
    finally:
        stepwise.ALWAYS_STEP_BY_STEP = False
    score = 100.0 * results[0].score / results[0].max_score if results and results[0].max_score else 0.0
    return recorder.requests, score


def best_of(runs: list[list[Request]]) -> list[Request]:
    """Call by call, the smallest wall and CPU time over runs (a busy machine only adds)."""
    first = runs[0]
    same = [r for r in runs if [(q.strike, q.key) for q in r] == [(q.strike, q.key) for q in first]]
    return [Request(q.strike, q.calls, min(r[i].wall for r in same), min(r[i].cpu for r in same), q.key, q.call)
            for i, q in enumerate(first)]


def measure(topic: str, source: bytes, runs: int) -> tuple[list[Request], list[Request], float]:
    """The calls of ``runs`` gradings pipelined and step by step (best of runs each); the lowest score."""
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


def set_by(limits: CallLimits, strike: str) -> str:
    """What sets the (untightened) limit of a call of ``strike``."""
    ref = limits.reference.get(strike)
    if ref is None:
        return "ceiling"
    slow = limits.slow.get(strike)
    parts = {"factor": limits.factor * ref}
    if slow is None:
        parts["floor"] = limits.floor
    else:
        parts.update({"min floor": limits.min_floor, "slow": limits.margin * slow + CHARGE})
    name, value = max(parts.items(), key=lambda kv: kv[1])
    return "ceiling" if value >= limits.ceiling else name


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
    parser.add_argument("--topics", nargs="*", help="topics to measure (default: every topic in solutions/slow)")
    parser.add_argument("--runs", type=int, default=3, help="gradings per file and mode; the smallest time counts")
    parser.add_argument("--margin", type=float, default=5.0, help="room wanted between a call's CPU time and its limit")
    args = parser.parse_args()
    topics = args.topics or sorted(p.stem for p in CORPUS.glob("[a-z]*.py"))
    load_before = os.getloadavg()
    print(f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f} "
          f"on {os.cpu_count()} cores; FACTOR {FACTOR:g}, ceiling {DEFAULT_CALL_TIMEOUT:g} s, "
          f"charge overhead {1000 * OVERHEAD:.0f} ms; runs {args.runs}; margin wanted {args.margin:g}x")
    print(f"busiest processes: {busiest()}\n")
    short: list[tuple[float, str]] = []  # requests with less than the margin wanted
    worst: tuple[float, str] = (float("inf"), "")
    for topic in topics:
        ref_requests, _, ref_score = measure(topic, (ROOT / "solutions" / f"{topic}.py").read_bytes(), args.runs)
        pipelined, one_by_one, corpus_score = measure(topic, (CORPUS / f"{topic}.py").read_bytes(), args.runs)
        corpus_requests = pipelined + one_by_one
        if ref_score < 100 or corpus_score < 100:
            # a broken measurement (e.g. the recorder out of step with proxy.Submission.request)
            # would print small figures that look like room to spare
            sys.exit(f"{topic}: reference scores {ref_score:.0f}, slow solution {corpus_score:.0f}: both must "
                     "score 100; nothing measured here can be trusted")
        ref_calls, corpus_calls = slowest_call(ref_requests), slowest_call(corpus_requests)
        limits = call_limits(topic, DEFAULT_CALL_TIMEOUT)  # what grading on this machine uses
        print(f"{topic}: reference and slow solution score 100; {len(corpus_requests)} calls of the slow one timed")
        print(f"  {'function':<26}{'slow ms':>10}{'ref ms':>9}{'ratio':>8}{'limit s':>9}{'calls':>6}"
              f"{'by':>10}{'margin':>9}{'wall ms':>9}")
        mine = (float("inf"), "")
        for strike in sorted(corpus_calls, key=lambda s: -corpus_calls[s]):
            tightest = None
            for q in corpus_requests:
                if q.strike != strike:
                    continue
                limit = (proxy.call_cpu_limit(limits, strike, q.call) if q.call
                         else limits.cpu_limit(strike, calls=q.calls))
                margin = (limit - OVERHEAD) / max(q.cpu, 1e-9)  # times it could grow before it is stopped
                if tightest is None or margin < tightest[0]:
                    tightest = (margin, limit, q)
            margin, limit, q = tightest
            worst = min(worst, (margin, f"{topic}.{strike}"))
            mine = min(mine, (margin, strike))
            if margin < args.margin:
                short.append((margin, f"{topic}.{strike} ({q.calls} call(s), {1000 * q.cpu:.1f} ms of CPU, "
                                      f"limit {limit:.3f} s: {margin:.1f}x)"))
            ref = ref_calls.get(strike)
            ratio = f"{corpus_calls[strike] / ref:8.1f}" if ref else f"{'-':>8}"
            print(f"  {strike:<26}{1000 * corpus_calls[strike]:10.2f}"
                  + (f"{1000 * ref:9.3f}" if ref else f"{'-':>9}")
                  + f"{ratio}{limit:9.3f}{q.calls:6d}{set_by(limits, strike):>10}{margin:8.1f}x"
                  + f"{1000 * q.wall:9.1f}")
        print(f"  smallest margin in this topic: {mine[0]:.1f}x ({mine[1]})\n")
    load_after = os.getloadavg()
    print(f"load average after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}; "
          f"busiest processes: {busiest()}")
    print(f"limits: SLOW_MARGIN {SLOW_MARGIN:g} x the slow solution's call, FACTOR {FACTOR:g} x the reference's, "
          f"at least {MIN_FLOOR} s")
    print(f"smallest margin of any slow-solution call: {worst[0]:.1f}x ({worst[1]}); wanted {args.margin:g}x")
    if short:
        print(f"calls with less than {args.margin:g}x:")
        for _, line in sorted(short):
            print(f"  {line}")
    else:
        print(f"every call has at least {args.margin:g}x")

if __name__ == "__main__":
    main()
