"""Hidden graders: SGD (with momentum), RMSProp and Adam trajectories against torch.optim's rules.

Every trajectory check runs the student's optimizer for many steps on several parameter
shapes, feeding each step's output back in (the arrays stay in the worker), and compares
every step with the reference. When an answer goes wrong, the same trajectory is replayed
here with known wrong formulas (no bias correction, eps inside the square root, a step
counter per tensor, state shared by all parameters, ...) to name the mistake.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np
import pytest

from autograder.referee import (
    Answers,
    Mistake,
    answers_by_part,
    apart_on_death,
    died,
    expect_array,
    expect_close,
    fmt,
    fresh,
    frozen,
    summarize,
)
from autograder.sandbox import StudentException, SubmissionError
from solutions import optimizers as ref

SEED = 6_2025
SHAPES = ((3,), (4, 5), (2, 3, 2))
# Gradient scales differ per parameter so that adaptive step sizes and per-parameter state
# matter, and one parameter has small gradients (~1e-3) so that where eps goes matters.
SCALES = (1.0, 1e-3, 20.0)
RTOL, ATOL = 1e-7, 1e-10

Trajectory = list[list[np.ndarray]]  # trajectory[k][i]: parameter i after update k + 1


def make_problem(seed: int, shapes=SHAPES, scales=SCALES, steps: int = 50) -> tuple[list, list]:
    """Initial parameters and a fixed sequence of gradients (one list per step)."""
    rng = np.random.default_rng(seed)
    params = [rng.normal(size=s) for s in shapes]
    grads = [[scale * rng.normal(size=s) for s, scale in zip(shapes, scales, strict=True)] for _ in range(steps)]
    return params, grads


@cache
def problem(seed: int, shapes: tuple = SHAPES, scales: tuple = SCALES, steps: int = 50) -> tuple[list, list]:
    """``make_problem``'s answer, computed once per grading process (read-only)."""
    return frozen(make_problem(seed, shapes, scales, steps))


# ---------------------------------------------------------------------------- trusted replays


def replay(step: Callable[[dict, int, np.ndarray, np.ndarray, int], np.ndarray], params: list,
           grads: list, shared: bool = False, reset: bool = False, t_per_tensor: bool = False) -> Trajectory:
    """Run an update rule ``step(state, i, p, g, t) -> p_new`` over a gradient sequence.

    ``shared``: one state for every parameter (the per-index bug); ``reset``: state thrown
    away after every call (e.g. state keyed by id(param)); ``t_per_tensor``: the step
    counter advances once per tensor instead of once per call.
    """
    states: dict = {}
    t = 0
    out: Trajectory = []
    current = [np.array(p, dtype=float) for p in params]
    with np.errstate(all="ignore"):
        for step_grads in grads:
            if reset:
                states = {}
            if not t_per_tensor:
                t += 1
            new = []
            for i, (p, g) in enumerate(zip(current, step_grads, strict=True)):
                if t_per_tensor:
                    t += 1
                key = 0 if shared else i
                state = states.setdefault(key, {})
                try:
                    new.append(step(state, i, p, np.asarray(g, dtype=float), t))
                except ValueError:  # shared state across different shapes cannot broadcast
                    new.append(np.full_like(p, np.nan))
            current = new
            out.append([p.copy() for p in new])
    return out


def sgd_rule(lr: float, momentum: float, dampening: bool = False, add: bool = False):
    def step(state, i, p, g, t):
        if momentum:
            if "buf" not in state:
                state["buf"] = (1 - momentum) * g if dampening else g.copy()
            else:
                state["buf"] = momentum * state["buf"] + ((1 - momentum) * g if dampening else g)
            g = state["buf"]
        return p + lr * g if add else p - lr * g
    return step


def rmsprop_rule(lr: float, alpha: float, eps: float, eps_inside: bool = False, no_one_minus: bool = False):
    def step(state, i, p, g, t):
        v = state.get("v", np.zeros_like(g))
        v = alpha * v + (1.0 if no_one_minus else 1 - alpha) * g * g
        state["v"] = v
        return p - lr * g / (np.sqrt(v + eps) if eps_inside else np.sqrt(v) + eps)
    return step


