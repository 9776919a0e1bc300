"""The sandbox: plain-data wire, limits, isolation, and hostile submissions."""

from __future__ import annotations

import os
import pickle
import time

import numpy as np
import pytest

from autograder.grading import grade_file, shared_sandbox
from autograder.sandbox import (
    ImportFailed,
    NotPlainData,
    StudentException,
    StudentTimeout,
    Submission,
    WorkerCrashed,
)
from autograder.sandbox.tiers import NAMESPACES as TIER_NAMESPACES
from autograder.sandbox.wire import Ref, WireError, decode, encode
from tests.conftest import ROOT, write_submission


def submission(source: str, topic: str = "activations", timeout: float = 1.0) -> Submission:
    return Submission(shared_sandbox(), topic, {f"{topic}.py": source.encode()}, call_timeout=timeout)


# ---------------------------------------------------------------------------- wire


@pytest.mark.parametrize("value", [
    None, True, False, 0, -(2**63), 2**80, 1.5, float("inf"), "héllo", b"\x00\xff",
    [1, [2.0, "x"]], (1, (2,)), {"a": 1, 2: [3]},
    np.arange(6, dtype=np.float64).reshape(2, 3), np.array([True, False]), np.zeros((0, 3)),
    np.int32(7), np.float64(2.5), np.bool_(True), Ref(3, (("attr", "x"), ("item", 0))),
])
def test_plain_data_round_trips_exactly(value):
    back = decode(encode(value))
    assert type(back) is type(value)
    if isinstance(value, np.ndarray):
        assert back.dtype == value.dtype and back.shape == value.shape and np.array_equal(back, value)
    elif value == value:  # not NaN
        assert back == value


def test_requests_carry_refs_exactly_to_the_worker():
    """Parent -> worker requests are pickled (Ref with its own compact reduction): every Ref
    arrives equal, as a Ref, wherever it sits in a pipeline."""
    ops = [("call", Ref(0, (("attr", "f"),)), (Ref(2**62 + 1), [Ref(5, (("item", 0),))]), {"k": Ref(7)}),
           ("fetch", Ref(3, (("attr", "x"), ("item", "y"))))]
    back = pickle.loads(pickle.dumps(("batch", ops, 0.5, None), protocol=5))
    assert back == ("batch", ops, 0.5, None)
    assert type(back[1][0][2][0]) is Ref and back[1][0][2][0].path == ()