def adam_rule(lr: float, b1: float, b2: float, eps: float, bias: bool = True, eps_inside: bool = False,
              t_shift: int = 0, t_fixed: int | None = None, paper_eps: bool = False):
    def step(state, i, p, g, t):
        t = t_fixed if t_fixed is not None else t + t_shift
        m = b1 * state.get("m", np.zeros_like(g)) + (1 - b1) * g
        v = b2 * state.get("v", np.zeros_like(g)) + (1 - b2) * g * g
        state["m"], state["v"] = m, v
        if paper_eps:  # Kingma & Ba's "efficient" form: eps added to sqrt of the uncorrected v
            return p - lr * np.sqrt(1 - b2**t) / (1 - b1**t) * m / (np.sqrt(v) + eps)
        m_hat, v_hat = (m / (1 - b1**t), v / (1 - b2**t)) if bias else (m, v)
        return p - lr * m_hat / (np.sqrt(v_hat + eps) if eps_inside else np.sqrt(v_hat) + eps)
    return step


def reference_trajectory(cls: type, kwargs: dict, params: list, grads: list) -> Trajectory:
    opt = cls(**kwargs)
    out, current = [], [p.copy() for p in params]
    for step_grads in grads:
        current = opt.update(current, step_grads)
        out.append([p.copy() for p in current])
    return out


def adam_misconceptions(kw: dict, params: list, grads: list) -> dict[str, Trajectory]:
    lr, b1, b2, eps = kw["lr"], kw["beta1"], kw["beta2"], kw["eps"]
    return {
        "left out bias correction: Adam divides m by (1 - beta1**t) and v by (1 - beta2**t); without it "
        "the first steps are far too large (m and v start at 0)": replay(adam_rule(lr, b1, b2, eps, bias=False), params, grads),
        "advanced the step counter once per parameter tensor; t counts update calls (once per update, for "
        "all parameters)": replay(adam_rule(lr, b1, b2, eps), params, grads, t_per_tensor=True),
        "used t = 0 on the first step (increment the counter before computing the bias correction, so the "
        "first step uses t = 1; 1 - beta**0 = 0 divides by zero)": replay(adam_rule(lr, b1, b2, eps, t_shift=-1), params, grads),
        "never advanced the step counter (t stuck at 1)": replay(adam_rule(lr, b1, b2, eps, t_fixed=1), params, grads),
        "put eps inside the square root, sqrt(v_hat + eps); torch.optim.Adam uses sqrt(v_hat) + eps":
            replay(adam_rule(lr, b1, b2, eps, eps_inside=True), params, grads),
        "used the paper's 'efficient' form with eps added to sqrt of the uncorrected v; torch.optim.Adam adds "
        "eps to sqrt(v_hat)": replay(adam_rule(lr, b1, b2, eps, paper_eps=True), params, grads),
        "kept one m and one v for all parameters; state must be per parameter index":
            replay(adam_rule(lr, b1, b2, eps), params, grads, shared=True),
        "lost the state between calls (m and v start from zero on every update: keyed by id(param)?)":
            replay(adam_rule(lr, b1, b2, eps), params, grads, reset=True),
    }


def sgd_misconceptions(kw: dict, params: list, grads: list) -> dict[str, Trajectory]:
    lr, mu = kw["lr"], kw.get("momentum", 0.0)
    found = {
        "added the gradient (p + lr*g): gradient descent steps against the gradient":
            replay(sgd_rule(lr, mu, add=True), params, grads),
    }
    if mu:
        found.update({
            "damped the gradient, buf = momentum*buf + (1 - momentum)*g; torch.optim.SGD uses "
            "buf = momentum*buf + g (and buf = g on the first step)": replay(sgd_rule(lr, mu, dampening=True), params, grads),
            "kept one momentum buffer for all parameters; each parameter index needs its own buffer":
                replay(sgd_rule(lr, mu), params, grads, shared=True),
            "lost the momentum buffer between calls (it must persist from one update to the next)":
                replay(sgd_rule(lr, mu), params, grads, reset=True),
        })
    return found


def rmsprop_misconceptions(kw: dict, params: list, grads: list) -> dict[str, Trajectory]:
    lr, a, eps = kw["lr"], kw["alpha"], kw["eps"]
    return {
        "put eps inside the square root, sqrt(v + eps); torch.optim.RMSprop uses sqrt(v) + eps":
            replay(rmsprop_rule(lr, a, eps, eps_inside=True), params, grads),
        "forgot the (1 - alpha) factor: v = alpha*v + (1 - alpha)*g**2":
            replay(rmsprop_rule(lr, a, eps, no_one_minus=True), params, grads),
        "kept one running average for all parameters; each parameter index needs its own":
            replay(rmsprop_rule(lr, a, eps), params, grads, shared=True),
        "lost the running average between calls (it must persist from one update to the next)":
            replay(rmsprop_rule(lr, a, eps), params, grads, reset=True),
    }


# ---------------------------------------------------------------------------- judging


def expect_param_list(got, like: list, name: str) -> list[np.ndarray]:
    """``got`` is a list of float arrays with the shapes of ``like``."""
    if type(got) not in (list, tuple) or len(got) != len(like):
        raise Mistake(f"{name} should return a list of {len(like)} arrays (one per parameter), "
                      f"but it returned {summarize(got)}.")
    return [expect_array(g, name=f"{name}[{i}]", shape=p.shape) for i, (g, p) in enumerate(zip(got, like, strict=True))]


def call_label(cls: str, kwargs: dict) -> str:
    return f"{cls}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"


def telling(replays: dict[str, Trajectory], k: int, i: int, want: np.ndarray) -> dict[str, np.ndarray]:
    """The wrong formulas whose value at (update k, parameter i) differs from the right one.

    A mistake that has not shown yet (t stuck at 1 is right on the first step) cannot explain
    a wrong answer there, so it must not be named.
    """
    with np.errstate(all="ignore"):
        return {text: traj[k][i] for text, traj in replays.items()
                if not np.allclose(traj[k][i], want, rtol=1e-6, atol=1e-9, equal_nan=True)}


@cache
def expected(cls: str, kwargs: tuple, key: tuple) -> tuple[Trajectory, list[np.ndarray]]:
    """The reference trajectory of ``cls(**dict(kwargs))`` on ``problem(*key)``, and the same
    stacked per parameter (shape (steps, *parameter shape)), computed once per grading process."""
    params, grads = problem(*key)
    want = reference_trajectory(getattr(ref, cls), dict(kwargs), params, grads)
    stacked = [np.stack([step[i] for step in want]) for i in range(len(params))]
    return frozen(want), frozen(stacked)


@cache
def mistaken(mistakes: Callable[[dict, list, list], dict[str, Trajectory]], kwargs: tuple,
             key: tuple) -> dict[str, Trajectory]:
    """``mistakes``' replays on ``problem(*key)``, computed once per grading process."""
    return frozen(mistakes(dict(kwargs), *problem(*key)))


def all_close(values: list, stacked: list[np.ndarray], params: list) -> bool:
    """Every fetched step is a list of float arrays of the right shapes, each close to the
    reference: the whole trajectory compared at once. True only when the step-by-step judging
    would pass every step; anything else (False) is left to it, for its message."""
    if not stacked or len(values) != len(stacked[0]):
        return False
    n = len(params)
    if any(type(v) not in (list, tuple) or len(v) != n for v in values):
        return False
    for i, (p, want) in enumerate(zip(params, stacked, strict=True)):
        column = [v[i] for v in values]
        if any(type(a) is not np.ndarray or a.dtype.kind != "f" or a.shape != p.shape for a in column):
            return False
        with np.errstate(invalid="ignore", over="ignore"):
            # np.isclose's test for finite values; NaN or inf anywhere fails it, and the slow path decides
            if not bool(np.all(np.abs(np.stack(column) - want) <= ATOL + RTOL * np.abs(want))):
                return False
    return True