def _read_only(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


@pytest.mark.parametrize("value", [
    np.arange(6.0).reshape(2, 3), np.arange(6.0).reshape(2, 3).T, np.arange(10)[::3], np.zeros((0, 3)),
    np.array(2.5), np.array([1 + 2j], dtype=np.complex64), np.array([True, False]), np.arange(4, dtype=">i4"),
    _read_only(np.ones(3)), np.array([None, 1], dtype=object), np.zeros(2, dtype=[("a", "f8")]),
    np.array(["2026-01-01"], dtype="datetime64[D]"), np.ma.masked_array([1.0, 2.0], mask=[0, 1]),
])
def test_request_arrays_arrive_as_numpys_own_pickling_delivers_them(value):
    """Requests pickle plain C-ordered arrays by their buffer (cheaper than NumPy's reduction):
    what the worker builds is what NumPy's own pickling would give it, flags included."""
    from autograder.sandbox.wire import request_bytes

    ours, numpys = pickle.loads(request_bytes([value, value])), pickle.loads(pickle.dumps([value, value], protocol=5))
    for got, want in zip(ours, numpys, strict=True):
        assert type(got) is type(want) and got.dtype == want.dtype and got.shape == want.shape
        assert got.tobytes() == want.tobytes() and got.strides == want.strides
        assert (got.flags.writeable, got.flags.c_contiguous, got.flags.f_contiguous) == \
            (want.flags.writeable, want.flags.c_contiguous, want.flags.f_contiguous)
    assert (ours[0] is ours[1]) == (numpys[0] is numpys[1])  # one array sent twice stays one array
    if value.dtype.kind in "biufc" and value.flags.writeable:
        before = value.tobytes()
        ours[0][...] = 0  # in place in the worker: its own copy, never the parent's array
        assert value.tobytes() == before


def test_a_batch_reply_is_joined_once_however_it_nests():
    """A pipeline's reply nests its outcomes in a tuple: joined in one copy, so the worker (its
    memory limited) never holds a large fetched value three times over."""
    import tracemalloc

    from autograder.sandbox.wire import encode_encoded_tuple

    assert decode(encode_encoded_tuple([encode("ok"), [encode(1), encode((2, 3))], encode(None)])) == \
        ("ok", (1, (2, 3)), None)
    big = encode(np.zeros(2_000_000))  # 16 MB
    tracemalloc.start()
    try:
        reply = encode_encoded_tuple([encode("ok"), [big], encode(None), encode(7)])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert decode(reply)[1][0].shape == (2_000_000,)
    assert peak < 1.5 * len(big)  # the reply itself, not an inner tuple's copy as well


def test_the_worker_flushes_only_streams_no_student_code_can_run_in():
    """A batch's reply says how much was printed after flushing the worker's own streams: never
    when a layer's method was replaced on the object (flushing would run student code outside
    any limit), nor for other stream types."""
    import io

    from autograder.sandbox.worker import untouched

    def stack():
        stream = io.TextIOWrapper(io.BufferedWriter(io.FileIO(os.open(os.devnull, os.O_WRONLY), "w")))
        stream.mode = "w"  # as the interpreter's own streams have
        return stream

    assert untouched(stack())
    text = stack()
    text.flush = lambda: None
    buffered = stack()
    buffered.buffer.flush = lambda: None
    raw = stack()
    raw.buffer.raw.write = lambda data: len(data)
    other = stack()
    other.__dict__["mode"] = 1
    other.__dict__["errors2"] = 1
    assert not any(untouched(s) for s in (text, buffered, raw, other, io.StringIO()))


class FloatLiar(float):
    def __eq__(self, other):
        return True


@pytest.mark.parametrize("value", [
    FloatLiar(1.0), np.zeros(3).view(np.recarray), np.array(["a"]), np.array([object()], dtype=object),
    {1, 2}, object(), [np.zeros(2), FloatLiar(0.0)], {"k": lambda: 1},
])
def test_anything_else_is_refused(value):
    with pytest.raises(WireError):
        encode(value)


@pytest.mark.parametrize("data", [b"", b"Z", b"a\x03<f8\x01" + b"\xff" * 8, b"s" + b"\xff" * 8, b"l\x05\x00\x00\x00N",
                                  b"a\x03|O8\x00", b"NN", b"d\x01\x00\x00\x00l\x00\x00\x00\x00N"])
def test_malformed_bytes_are_rejected_not_trusted(data):
    with pytest.raises(WireError):
        decode(data)


def _plain(value) -> bool:
    """Is ``value`` made only of what the codec may build?"""
    if type(value) in (list, tuple):
        return all(_plain(v) for v in value)
    if type(value) is dict:
        return all(_plain(k) and _plain(v) for k, v in value.items())
    if type(value) is np.ndarray:
        return value.flags.owndata and value.flags.writeable and value.dtype.kind in "biufc"
    return value is None or type(value) in (bool, int, float, str, bytes, Ref) or type(value) in {
        np.dtype(c).type for c in "?bhilqBHILQefdFD"}


def test_damaged_messages_decode_to_plain_data_or_wire_errors_only():
    # Every byte of real replies (arrays of every rank, nested containers, refs, text) replaced,
    # cut or doubled: the decoder never raises anything but WireError and never builds anything
    # but plain data, whatever an attacker writes.
    rng = np.random.default_rng(0)
    samples = [encode(v) for v in (
        ("ok", (np.arange(6.0).reshape(2, 3), [np.int8(3), 2**70, "x" * 40], {"k": np.zeros((0, 4))}),
         Ref(9, (("attr", "a"), ("item", 2))), b"\x00\xff", None, True),
        [np.ones((2, 2, 2), dtype=np.float32), np.array([True]), np.float64(1.5), -(2**63)],
        ("step", 3, ("error", "ValueError", "bad", ""), (np.zeros(3), 1.0)),
    )]
    seen = 0
    for data in samples:
        cases = [data[:n] for n in range(len(data))] + [data + data[-3:]]
        for _ in range(400):
            b = bytearray(data)
            for _ in range(int(rng.integers(1, 4))):
                b[int(rng.integers(len(b)))] = int(rng.integers(256))
            cases.append(bytes(b))
        for case in cases:
            try:
                value = decode(case)
            except WireError:
                continue
            seen += 1
            assert _plain(value), (case, value)
    assert seen > 100  # some damaged messages still decode (a changed digit), as plain data


# ---------------------------------------------------------------------------- hostile code


def test_infinite_loop_times_out_and_the_worker_is_replaced():
    sub = submission("def spin():\n    while True: pass\ndef ok(x):\n    return x * 2\n")
    start = time.monotonic()
    with pytest.raises(StudentTimeout):
        sub.spin()
    assert time.monotonic() - start < 3
    assert sub.ok(np.ones(2)).fetch().tolist() == [2.0, 2.0]  # a new worker serves the next call
    sub.close()


def test_memory_bomb_is_stopped_by_the_memory_limit():
    sub = submission("import numpy as np\ndef bomb():\n    return np.ones(10**10)\n"
                     "def grow():\n    x = []\n    while True: x.append(bytearray(10**8))\n", timeout=10)
    with pytest.raises(StudentException, match="MemoryError"):
        sub.bomb()
    with pytest.raises((StudentException, WorkerCrashed), match="MemoryError|killed"):
        sub.grow()
    sub.close()


@pytest.mark.parametrize("body", ["import sys\nsys.exit(0)\n", "import os\nos._exit(0)\n",
                                  "raise SystemExit(1)\n", "while True: pass\n", "def broken(:\n"])
def test_hostile_or_broken_import_scores_nothing(body, tmp_path):
    result = grade_file("activations", write_submission(tmp_path, "activations", body), call_timeout=0.5)
    assert result.score == 0
    assert all("import" in c.output for c in result.checks), result.failures_text()


@pytest.mark.parametrize("exit_call", ["sys.exit(0)", "os._exit(0)", "raise SystemExit(0)"])
def test_exit_inside_a_function_fails_that_call_only(exit_call):
    sub = submission(f"import os, sys\ndef leave():\n    {exit_call}\ndef ok():\n    return 1.0\n")
    with pytest.raises((StudentException, WorkerCrashed)):
        sub.leave().fetch()
    assert sub.ok().fetch() == 1.0
    sub.close()


def test_eq_always_true_and_ndarray_subclasses_cannot_be_fetched():
    sub = submission("import numpy as np\nclass Liar:\n    def __eq__(self, o): return True\n"
                     "class Sub(np.ndarray): pass\n"
                     "def liar(): return Liar()\ndef sub(): return np.zeros(3).view(Sub)\n"
                     "def nested(): return [1.0, Liar()]\n")
    for name in ("liar", "sub", "nested"):
        with pytest.raises(NotPlainData, match="cannot be graded"):
            getattr(sub, name)().fetch()
    sub.close()


def test_monkeypatching_numpy_in_the_submission_does_not_reach_the_parent(tmp_path):
    source = ("import numpy as np\nnp.allclose = lambda *a, **k: True\nnp.isclose = lambda *a, **k: True\n"
              "def sigmoid(z):\n    return np.zeros_like(z)\n")
    result = grade_file("activations", write_submission(tmp_path, "activations", source))
    assert result.check("sigmoid_values").score == 0
    assert np.allclose(np.zeros(2), np.ones(2)) is False or not np.allclose(np.zeros(2), np.ones(2))


@pytest.mark.parametrize("single_process", [True, False])
def test_the_prebuilt_filter_is_libseccomps_and_refuses_what_it_must(single_process):
    import ctypes
    import errno
    import json
    import socket
    import tempfile

    from autograder.sandbox import seccomp

    if not seccomp.available():
        pytest.skip(seccomp.UNAVAILABLE)
    seccomp.prepare()  # as the fork server does once; workers then load the program as it is
    program = seccomp._PROGRAMS[single_process]
    with tempfile.TemporaryFile() as fh:
        seccomp._build(single_process).export_bpf(fh)
        fh.seek(0)
        assert fh.read() == program  # the very program libseccomp would have loaded
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # a child installs it and reports what each refused call said (0: allowed)
        os.close(r)
        got = []
        try:
            seccomp.install(single_process)
            for attempt in (lambda: socket.socket(socket.AF_INET), lambda: socket.socket(socket.AF_UNIX),
                            lambda: os.fork(), lambda: ctypes.CDLL(None, use_errno=True).unshare(0x40000000)):
                try:
                    rc = attempt()
                    if rc == 0:  # a child of os.fork(): leave at once
                        os._exit(0)
                    got.append(ctypes.get_errno() if rc == -1 else 0)
                except OSError as exc:
                    got.append(exc.errno)
            os.write(w, json.dumps(got).encode())
        finally:
            os._exit(0)
    os.close(w)
    got = json.loads(os.read(r, 1000).decode())
    os.close(r)
    os.waitpid(pid, 0)
    assert got[:2] == [errno.EACCES, errno.EACCES]  # no socket of any family
    assert got[3] == errno.EPERM  # no namespaces of its own
    assert (got[2] == errno.EAGAIN) if single_process else (got[2] not in (errno.EAGAIN, errno.EPERM))


def test_the_worker_cannot_see_solutions_graders_or_the_network():
    probe = f'''
import os, socket
def probe():
    seen = {{}}
    for p in {[str(ROOT / "solutions" / "activations.py"), str(ROOT / "autograder" / "graders" / "test_activations.py"),
               str(ROOT / "tests" / "conftest.py"), str(ROOT / ".git" / "HEAD")]!r}:
        try:
            with open(p) as fh:
                seen[p] = fh.read(20)
        except OSError as e:
            seen[p] = None
    try:
        import solutions.activations
        seen["import"] = "imported"
    except Exception:
        seen["import"] = None
    try:
        socket.create_connection(("1.1.1.1", 80), timeout=1)
        seen["net"] = "connected"
    except OSError:
        seen["net"] = None
    try:
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        seen["fork"] = "forked"
    except OSError:
        seen["fork"] = None
    return seen
'''
    sub = submission(probe)
    seen = sub.probe().fetch()
    sub.close()
    if not shared_sandbox().isolated:
        pytest.skip(f"namespaces unavailable here: {shared_sandbox().reason}")
    assert all(v is None for v in seen.values()), seen


def test_a_worker_that_leaves_its_session_is_still_killed():
    # The worker leads a session of its own (so setsid fails; a fork would be refused anyway):
    # whatever it tries, the time limit's kill takes it.
    sub = submission("import os\ndef hide_and_spin():\n    try:\n        os.setsid()\n    except OSError:\n"
                     "        pass\n    while True: pass\n"
                     "def pid():\n    return 0\n")
    sub.pid()
    pid = sub._conn.pid
    with pytest.raises(StudentTimeout):
        sub.hide_and_spin()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and os.path.exists(f"/proc/{pid}"):
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{pid}")
    sub.close()


def test_handles_keep_results_in_the_worker_and_show_aliasing():
    sub = submission("class Keeper:\n    def __init__(self):\n        self.kept = None\n"
                     "    def keep(self, w):\n        self.kept = w\n        return 'ok'\n")
    keeper = sub.Keeper()
    w = sub.put(np.zeros(3))
    keeper.keep(w)
    w.assign(np.ones(3))  # mutate the caller's array in place
    assert keeper.kept.fetch().tolist() == [1.0, 1.0, 1.0]  # the student kept a reference, not a copy
    out, = sub.put((np.arange(2.0),)).unpack(1)
    assert out.fetch().tolist() == [0.0, 1.0]
    with pytest.raises(TypeError):
        iter(keeper)
    sub.close()


def test_isolation_mode_is_reported():
    text = shared_sandbox().isolation
    assert text.startswith("sandbox:")
    if os.geteuid() == 0 and os.path.exists("/proc/self/ns/mnt"):
        assert "namespaces" in text


def test_sandbox_processes_are_named_for_what_they_are():
    """ps, top and perf tell the fork server, the intermediate and the worker apart; as root with
    namespaces there is no intermediate (the fork server starts each worker itself)."""
    def comm_and_parent(pid: int) -> tuple[str, int]:
        with open(f"/proc/{pid}/stat") as fh:
            stat = fh.read()
        return stat[stat.index("(") + 1:stat.rindex(")")], int(stat[stat.rindex(")") + 2:].split()[1])

    sandbox = shared_sandbox()
    conn = sandbox.spawn({"m.py": b"x = 1\n"})
    try:
        names, pid = [], conn.pid
        while pid > 1 and len(names) < 3:
            name, pid = comm_and_parent(pid)
            names.append(name)
            if name == "dg-zygote":
                break
        direct = os.geteuid() == 0 and sandbox.tier == TIER_NAMESPACES
        assert names == (["dg-worker", "dg-zygote"] if direct else ["dg-worker", "dg-inter", "dg-zygote"])
    finally:
        conn.kill()


@pytest.mark.skipif(os.geteuid() != 0, reason="the fork server starts workers itself only as root")
def test_each_worker_has_a_pid_namespace_of_its_own_and_nothing_else_is_forked_into_one():
    # As root the fork server makes a PID namespace for each worker's sake and forks the worker
    # into it; it must then make its own namespace the one its children join again, or the next
    # child (an intermediate for a stepped-down tier, say) would start inside a live worker's.
    from autograder.sandbox import Limits, Sandbox
    from autograder.sandbox.tiers import UNCONFINED

    def pid_ns(pid: int) -> int:
        return os.stat(f"/proc/{pid}/ns/pid").st_ino

    with Sandbox(Limits(), allow_unconfined=True) as sandbox:
        if sandbox.tier != TIER_NAMESPACES:
            pytest.skip("no namespaces on this machine")
        first, second = sandbox.spawn({"m.py": b"x = 1\n"}), sandbox.spawn({"m.py": b"x = 2\n"})
        sandbox.tier = UNCONFINED  # as a parent that stepped down would ask (through an intermediate)
        third = sandbox.spawn({"m.py": b"x = 3\n"})
        try:
            spaces = [pid_ns(c.pid) for c in (first, second)]
            assert len({*spaces, pid_ns(sandbox.proc.pid)}) == 3
            assert pid_ns(third.pid) == pid_ns(sandbox.proc.pid)  # no namespace asked for: none given
            for conn, space in zip((first, second), spaces, strict=True):
                members = [int(p) for p in os.listdir("/proc") if p.isdigit() and _ns_or_none(int(p)) == space]
                assert members == [conn.pid]
                assert conn.request(("import", "m"), 5.0)[0] == "ok"
        finally:
            for conn in (first, second, third):
                conn.kill()


SCAN_OWN_MEMORY = """
import ctypes
NEEDLE = bytes(reversed(b"NOITULOS-ECILA-TERCESPOT"))  # not in this file as such

def scan():
    hits = 0
    for line in open("/proc/self/maps"):
        parts = line.split()
        if not parts[1].startswith("rw"):
            continue
        lo, hi = (int(x, 16) for x in parts[0].split("-"))
        while lo < hi:
            n = min(1 << 20, hi - lo)
            try:
                chunk = ctypes.string_at(lo, n)
            except Exception:
                break
            i = chunk.find(NEEDLE)
            while i >= 0:  # the needle as Alice's file has it (this module's own copy is not followed by this)
                hits += chunk[i + len(NEEDLE):i + len(NEEDLE) + 10] == TAIL
                i = chunk.find(NEEDLE, i + 1)
            lo += n
    return hits

TAIL = bytes(reversed(b":)x(f fed\\n"))
"""


def test_no_worker_holds_an_earlier_workers_files_in_its_memory():
    # Every worker is a fork of the fork server: whatever the fork server once read, freed or
    # not, is in every later worker's memory. A student's files must reach only their own worker.
    from autograder.sandbox import Limits, Sandbox

    secret = "TOPSECRET-" + "ALICE-SOLUTION"
    with Sandbox(Limits()) as sandbox:
        for size in (100, 3000):
            alice = sandbox.spawn({"alice.py": (f"# {secret}\ndef f(x):\n    return x\n" + "#" * size).encode()})
            assert alice.request(("import", "alice"), 5.0)[0] == "ok"
            alice.kill()
        bob = sandbox.spawn({"bob.py": SCAN_OWN_MEMORY.encode()})
        try:
            assert bob.request(("import", "bob"), 5.0)[0] == "ok"
            reply = bob.request(("call", Ref(0, (("attr", "scan"),)), (), {}), 30.0)
            assert reply[0] == "ok" and reply[3] == 0, reply
        finally:
            bob.kill()


def test_a_worker_cannot_signal_or_renice_the_grading_process_through_its_process_group():
    # kill(0, sig) and setpriority(PRIO_PGRP, 0, ...) reach every process of the caller's group,
    # across PID namespaces; as an ordinary user the grader shares the worker's uid. The
    # worker's own group must hold nothing else.
    import signal

    got: list[int] = []
    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: got.append(signum))
    nice = os.getpriority(os.PRIO_PROCESS, 0)
    source = ("import os, signal\n"
              "def attack():\n"
              "    signal.signal(signal.SIGUSR1, signal.SIG_IGN)\n"
              "    out = []\n"
              "    for act in (lambda: os.kill(0, signal.SIGUSR1), lambda: os.setpriority(os.PRIO_PGRP, 0, 19)):\n"
              "        try:\n"
              "            act()\n"
              "            out.append('done')\n"
              "        except OSError as exc:\n"
              "            out.append(str(exc))\n"
              "    return out\n")
    try:
        sub = submission(source)
        sub.attack().fetch()
        time.sleep(0.2)
        assert got == [] and os.getpriority(os.PRIO_PROCESS, 0) == nice
        assert sub.attack().fetch() is not None  # the fork server still serves
        sub.close()
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_the_fork_server_waits_on_descriptors_of_any_number():
    # select() refuses descriptor numbers from 1024 on; a fork server holding hundreds of
    # workers' descriptors must still wait on all of them.
    import resource
    import signal

    from autograder.sandbox.zygote import Direct

    if os.geteuid() != 0:
        pytest.skip("the fork server starts workers itself only as root")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1600:
        pytest.skip("no room for descriptor 1500")
    previous = signal.getsignal(signal.SIGCHLD)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1600), hard))
    r, w = os.pipe()
    try:
        os.dup2(r, 1500)
        os.write(w, b"x")
        direct = Direct()
        assert direct.wait(1500) == [1500]
        os.close(direct.own_pids)
    finally:
        for fd in (r, w, 1500):
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        signal.signal(signal.SIGCHLD, previous)