def check_trajectory(submission, cls: str, kwargs: dict, key: tuple = (SEED,),
                     mistakes: Callable[[dict, list, list], dict[str, Trajectory]] | None = None,
                     hint: str | None = None, every: int = 1, apart: bool = False) -> None:
    """Run the student's optimizer over the gradient sequence ``problem(*key)`` and compare every step.

    Each update's output is fed to the next update inside the worker, all in one pipeline.
    Every output is fetched (a snapshot at its step) and every ``every``-th is judged; when a
    judged step is wrong, the steps since the last good one are judged too, so the message
    names the first bad step. ``apart``: the optimizer is built by a request of its own (see
    ``trajectory_pipeline``).
    """
    params, grads = problem(*key)
    want, stacked = expected(cls, tuple(kwargs.items()), key)
    label = call_label(cls, kwargs)
    shapes = ", ".join(str(p.shape) for p in params)

    replays: dict[str, Trajectory] = {}

    def judge(k: int, value) -> bool:
        got = expect_param_list(value, params, f"{cls}.update")
        for i, (g, w) in enumerate(zip(got, want[k], strict=True)):
            try:
                if not np.allclose(g, w, rtol=RTOL, atol=ATOL) and mistakes and not replays:
                    replays.update(mistaken(mistakes, tuple(kwargs.items()), key))  # replayed only when needed
                expect_close(g, w, name=f"params[{i}] (shape {w.shape})", rtol=RTOL, atol=ATOL,
                             misconceptions=telling(replays, k, i, w), hint=hint)
            except Mistake as exc:
                raise Mistake(f"{label} on parameters of shapes {shapes}, after update {k + 1} of {len(grads)} "
                              f"(each update fed the previous one's output): {exc}") from None
        return True

    # The whole trajectory, the optimizer's construction included, is one pipeline (one round
    # trip), every step fetched; it is judged afterwards in the order the steps ran, as if each
    # had been fetched on its own.
    try:
        values = trajectory_pipeline(submission, cls, kwargs, params, grads, apart=apart).run()
    except StudentException as exc:
        judge_all(exc.fetched or [], every, len(grads), judge)  # a wrong step before the failure comes first
        if exc.step != 0 and exc.exc_type == "ValueError" and "broadcast" in exc.message:  # step 0: cls(...)
            raise Mistake(f"{label}.update raised ValueError ({exc.message}) on parameters of shapes {shapes}. "
                          "Looks like you kept one state array for all parameters; each parameter index "
                          "needs its own (e.g. a dict keyed by i).") from None
        raise
    except SubmissionError as exc:
        if died(exc) and not apart:
            return check_trajectory(submission, cls, kwargs, key, mistakes, hint, every, apart=True)
        judge_all(exc.fetched or [], every, len(grads), judge)
        raise
    if not all_close(values, stacked, params):  # the whole trajectory at once; step by step only for the message
        judge_all(values, every, len(grads), judge)


def judge_all(values: list, every: int, steps: int, judge: Callable[[int, object], bool]) -> None:
    """Judge every ``every``-th step's output (and the last); at a wrong one, judge the steps
    since the last good one too, so the message names the first wrong step."""
    checked = 0
    for k, value in enumerate(values):
        if (k + 1) % every and k + 1 < steps:
            continue
        try:
            judge(k, value)
        except Mistake:
            for j in range(checked, k):
                judge(j, values[j])
            raise
        checked = k + 1


# ---------------------------------------------------------------------------- SGD


@pytest.mark.points(8)
@pytest.mark.visibility("visible")
def test_sgd_trajectory(submission):
    """SGD without momentum: 50-step trajectory on shapes (3,), (4,5), (2,3,2)"""
    kw = {"lr": 0.05}
    check_trajectory(submission, "SGD", kw, (SEED,), sgd_misconceptions,
                     hint="plain SGD is p_new = p - lr * g")