def _ns_or_none(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/pid").st_ino
    except OSError:
        return None


def test_missing_module_file_is_an_import_failure():
    sub = Submission(shared_sandbox(), "activations", {"other.py": b""})
    with pytest.raises(ImportFailed, match="no activations.py"):
        sub.sigmoid(np.zeros(1))


def test_printing_and_warnings_never_cost_points(tmp_path):
    source = (ROOT / "solutions" / "activations.py").read_text()
    source = source.replace("import numpy as np\n", "import numpy as np\nimport sys, warnings\n"
                            "print('debug output at import')\nwarnings.warn('a warning at import')\n", 1)
    source = source.replace("    s = sigmoid(z)\n", "    s = sigmoid(z)\n    print('s =', s[:2], file=sys.stderr)\n"
                            "    warnings.warn('noisy')\n", 1)
    result = grade_file("activations", write_submission(tmp_path, "activations", source))
    assert result.score == 100, result.failures_text()
    assert "debug output at import" in result.output


def test_without_namespaces_grading_refuses_unless_opted_in_and_then_says_so(monkeypatch):
    from autograder.sandbox import Sandbox
    from autograder.sandbox.tiers import UNCONFINED, SandboxRefused

    monkeypatch.setenv("DEEPGRADE_NO_NAMESPACES", "1")
    monkeypatch.delenv("DEEPGRADE_UNSAFE_NO_SANDBOX", raising=False)
    with pytest.raises(SandboxRefused) as refused:
        Sandbox()
    if os.geteuid() == 0:  # tier 2, but this checkout's references are readable by other users
        assert "chmod -R o-rwx " in str(refused.value) and f" {ROOT / 'solutions'}" in str(refused.value)
    else:  # tier 3: nothing confines student code
        assert "--unsafe-no-sandbox" in str(refused.value)
    sandbox = Sandbox(allow_unconfined=True)
    try:
        assert sandbox.tier == UNCONFINED and "UNCONFINED" in sandbox.isolation and not sandbox.isolated
        sub = Submission(sandbox, "activations", {"activations.py": (ROOT / "solutions" / "activations.py").read_bytes()})
        assert sub.relu_derivative(np.array([-1.0, 2.0])).fetch().tolist() == [0.0, 1.0]
        probe = Submission(sandbox, "activations", {"activations.py": b"def probe():\n    import solutions\n"})
        with pytest.raises(StudentException, match="ModuleNotFoundError|ImportError"):
            probe.probe()
        loop = Submission(sandbox, "activations", {"activations.py": b"def spin():\n    while True: pass\n"},
                          call_timeout=0.5)
        with pytest.raises(StudentTimeout):
            loop.spin()
        for s in (sub, probe, loop):
            s.close()
    finally:
        sandbox.close()


def test_eager_results_never_hide_later_mutation():
    sub = submission("import numpy as np\nclass Acc:\n    def __init__(self):\n        self.buf = np.zeros(2)\n"
                     "    def add(self, x):\n        self.buf += x\n        return self.buf\n")
    acc = sub.Acc()
    first = acc.add(np.ones(2))
    acc.add(np.ones(2))  # mutates the array `first` refers to
    assert first.fetch().tolist() == [2.0, 2.0]  # fetched now, not when the call returned
    sub.close()


IPC_PROBE = '''
import ctypes
import os

def probe():
    libc = ctypes.CDLL(None, use_errno=True)
    seg = libc.shmget(0xDEE9, 1 << 20, 0o1666)  # IPC_CREAT | 0666
    shm_errno = ctypes.get_errno()
    queue = libc.msgget(0xDEEA, 0o1666)
    with open("/proc/self/ns/ipc") as _:
        pass
    return [int(seg), int(shm_errno), int(queue), os.readlink("/proc/self/ns/ipc")]
'''


def test_system_v_ipc_is_refused_and_private_so_nothing_outlives_a_worker():
    # A segment or queue left by one student would be a channel to the next and memory nobody frees.
    seg, shm_errno, queue, ipc_ns = submission(IPC_PROBE).probe().fetch()
    assert seg == -1 and shm_errno != 0 and queue == -1
    if shared_sandbox().isolated:  # tier 1: the worker's IPC namespace is its own
        assert ipc_ns != os.readlink("/proc/self/ns/ipc")