@pytest.mark.points(12)
@pytest.mark.visibility("visible")
def test_sgd_momentum_trajectory(submission):
    """SGD with momentum=0.9 matches torch.optim.SGD over 50 steps"""
    kw = {"lr": 0.02, "momentum": 0.9}
    check_trajectory(submission, "SGD", kw, (SEED + 1,), sgd_misconceptions,
                     hint="torch.optim.SGD: buf = g on the first step, then buf = momentum*buf + g; p -= lr*buf")


# ---------------------------------------------------------------------------- RMSProp


@pytest.mark.points(12)
@pytest.mark.visibility("visible")
def test_rmsprop_trajectory(submission):
    """RMSProp(alpha=0.9) matches torch.optim.RMSprop over 50 steps"""
    kw = {"lr": 0.01, "alpha": 0.9, "eps": 1e-8}
    check_trajectory(submission, "RMSProp", kw, (SEED + 2,), rmsprop_misconceptions,
                     hint="v = alpha*v + (1 - alpha)*g**2 (v starts at 0); p -= lr*g/(sqrt(v) + eps)")


# ---------------------------------------------------------------------------- Adam


@cache
def first_step() -> tuple[list, list, dict[str, Trajectory], list[np.ndarray]]:
    """Adam's first-step problem: parameters, gradients, the wrong formulas' answers and the
    reference's, computed once per grading process."""
    g = [np.array([3.0, -0.2, 1e-3, -50.0, 1e-4]), np.array([[1e2, -1e-2], [0.5, -7.0]])]
    params = [np.linspace(-1, 1, 5), np.array([[0.5, -0.5], [2.0, 1.0]])]
    kw = {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
    wrong = adam_misconceptions(kw, params, [g])
    wrong["used a default learning rate other than lr=1e-3 (keep the signature's defaults)"] = [
        [p - 1e-2 * np.sign(gi) for p, gi in zip(params, g, strict=True)]]
    want = [ref.Adam().update([p], [gi])[0] for p, gi in zip(params, g, strict=True)]
    return frozen((params, g, wrong, want))


@pytest.mark.points(10)
@pytest.mark.visibility("visible")
def test_adam_first_step(submission):
    """Adam() first step moves every coordinate by about lr = 1e-3 (bias correction)"""
    params, g, wrong, wants = first_step()

    def first(apart: bool):
        pipe = submission.pipeline()  # Adam() and its first update: one round trip
        pipe.fetch(pipe.call(build(submission, pipe, "Adam", {}, apart).update, fresh(params), fresh(g)))
        return Answers(pipe, on_death=not apart).next()

    got = expect_param_list(apart_on_death(first), params, "Adam().update")
    for i, (got_i, p, want) in enumerate(zip(got, params, wants, strict=True)):
        step = got_i - p
        try:
            expect_close(got_i, want, name=f"params[{i}] after the first step", rtol=1e-9, atol=1e-12,
                         misconceptions=telling(wrong, 0, i, want))
        except Mistake as exc:
            size = fmt(float(np.max(np.abs(step)))) if np.all(np.isfinite(step)) else "NaN"
            raise Mistake(f"{exc}\nThe largest coordinate of your first step is {size}; with bias correction "
                          "m_hat = g and v_hat = g**2 on step 1, so each coordinate moves by lr*g/(|g| + eps), "
                          "about lr = 0.001 whatever the size of g.") from None


@pytest.mark.points(15)
@pytest.mark.visibility("visible")
def test_adam_trajectory(submission):
    """Adam(lr=0.01, beta1=0.8, beta2=0.99) matches torch.optim.Adam over 50 steps"""
    kw = {"lr": 0.01, "beta1": 0.8, "beta2": 0.99, "eps": 1e-8}
    check_trajectory(submission, "Adam", kw, (SEED + 3,), adam_misconceptions,
                     hint="m_hat = m/(1 - beta1**t), v_hat = v/(1 - beta2**t), p -= lr*m_hat/(sqrt(v_hat) + eps), "
                          "with t = 1, 2, 3, ... counting update calls")


@pytest.mark.points(8)
@pytest.mark.visibility("hidden")
def test_adam_step_counter(submission):
    """Adam keeps one step counter per optimizer, advanced once per update (6 tensors, 12 steps)"""
    # eps=0 (safe: the gradients are never zero) so that only the step counter matters here
    kw = {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 0.0}
    shapes = ((2,), (3,), (2, 2), (1,), (5,), (2, 1))
    check_trajectory(submission, "Adam", kw, (SEED + 4, shapes, (1.0,) * len(shapes), 12), adam_misconceptions,
                     hint="increment t once at the start of update(), before the loop over parameters")


@pytest.mark.points(8)
@pytest.mark.visibility("after_due_date")
def test_adam_eps_placement(submission):
    """Adam adds eps outside the square root (gradients of size 1e-9 to 1e-6)"""
    kw = {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
    check_trajectory(submission, "Adam", kw, (SEED + 5, ((6,), (3, 2)), (1e-6, 1e-9), 10), adam_misconceptions,
                     hint="with gradients near eps, sqrt(v_hat) + eps and sqrt(v_hat + eps) differ a lot: "
                          "torch.optim.Adam divides by sqrt(v_hat) + eps")


# ---------------------------------------------------------------------------- all three


def optimizer_cases() -> list[tuple[str, dict, Callable]]:
    return [
        ("SGD", {"lr": 0.05, "momentum": 0.9}, sgd_misconceptions),
        ("RMSProp", {"lr": 0.01, "alpha": 0.99, "eps": 1e-8}, rmsprop_misconceptions),
        ("Adam", {"lr": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}, adam_misconceptions),
    ]


def build(submission, pipe, cls: str, kw: dict, apart: bool):
    """``cls(**kw)``: recorded in ``pipe``, or with ``apart`` built now by a request of its own.

    Built inside the pipeline saves a round trip, but a worker that dies in the pipeline is then
    named "SGD(...) or SGD.update(...)"; checks run again with ``apart`` to name update alone,
    as one request per call did (``apart_on_death``)."""
    return getattr(submission, cls)(**kw) if apart else pipe.call(getattr(submission, cls), **kw)


def trajectory_pipeline(submission, cls: str, kw: dict, params: list, grads: list, pipe=None,
                        apart: bool = False):
    """``cls(**kw)`` (the first operation, see ``build``), then its ``update`` over ``grads``, each
    step's output fed to the next and fetched: recorded in ``pipe`` (default: a new pipeline, one
    round trip)."""
    pipe = pipe if pipe is not None else submission.pipeline()
    opt = build(submission, pipe, cls, kw, apart)
    current = pipe.put(fresh(params))
    sent = pipe.put(fresh(grads))  # one transfer; each step's list is used by its update only
    for k in range(len(grads)):
        current = pipe.call(opt.update, current, sent[k])
        pipe.fetch(current)
    return pipe


def student_trajectory(answers: Answers, cls: str, params: list, steps: int) -> Trajectory:
    """The next ``steps`` answers of a recorded ``trajectory_pipeline``, each checked for layout
    (the pipeline's failure is raised after the steps before it are checked)."""
    return [expect_param_list(answers.next(), params, f"{cls}.update") for _ in range(steps)]


def leaking_parameter(together: Trajectory, alone: list[Trajectory]) -> tuple[int, int] | None:
    """(update, parameter) where a joint trajectory first differs from the parameter's solo one."""
    for k, joint in enumerate(together):
        for i, p in enumerate(joint):
            if not np.allclose(p, alone[i][k][0], rtol=RTOL, atol=ATOL, equal_nan=True):
                return k, i
    return None


@pytest.mark.points(10)
@pytest.mark.visibility("hidden")
@pytest.mark.requires("sgd_momentum_trajectory", "rmsprop_trajectory")
def test_state_per_parameter(submission):
    """SGD momentum and RMSProp keep separate state for two parameters of the same shape"""
    rng = np.random.default_rng(SEED + 6)
    params = [rng.normal(size=4), rng.normal(size=4)]
    # very different gradient streams, so mixing their state shows
    grads = [[rng.normal(size=4), 100.0 * rng.normal(size=4) + 50.0] for _ in range(8)]
    cases = [("SGD", {"lr": 0.05, "momentum": 0.9}), ("RMSProp", {"lr": 0.01, "alpha": 0.99, "eps": 1e-8})]
    def runs(pipe, case: tuple, apart: bool) -> None:
        cls, kw = case
        trajectory_pipeline(submission, cls, kw, params, grads, pipe, apart)
        for i in range(2):
            trajectory_pipeline(submission, cls, kw, [params[i]], [[g[i]] for g in grads], pipe, apart)

    # Judged against the student's own formula: each parameter optimized alone must follow the
    # same path as when optimized together with the other one. The six runs are one pipeline,
    # judged in the order they ran.
    for (cls, kw), answers in zip(cases, answers_by_part(submission, cases, runs), strict=True):
        together = student_trajectory(answers, cls, params, len(grads))
        alone = [student_trajectory(answers, cls, [params[i]], len(grads)) for i in range(2)]
        found = leaking_parameter(together, alone)
        if found is None:
            continue
        k, i = found
        both, single = together[k][i], alone[i][k][0]
        raise Mistake(
            f"{call_label(cls, kw)} on two parameters of shape (4,): after update {k + 1}, params[{i}] is "
            f"{fmt(both)}, but the same optimizer run on params[{i}] alone (same gradients) gives {fmt(single)}. "
            "The other parameter's gradients leaked into this one's update. Looks like you kept one state "
            "buffer for all parameters (or one per shape); each parameter index needs its own, e.g. self.state[i].")


@pytest.mark.points(9)
@pytest.mark.visibility("visible")
@pytest.mark.requires("sgd_trajectory", "sgd_momentum_trajectory", "rmsprop_trajectory", "adam_trajectory")
def test_inputs_not_mutated(submission):
    """update returns new arrays, never modifies params or grads, and keeps its own copy of state"""
    rng = np.random.default_rng(SEED + 7)
    params = [rng.normal(size=(3, 2)), rng.normal(size=4)]
    grads1 = [rng.normal(size=(3, 2)), rng.normal(size=4)]
    grads2 = [rng.normal(size=(3, 2)), rng.normal(size=4)]

    def record(pipe, case: tuple, apart: bool) -> None:
        # Every value sent is a copy of its own: values sent twice in one pipeline would arrive
        # as one object, where separate requests gave separate ones.
        cls, kw, _ = case
        opt = build(submission, pipe, cls, kw, apart)  # two updates, then the result and the three inputs
        p_h, g1_h, g2_h = pipe.put(fresh(params)), pipe.put(fresh(grads1)), pipe.put(fresh(grads2))
        out2 = pipe.call(opt.update, pipe.call(opt.update, p_h, g1_h), g2_h)
        for handle in (out2, p_h, g1_h, g2_h):
            pipe.fetch(handle)
        p2 = pipe.put(fresh(params))  # the returned arrays are new: writing into the input leaves them alone
        out3 = pipe.call(build(submission, pipe, cls, kw, apart).update, p2, fresh(grads1))
        pipe.fetch(out3)
        pipe.assign(p2[0], np.full(params[0].shape, 123.0))
        pipe.fetch(out3)
        trajectory_pipeline(submission, cls, kw, params, [grads1, grads2], pipe, apart)  # fresh gradient arrays
        reuser = build(submission, pipe, cls, kw, apart)  # one gradient buffer, reused
        g_h = pipe.put(fresh(grads1))
        current = pipe.call(reuser.update, pipe.put(fresh(params)), g_h)
        for i, g in enumerate(grads2):
            pipe.assign(g_h[i], fresh(g))
        pipe.fetch(pipe.call(reuser.update, current, g_h))

    # Everything this check does to the three optimizer classes is one pipeline (one round trip),
    # judged afterwards in the order it ran, as if each value had been fetched on its own.
    cases = optimizer_cases()
    for (cls, kw, _), answers in zip(cases, answers_by_part(submission, cases, record), strict=True):
        label = call_label(cls, kw)
        out2_value, *inputs = answers.take(4)
        expect_param_list(out2_value, params, f"{cls}.update")
        for name, value, original in (("params", inputs[0], params), ("grads (first call)", inputs[1], grads1),
                                      ("grads (second call)", inputs[2], grads2)):
            now = expect_param_list(value, original, f"the {name} list after update")
            for i, (a, b) in enumerate(zip(now, original, strict=True)):
                if not np.array_equal(a, b):
                    what = ("update changed the parameter arrays in place (p -= ... on the caller's array); "
                            "compute p_new = p - step and return it" if name == "params" else
                            "update changed a gradient array in place: a state buffer that is the caller's "
                            "gradient array (buf = g without .copy(), then buf *= momentum) writes into it")
                    raise Mistake(f"{label}: {name}[{i}] was modified by update. Looks like {what}.")
        # the returned arrays must be new: writing into the input must not change them
        before = expect_param_list(answers.next(), params, f"{cls}.update")
        after = expect_param_list(answers.next(), params, f"{cls}.update")
        if not np.array_equal(before[0], after[0], equal_nan=True):
            raise Mistake(f"{label}: the array update returned shares memory with the params array passed in "
                          "(it changed when the caller changed the input). Return new arrays, not the inputs.")
        # A training loop may reuse one gradient buffer (grad[...] = new values) between steps: state kept
        # by reference to the caller's gradient would change with it. Judged against the student's own
        # trajectory with fresh gradient arrays.
        separate = student_trajectory(answers, cls, params, 2)[-1]
        reused = expect_param_list(answers.next(), params, f"{cls}.update")
        for i, (a, b) in enumerate(zip(reused, separate, strict=True)):
            if not np.allclose(a, b, rtol=1e-12, atol=1e-15, equal_nan=True):
                raise Mistake(f"{label}: when the caller reuses its gradient arrays (writing the second step's "
                              f"gradients into the same arrays), params[{i}] after two updates is {fmt(a)} instead "
                              f"of {fmt(b)}. Looks like the optimizer's state is the caller's gradient array itself "
                              "(buf = g without .copy()); keep your own copy of anything you store.")


@pytest.mark.points(8)
@pytest.mark.visibility("visible")
@pytest.mark.requires("sgd_trajectory", "sgd_momentum_trajectory", "rmsprop_trajectory", "adam_trajectory")
def test_zero_gradients(submission):
    """zero gradients leave parameters unchanged (no NaN from 0/0) for all three optimizers"""
    params = [np.array([1.5, -2.0, 0.25]), np.full((2, 2), -3.0)]
    zeros = [np.zeros(3), np.zeros((2, 2))]
    cases = optimizer_cases()
    # the three optimizers and both updates of each in one round trip, judged one after the other
    by_class = answers_by_part(submission, cases, lambda pipe, case, apart: trajectory_pipeline(
        submission, case[0], case[1], params, [zeros, zeros], pipe, apart))
    for (cls, kw, _), answers in zip(cases, by_class, strict=True):
        label = call_label(cls, kw)
        for k in range(2):
            got = expect_param_list(answers.next(), params, f"{cls}.update")
            for i, (g, p) in enumerate(zip(got, params, strict=True)):
                if not np.all(np.isfinite(g)):
                    raise Mistake(f"{label}: after {k + 1} update(s) with all-zero gradients, params[{i}] contains "
                                  f"NaN or inf ({fmt(g)}). Looks like a 0/0: eps belongs in the denominator, "
                                  "sqrt(v_hat) + eps, and Adam's t must be at least 1 before 1 - beta**t.")
                expect_close(g, p, name=f"{label}: params[{i}] after {k + 1} update(s) with zero gradients",
                             rtol=0.0, atol=1e-12, hint="with g = 0 every optimizer's step is exactly 0")
