"""Hidden graders: early stopping, L2, inverted dropout, and the V/H capstone.

Early stopping is driven step by step with loss sequences whose right answers differ from
the usual mistakes (patience off by one, min_delta ignored, comparing with the previous
epoch instead of the best); copy semantics are checked by writing into the caller's
arrays inside the worker. Dropout is judged structurally and statistically, since the
student's random stream need not match ours. The capstone is trained on fresh V/H data
and judged on held-out data the grader generates.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from autograder.graders.vh_data import generate_line_dataset
from autograder.referee import (
    Answers,
    Mistake,
    apart_on_death,
    expect_array,
    expect_close,
    expect_equal,
    expect_scalar,
    fmt,
    fresh,
    frozen,
    summarize,
)
from autograder.sandbox import SubmissionError
from solutions import regularization as ref

SEED = 7_2025


# ---------------------------------------------------------------------------- early stopping


def step_weights(k: int) -> list[np.ndarray]:
    """Distinct, recognizable weights for epoch k."""
    return [np.full(3, float(k)), np.full((2, 2), -float(k) - 0.5)]


def simulate(losses: list[float], patience: int, min_delta: float = 0.0, mistake: str = "") -> tuple:
    """(index of the first True, [best_loss after each step], [best_epoch after each step]) for the
    reference rule, or for the rule with a known mistake."""
    best, best_epoch, wait, previous = math.inf, -1, 0, math.inf
    stop, bests, epochs = None, [], []
    for k, loss in enumerate(losses):
        if mistake == "equal_improves":
            improved = loss <= best - min_delta
        elif mistake == "ignore_delta":
            improved = loss < best
        elif mistake == "vs_previous":
            improved = loss < previous - min_delta
        elif mistake == "delta_wrong_sign":
            improved = loss < best + min_delta
        else:
            improved = loss < best - min_delta
        if mistake == "track_min" and loss < best:  # best_loss follows every decrease, the counter does not
            best, best_epoch = loss, k
            wait = 0 if improved else wait + 1
        elif improved:
            best, best_epoch, wait = loss, k, 0
        else:
            wait += 1
        previous = loss
        bests.append(best)
        epochs.append(best_epoch)
        done = wait > patience if mistake == "late" else wait >= patience - (mistake == "early")
        if done and stop is None:
            stop = k
    return stop, bests, epochs


ES_MISTAKES = {
    "late": "counted patience off by one (stopping after patience + 1 steps without improvement: use "
            "`>= patience`, not `> patience`)",
    "early": "counted patience off by one (stopping after patience - 1 steps without improvement)",
    "vs_previous": "compared each loss with the previous epoch's loss instead of the best loss so far",
    "ignore_delta": "ignored min_delta (an improvement must beat best_loss - min_delta)",
    "delta_wrong_sign": "used best_loss + min_delta; an improvement is val_loss < best_loss - min_delta",
    "track_min": "updated best_loss on every decrease, even ones smaller than min_delta",
    "equal_improves": "counted a loss equal to the best as an improvement; the comparison is strict, "
                      "val_loss < best_loss - min_delta, so a plateau of equal losses runs out the patience",
}


def call_text(kwargs: dict) -> str:
    return f"EarlyStopping({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"


def stopper(submission, pipe, kwargs: dict, apart: bool):
    """``EarlyStopping(**kwargs)``: recorded in ``pipe``, or with ``apart`` built now by a request of
    its own. Built inside the pipeline saves a round trip, but a worker that dies in the pipeline
    is then named "EarlyStopping(...) or EarlyStopping.step(...)"; checks run again with ``apart``
    to name step alone, as one request per call did (``apart_on_death``)."""
    return submission.EarlyStopping(**kwargs) if apart else pipe.call(submission.EarlyStopping, **kwargs)


@dataclass
class Run:
    """One early-stopping run of a check: the operations it records in a pipeline, and how its
    answers are judged: ``judge(values, failed)`` gets the values its fetches got and the
    pipeline's failure when it happened inside this run (else None), and returns what the check
    needs (or raises the Mistake or the failure)."""

    record: Callable[[object, object, bool], None]  # (submission, pipe, apart)
    judge: Callable[[list, SubmissionError | None], object]


def run_all(submission, runs: list[Run]) -> list:
    """Every run in one pipeline (one round trip), judged in turn; the judges' results.

    A run that accepts a failure inside it (``steps_run``: after the first True, where one call
    at a time would have stopped) leaves the runs after it unrun: they get a pipeline of their own.
    """

    def record(apart: bool) -> tuple[list, Answers]:
        pipe = submission.pipeline()
        bounds = []
        for run in runs:
            first_op, first_fetch = len(pipe.ops), len(pipe.fetches)
            run.record(submission, pipe, apart)
            bounds.append((first_op, len(pipe.ops), first_fetch, len(pipe.fetches)))
        return bounds, Answers(pipe, on_death=not apart)

    bounds, answers = apart_on_death(record)
    values, failed = answers.values, answers.failed
    failed_at = None if failed is None else (failed.step or 0)  # no step: nothing ran
    results = []
    for i, (run, (first_op, end_op, first_fetch, end_fetch)) in enumerate(zip(runs, bounds, strict=True)):
        inside = failed_at is not None and first_op <= failed_at < end_op
        results.append(run.judge(values[first_fetch:end_fetch], failed if inside else None))
        if inside:  # accepted by the judge: the runs after this one never ran
            return results + (run_all(submission, runs[i + 1:]) if i + 1 < len(runs) else [])
    return results


def steps_run(kwargs: dict, losses: list[float], until_true: bool = True) -> Run:
    """EarlyStopping(**kwargs), then step() for each loss; judged to the list of values returned
    (until the first True with ``until_true``).

    With ``until_true`` the answers after the first True are not looked at, and a failure after
    it does not count: those calls would not have been made one by one.
    """

    def record(submission, pipe, apart: bool) -> None:
        es = stopper(submission, pipe, kwargs, apart)
        for k, loss in enumerate(losses):
            pipe.fetch(pipe.call(es.step, loss, step_weights(k)))

    def judge(values: list, failed: SubmissionError | None) -> list[bool]:
        returned = []
        for got in values:
            if not isinstance(got, (bool, np.bool_)):
                raise Mistake(f"EarlyStopping.step should return True or False, but it returned {summarize(got)}.")
            returned.append(bool(got))
            if got and until_true:
                return returned
        if failed is not None:
            raise failed
        return returned

    return Run(record, judge)


def stop_index_run(kwargs: dict, losses: list[float]) -> Run:
    """step() returns False until the reference stops, then True (patience counting)."""
    patience, min_delta = kwargs.get("patience", 5), kwargs.get("min_delta", 0.0)
    steps = steps_run(kwargs, losses)

    def judge(values: list, failed: SubmissionError | None) -> None:
        want, _, epochs = simulate(losses, patience, min_delta)
        returned = steps.judge(values, failed)
        if returned == [False] * want + [True]:
            return
        got = returned.index(True) if True in returned else None
        text = (f"{call_text(kwargs)} with validation losses {losses}: step should first return True at step "
                f"index {want} ({patience} step(s) without improvement after the best at index {epochs[want]}), "
                "but yours " + (f"returned True first at index {got}." if got is not None else "never returned True."))
        mistake = next((label for key, label in ES_MISTAKES.items()
                        if simulate(losses, patience, min_delta, key)[0] == got), None)
        raise Mistake(text + (f"\nLooks like you {mistake}." if mistake else ""))

    return Run(steps.record, judge)


def best_trace_run(kwargs: dict, losses: list[float], epochs_too: bool = False, best_weights: bool = False) -> Run:
    """best_loss (and best_epoch) after every step: the improvement decisions. With ``best_weights``,
    judged to the stopper's best_weights after the last step (fetched in the same round trip)."""
    patience, min_delta = kwargs.get("patience", 5), kwargs.get("min_delta", 0.0)

    def record(submission, pipe, apart: bool) -> None:
        # after each step, its answer, best_loss and best_epoch are fetched (snapshots), then
        # judged in that order, as if each had been fetched on its own
        es = stopper(submission, pipe, kwargs, apart)
        for k, loss in enumerate(losses):
            pipe.fetch(pipe.call(es.step, loss, step_weights(k)))
            pipe.fetch(es.best_loss)
            if epochs_too:
                pipe.fetch(es.best_epoch)
        if best_weights:
            pipe.fetch(es.best_weights)

    def judge(values: list, failed: SubmissionError | None) -> object:
        _, bests, epochs = simulate(losses, patience, min_delta)
        per_step = 3 if epochs_too else 2
        for k, loss in enumerate(losses):
            got = values[k * per_step + 1: (k + 1) * per_step]
            where = f"{call_text(kwargs)} after step({loss}) with the losses so far {losses[:k + 1]}"
            wrong = {label: simulate(losses, patience, min_delta, key)[1][k] for key, label in ES_MISTAKES.items()}
            if not got:
                break  # the pipeline stopped before this step's best_loss
            expect_scalar(got[0], bests[k], name=f"{where}: best_loss", rtol=1e-12, atol=1e-15,
                          misconceptions=wrong)
            if not epochs_too or len(got) < 2:
                continue
            expect_equal(got[1], epochs[k], name=f"{where}: best_epoch",
                         hint="best_epoch is the 0-based index of the step() call that set best_loss",
                         misconceptions={"counted epochs from 1 instead of 0": epochs[k] + 1,
                                         "set best_epoch to the latest step instead of the best one": k})
        if failed is not None:
            raise failed
        return values[-1] if best_weights else None

    return Run(record, judge)


@pytest.mark.points(8)
@pytest.mark.visibility("visible")
def test_early_stopping_sequence(submission):
    """EarlyStopping stops at the right step (also on a plateau and after a stop) and tracks best_loss and best_epoch"""
    losses = [0.9, 0.7, 0.6, 0.62, 0.55, 0.58, 0.6, 0.57, 0.65, 0.5]
    plateau = [0.8, 0.8, 0.8, 0.8, 0.8]  # equal losses are not improvements
    # a loop that keeps calling step after the first True: the count goes on, and an improvement resets it
    after = [0.9, 0.95, 0.97, 0.99, 0.5, 0.6]
    *_, returned = run_all(submission, [  # five runs, one round trip, judged in turn
        stop_index_run({"patience": 3}, losses), best_trace_run({"patience": 3}, losses[:8], epochs_too=True),
        stop_index_run({"patience": 2}, plateau), best_trace_run({"patience": 2}, plateau, epochs_too=True),
        steps_run({"patience": 2}, after, until_true=False)])
    losses = after
    expected = [bool(r) for r in map(ref.EarlyStopping(patience=2).step, losses, map(step_weights, range(6)))]
    if returned != expected:
        raise Mistake(f"EarlyStopping(patience=2) called on every one of the losses {losses}, also after it first "
                      f"said stop, should return {expected}, but yours returned {returned}. step keeps counting "
                      "the steps without improvement after it first returns True (True again while there is no "
                      "improvement), and an improvement resets the count to 0.")


@pytest.mark.points(8)
@pytest.mark.visibility("visible")
def test_early_stopping_patience_boundary(submission):
    """step returns True exactly when `patience` steps in a row pass without improvement (patience 1, 2, 4)"""
    run_all(submission, [stop_index_run({"patience": patience},  # one round trip, judged in turn
                                        [1.0, 0.5] + [0.6 + 0.01 * i for i in range(patience + 1)] + [0.3])
                         for patience in (1, 2, 4)])


@pytest.mark.points(7)
@pytest.mark.visibility("visible")
def test_early_stopping_min_delta(submission):
    """with min_delta only drops below best_loss - min_delta count as improvements"""
    run_all(submission, [  # one round trip, judged in turn
        best_trace_run({"patience": 2, "min_delta": 0.1}, [1.0, 0.95, 0.84, 0.88, 0.79, 0.78, 0.77]),
        # a slow plateau: every step is lower, but never by more than min_delta: no improvement
        best_trace_run({"patience": 3, "min_delta": 0.05}, [2.0, 1.99, 1.98, 1.97])])


@pytest.mark.points(8)
@pytest.mark.visibility("visible")
@pytest.mark.requires("early_stopping_sequence", "early_stopping_patience_boundary", "early_stopping_min_delta",
                      "early_stopping_keeps_best_not_last")
def test_early_stopping_best_weights_are_copies(submission):
    """best_weights are copies: updating the training loop's arrays in place does not change them"""
    w0 = [np.arange(6.0).reshape(2, 3), np.array([0.5, -1.5])]

    def record(apart: bool) -> Answers:
        pipe = submission.pipeline()  # one round trip, judged in the order it ran
        es = stopper(submission, pipe, {"patience": 3}, apart)
        weights = pipe.put(fresh(w0))  # the training loop's arrays, living in the worker
        pipe.fetch(pipe.call(es.step, 0.8, weights))
        pipe.fetch(es.best_weights)
        # an optimizer step done in place, as `W -= lr * dW` does
        pipe.assign(weights[0], w0[0] - 100.0)
        pipe.assign(weights[1], w0[1] + 100.0)
        pipe.fetch(es.best_weights)  # must still be the epoch-0 values
        return Answers(pipe, on_death=not apart)

    answers = apart_on_death(record)
    answers.next()  # step's answer: judged by the other checks
    stored = answers.next()
    if type(stored) not in (list, tuple) or len(stored) != 2:
        raise Mistake(f"after an improving step, best_weights should be a list of 2 arrays (the weights passed), "
                      f"but it is {summarize(stored)}.")
    for i, (got, want) in enumerate(zip(stored, w0, strict=True)):
        expect_close(got, want, name=f"best_weights[{i}] right after the first step", rtol=0.0, atol=1e-15)
    later = answers.next()
    for i, (got, want) in enumerate(zip(later, w0, strict=True)):
        got = expect_array(got, name=f"best_weights[{i}]", shape=want.shape)
        if not np.array_equal(got, want):
            raise Mistake(
                f"best_weights[{i}] changed from {fmt(want)} to {fmt(got)} when the training loop updated its weight "
                "arrays in place after the best epoch (without calling step again). Looks like you stored references to the caller's arrays "
                "(self.best_weights = weights, or list(weights), which copies the list but not the arrays). Store "
                "copies: [w.copy() for w in weights]; otherwise 'restoring the best weights' restores the last ones.")


@pytest.mark.points(7)
@pytest.mark.visibility("hidden")
def test_early_stopping_keeps_best_not_last(submission):
    """best_weights belong to the best step, not the last (also with restore_best_weights=False)"""
    losses = [0.5, 0.4, 0.45, 0.47, 0.46]
    run_all(submission, [kept_best_run({"patience": 3, "restore_best_weights": restore}, losses)
                         for restore in (True, False)])  # one round trip, judged in turn


def kept_best_run(kwargs: dict, losses: list[float]) -> Run:
    """The best-loss trace, then best_weights after the last step: those of the best step (index 1)."""
    trace = best_trace_run(kwargs, losses, best_weights=True)

    def judge(values: list, failed: SubmissionError | None) -> None:
        stored = trace.judge(values, failed)
        if stored is None:
            raise Mistake(f"{call_text(kwargs)}: best_weights is None after training stopped. Keep copies of the "
                          "best weights whatever the flag says; the flag only tells the training loop whether to "
                          "put them back.")
        if type(stored) not in (list, tuple) or len(stored) != 2:
            raise Mistake(f"best_weights should be a list of 2 arrays, but it is {summarize(stored)}.")
        best, last = step_weights(1), step_weights(4)
        for i, got in enumerate(stored):
            got = expect_array(got, name=f"best_weights[{i}]", shape=best[i].shape)
            if np.array_equal(got, last[i]):
                raise Mistake(f"{call_text(kwargs)} with losses {losses}: best_weights hold the weights of the last "
                              "step, not those of the best step (index 1, loss 0.4). Looks like you saved the "
                              "weights on every step; save them only on an improvement.")
            expect_close(got, best[i], name=f"best_weights[{i}] (the weights passed with the best loss 0.4)",
                         rtol=0.0, atol=1e-15)

    return Run(trace.record, judge)


# ---------------------------------------------------------------------------- L2


@functools.cache
def weight_sets() -> list[list[np.ndarray]]:
    """The L2 checks' weights, made once per grading process (read-only)."""
    rng = np.random.default_rng(SEED)
    return frozen([
        [rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=(2, 2, 2))],
        [np.array([[1.0, -2.0], [3.0, 0.0]])],
        [rng.normal(scale=5.0, size=(9, 8)), np.zeros(8), rng.normal(size=(8, 1)), np.array([0.25])],
    ])


@pytest.mark.points(6)
@pytest.mark.visibility("visible")
def test_l2_penalty_values(submission):
    """l2_penalty equals lam * sum of squared weights over every array"""
    pipe = submission.pipeline()  # the six calls in one round trip, judged in turn
    for weights in weight_sets():
        for lam in (0.01, 0.5):
            pipe.fetch(pipe.call(submission.l2_penalty, fresh(weights), lam))
    answers = Answers(pipe)
    for weights in weight_sets():
        sq = sum(float(np.sum(w**2)) for w in weights)
        for lam in (0.01, 0.5):
            got = answers.next()
            expect_scalar(got, ref.l2_penalty(weights, lam), name=f"l2_penalty(weights of shapes "
                          f"{[w.shape for w in weights]}, lam={lam})", rtol=1e-10, atol=1e-12,
                          misconceptions={
                              "used (lam/2)*sum(w**2); the notebook's penalty is lam*sum(w**2) (no 1/2)": 0.5 * lam * sq,
                              "forgot to multiply by lam": sq,
                              "took the norm sqrt(sum(w**2)) instead of the squared norm": lam * math.sqrt(sq),
                              "summed |w| (that is L1) instead of w**2": lam * sum(float(np.abs(w).sum()) for w in weights),
                              "took the mean of w**2 instead of the sum":
                                  lam * sum(float(np.mean(w**2)) for w in weights),
                              "penalized only the first array": lam * float(np.sum(weights[0] ** 2)),
                          })


@pytest.mark.points(7)
@pytest.mark.visibility("visible")
def test_l2_gradient_values(submission):
    """l2_gradient returns 2*lam*w for every array, without modifying the weights"""
    lam = 0.3
    pipe = submission.pipeline()  # one round trip, judged in the order it ran
    for weights in weight_sets():
        handle = pipe.put(fresh(weights))
        pipe.fetch(pipe.call(submission.l2_gradient, handle, lam))
        pipe.fetch(handle)
    answers = Answers(pipe)
    for weights in weight_sets():
        got = answers.next()
        if type(got) not in (list, tuple) or len(got) != len(weights):
            raise Mistake(f"l2_gradient should return a list of {len(weights)} arrays (one per weight array), "
                          f"but it returned {summarize(got)}.")
        for i, (g, w) in enumerate(zip(got, weights, strict=True)):
            expect_close(g, 2 * lam * w, name=f"l2_gradient(weights, lam={lam})[{i}]", rtol=1e-10, atol=1e-12,
                         misconceptions={
                             "left out the factor 2: d/dw (lam * w**2) = 2*lam*w, as in the notebook's "
                             "w_new = w - lr*(gradient + 2*lam*w)": lam * w,
                             "forgot to multiply by lam": 2 * w,
                             "returned the sign of w (that is the L1 gradient)": lam * np.sign(w),
                             "returned the negative gradient": -2 * lam * w,
                         })
        after = answers.next()
        for i, (a, w) in enumerate(zip(after, weights, strict=True)):
            if not np.array_equal(a, w):
                raise Mistake(f"l2_gradient modified weights[{i}] in place (w *= 2*lam?). Return new arrays; the "
                              "weights belong to the model.")


# ---------------------------------------------------------------------------- dropout


def dropout_answers(submission, calls: list[tuple]) -> Answers:
    """dropout_forward(x, p, rng, training=training) for each (x, p, seed, training), with a worker
    rng made from seed (a Generator is not plain data: it is made in the worker), all in one
    pipeline. Their answers, to judge in turn (``out_and_mask``)."""
    pipe = submission.pipeline()
    for x, p, seed, training in calls:
        pipe.fetch(pipe.call(submission.dropout_forward, fresh(x), p, pipe.rng(seed), training=training))
    return Answers(pipe)


def out_and_mask(got, name: str = "dropout_forward"):
    """A fetched dropout_forward answer as (out, mask), or a teaching Mistake."""
    if type(got) not in (tuple, list) or len(got) != 2:
        raise Mistake(f"{name} should return a tuple (out, mask), but it returned {summarize(got)}.")
    return got


def hoeffding(n: int, delta: float) -> float:
    """Half-width t with P(|mean of n Bernoulli draws - p| >= t) <= delta (Hoeffding)."""
    return math.sqrt(math.log(2.0 / delta) / (2.0 * n))


@pytest.mark.points(8)
@pytest.mark.visibility("visible")
def test_dropout_structure(submission):
    """training mode: mask is float 0/1 shaped like x and out == x * mask / (1 - p)"""
    rng = np.random.default_rng(SEED + 1)
    cases = [(shape, p, rng.normal(size=shape) + 0.1)  # no exact zeros, so dropped entries are visible
             for shape, p in (((50, 40), 0.3), ((7, 3, 5), 0.5), ((200,), 0.9))]
    pipe = submission.pipeline()  # one round trip (generators made in the worker), judged in the order it ran
    for _, p, x in cases:
        handle = pipe.put(x)
        pipe.fetch(pipe.call(submission.dropout_forward, handle, p, pipe.rng(SEED)))
        pipe.fetch(handle)
    answers = Answers(pipe)
    for shape, p, x in cases:
        name = f"dropout_forward(x of shape {shape}, p={p}, rng)"
        got = answers.next()
        if type(got) not in (tuple, list) or len(got) != 2:
            raise Mistake(f"{name} should return a tuple (out, mask), but it returned {summarize(got)}.")
        out, mask = got
        if type(mask) is np.ndarray and mask.dtype == bool:
            raise Mistake(f"{name}: mask has dtype bool; it should be the float keep mask (1.0 kept, 0.0 dropped): "
                          "use (rng.random(x.shape) >= p).astype(float).")
        mask = expect_array(mask, name=f"{name}: mask", shape=shape)
        if not np.all((mask == 0.0) | (mask == 1.0)):
            bad = mask[(mask != 0.0) & (mask != 1.0)][0]
            raise Mistake(f"{name}: mask should hold only 0.0 (dropped) and 1.0 (kept), but it holds {fmt(bad)}. "
                          + ("Looks like the mask already includes the 1/(1-p) scaling; keep the mask 0/1 and scale "
                             "out." if math.isclose(bad, 1 / (1 - p)) else ""))
        expect_close(out, x * mask / (1 - p), name=f"{name}: out", rtol=1e-12, atol=1e-15, misconceptions={
            "forgot to rescale: inverted dropout divides the kept activations by (1 - p) in training, so "
            "their expected value stays x": x * mask,
            "multiplied by (1 - p) instead of dividing by it": x * mask * (1 - p),
            "divided by p instead of (1 - p)": x * mask / p,
            "applied the mask the other way round (out uses 1 - mask)": x * (1 - mask) / (1 - p),
        })
        if not np.array_equal(answers.next(), x):
            raise Mistake(f"{name} modified x in place (x *= mask?). Return a new array; x is the previous "
                          "layer's activation, needed again in the backward pass.")


@pytest.mark.points(7)
@pytest.mark.visibility("visible")
def test_dropout_keep_fraction(submission):
    """each entry is kept with probability 1 - p (100,000 entries for p = 0.2 and 0.7; all for p = 0)"""
    x = np.ones((500, 200))
    # two draws, each with failure probability 2.5e-7 for a correct dropout: < 1e-6 in all
    bound = hoeffding(x.size, 2.5e-7)
    small = np.arange(1.0, 61.0).reshape(6, 10)
    answers = dropout_answers(submission, [(x, 0.2, SEED + 2, True), (x, 0.7, SEED + 3, True),
                                           (small, 0.0, SEED, True)])
    for p in (0.2, 0.7):
        _, mask = out_and_mask(answers.next())
        mask = expect_array(mask, name=f"dropout_forward(x, p={p}, rng): mask", shape=x.shape, dtype_kind="fb")
        kept = float(np.mean(mask != 0))
        if abs(kept - (1 - p)) > bound:
            hint = (f" Looks like you keep each entry with probability p; p is the DROP probability, so keep "
                    f"with probability 1 - p = {1 - p:g}." if abs(kept - p) <= bound else "")
            raise Mistake(f"dropout_forward(x, p={p}, rng) kept {kept:.4f} of {x.size} entries; a correct dropout "
                          f"keeps 1 - p = {1 - p:g} (within ±{bound:.4f}, a bound a correct answer misses with "
                          f"probability < 1e-6).{hint}")
    x = small
    out, _ = out_and_mask(answers.next())
    expect_close(out, x, name="dropout_forward(x, p=0.0, rng): out", rtol=0.0, atol=1e-15,
                 hint="with p = 0 every entry is kept (probability 1 - p = 1) and 1/(1-p) = 1")


@pytest.mark.points(5)
@pytest.mark.visibility("visible")
def test_dropout_eval_mode(submission):
    """training=False: out equals x exactly and mask is None"""
    rng = np.random.default_rng(SEED + 4)
    x = rng.normal(size=(20, 10)) + 0.1
    answers = dropout_answers(submission, [(x, p, SEED, False) for p in (0.5, 0.2)])
    for p in (0.5, 0.2):
        name = f"dropout_forward(x, p={p}, rng, training=False)"
        out, mask = out_and_mask(answers.next())
        if mask is not None:
            raise Mistake(f"{name}: mask should be None at evaluation time (nothing is dropped), but it is "
                          f"{summarize(mask)}. Looks like you drop at evaluation time too: check `training`.")
        expect_close(out, x, name=f"{name}: out", rtol=0.0, atol=1e-15, misconceptions={
            "scaled by (1 - p) at evaluation time: that is the notebook's classic dropout; with inverted dropout "
            "training already divides by (1 - p), so evaluation is the identity": x * (1 - p),
            "divided by (1 - p) at evaluation time; evaluation is the identity": x / (1 - p),
        }, hint="when not training, return x unchanged (and None for the mask)")


@pytest.mark.points(4)
@pytest.mark.visibility("hidden")
@pytest.mark.requires("dropout_structure", "dropout_keep_fraction")
def test_dropout_uses_rng(submission):
    """the mask comes from `rng`: same seed, same mask; different seeds, different masks"""
    x = np.ones(2000)
    answers = dropout_answers(submission, [(x, 0.5, seed, True) for seed in (11, 11, 12)])
    masks = [out_and_mask(answers.next())[1] for _ in range(3)]
    masks = [expect_array(m, name="dropout_forward(x, 0.5, rng): mask", shape=x.shape, dtype_kind="fb")
             for m in masks]
    if not np.array_equal(masks[0], masks[1]):
        raise Mistake("dropout_forward gave different masks for two generators made with the same seed. Looks "
                      "like you draw from np.random's global state; draw from the rng argument "
                      "(rng.random(x.shape)) so experiments are reproducible.")
    if np.array_equal(masks[0], masks[2]):
        raise Mistake("dropout_forward gave the same mask for generators with different seeds: the mask must be "
                      "drawn from the rng argument.")


# ---------------------------------------------------------------------------- capstone


@functools.cache
def scenario(name: str) -> tuple[np.ndarray, ...]:
    """Fixed V/H data sets: (X_train, y_train, X_val, y_val, X_test, y_test)."""
    seed, n_train, n_val, noise, n_test = {
        "easy": (SEED + 11, 100, 50, 0.2, 1000),  # enough data: a correct classifier is ~100% right
        "overfit": (SEED + 12, 20, 100, 0.4, 0),  # tiny and noisy: validation loss turns up
    }[name]
    rng = np.random.default_rng(seed)
    out = [*generate_line_dataset(n_train, noise, rng), *generate_line_dataset(n_val, noise, rng)]
    out += [*generate_line_dataset(n_test, noise, rng)] if n_test else [None, None]
    return frozen(tuple(out))  # shared by every student: read-only (sent to the worker as fresh copies)


def logits(weights: list[np.ndarray], X: np.ndarray) -> np.ndarray:
    W1, b1, W2, b2 = weights
    return (np.maximum(0.0, X @ W1 + b1.reshape(-1)) @ W2.reshape(W2.shape[0], -1))[:, 0] + b2.reshape(-1)[0]


def bce(weights: list[np.ndarray], X: np.ndarray, y: np.ndarray) -> float:
    z = logits(weights, X)
    with np.errstate(invalid="ignore", over="ignore"):  # NaN weights give a NaN loss, judged by the caller
        return float(np.mean(np.logaddexp(0.0, z) - y * z))


CONFIG_KEYS = ("hidden", "lr", "beta1", "beta2", "eps")
REPLAY_EPOCHS = 25  # the first epochs show every rule (bias correction, step counter, masks); later ones drift
ADAM_MISTAKES = {
    "no_correction": "left out Adam's bias correction (m_hat = m / (1 - beta1**t), v_hat = v / (1 - beta2**t)); "
                     "without it the first steps are far too small or too large",
    "t_per_parameter": "advanced Adam's step counter once per parameter instead of once per epoch: t is shared "
                       "by W1, b1, W2 and b2 and is 1 in the first epoch",
    "t_from_zero": "started Adam's step counter at 0 for the first update (t is 1 in the first epoch)",
    "v_of_g": "used |g| instead of g**2 in Adam's second moment",
    "mask_always_one": "let the gradient through the ReLU everywhere; it passes only where X @ W1 + b1 > 0",
    "mask_ge": "used >= 0 in the ReLU mask; the course convention is relu'(0) = 0",
    "no_mean": "used the summed BCE gradient instead of the mean's (divide by the number of samples)",
}


def replay(initial: list[np.ndarray], config: dict, data: tuple, epochs: int, mistake: str = "") -> list[tuple]:
    """(train loss, val loss) after each of the first epochs of the contract's training, or of a mistaken one."""
    X, y, X_val, y_val = data[:4]
    weights = [np.array(w, dtype=float).reshape(shape) for w, shape in zip(
        initial, [(9, -1), (-1,), (-1, 1), (1,)], strict=True)]
    lr, b1, b2, eps = config["lr"], config["beta1"], config["beta2"], config["eps"]
    m = [np.zeros_like(w) for w in weights]
    v = [np.zeros_like(w) for w in weights]
    out, t_param = [], 0
    for t in range(1, epochs + 1):
        a = X @ weights[0] + weights[1]
        h = np.maximum(0.0, a)
        z = h @ weights[2] + weights[3]
        dz = (1.0 / (1.0 + np.exp(-z)) - y.reshape(-1, 1)) / (1 if mistake == "no_mean" else len(X))
        mask = {"mask_always_one": 1.0, "mask_ge": a >= 0}.get(mistake, a > 0)
        dh = (dz @ weights[2].T) * mask
        grads = [X.T @ dh, dh.sum(axis=0), h.T @ dz, dz.sum(axis=0)]
        for i, g in enumerate(grads):
            t_param += 1
            step = {"t_per_parameter": t_param, "t_from_zero": t - 1}.get(mistake, t)
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * (np.abs(g) if mistake == "v_of_g" else g * g)
            with np.errstate(divide="ignore", invalid="ignore"):
                if mistake == "no_correction":
                    m_hat, v_hat = m[i], v[i]
                else:
                    m_hat, v_hat = m[i] / (1 - b1**step), v[i] / (1 - b2**step)
                weights[i] = weights[i] - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append((bce(weights, X, y), bce(weights, X_val, y_val)))
    return out


# Replays of a training run depend only on its initial weights and config: students who share
# them (every student who follows the contract's seed and settings) share the replay. Only
# networks of a usual size are remembered, and at most REMEMBERED runs: the width is the student's.
_replays: dict = {}
REMEMBERED, USUAL_SIZE = 1024, 10_000


def replayed(initial: list[np.ndarray], config: dict, data_name: str, epochs: int, mistake: str = "") -> tuple:
    """``replay`` on ``scenario(data_name)``, remembered for the grading process."""
    if sum(w.size for w in initial) > USUAL_SIZE:
        return tuple(replay(initial, config, scenario(data_name), epochs, mistake))
    key = (tuple((w.shape, w.dtype.str, w.tobytes()) for w in initial), tuple(config.items()), data_name,
           epochs, mistake)
    if key not in _replays:
        if len(_replays) >= REMEMBERED:
            _replays.clear()
        _replays[key] = tuple(replay(initial, config, scenario(data_name), epochs, mistake))
    return _replays[key]


@functools.lru_cache(maxsize=36)  # 6 per width: students who follow the contract share one width
def he_draws(seed: int, hidden: int, scale1: float, scale2: float) -> tuple[np.ndarray, np.ndarray]:
    """The first two draws of default_rng(seed), shaped like W1 and W2, with the given standard deviations
    (read-only, computed once per grading process)."""
    rng = np.random.default_rng(seed)
    return frozen((rng.normal(0.0, scale1, size=(9, hidden)), rng.normal(0.0, scale2, size=(hidden, 1))))


def as_number(value, name: str) -> float:
    """A plain number (Python or NumPy scalar, or a one-element array) as a float."""
    if type(value) in (int, float) or isinstance(value, (np.floating, np.integer)):
        return float(value)
    if type(value) is np.ndarray and value.size == 1 and value.dtype.kind in "fiu":
        return float(value.reshape(()))
    raise Mistake(f"{name} should be numbers, but one is {summarize(value)}.")


# The last training runs of the submission being graded, so that checks judging the same run
# (layout, accuracy, reproducibility) train once. One slot: submissions are graded in turn.
_runs: dict = {"submission": None, "results": {}}


def train(submission, name: str, seed: int, again: bool = False) -> dict:
    """train_vh_classifier on scenario `name` with a worker rng from `seed`, checked and fetched."""
    if _runs["submission"] is not submission:
        _runs.update(submission=submission, results={})
    if again or (name, seed) not in _runs["results"]:
        result = run_training(submission, scenario(name)[:4], seed)
        if again:
            return result
        _runs["results"][(name, seed)] = result
    return _runs["results"][(name, seed)]


def run_training(submission, data: tuple, seed: int) -> dict:
    """Call train_vh_classifier and check the result's layout; returns plain data."""
    X_train, y_train, X_val, y_val = data[:4]
    pipe = submission.pipeline()  # the generator, the training and its answer: one round trip
    pipe.fetch(pipe.call(submission.train_vh_classifier, *fresh((X_train, y_train, X_val, y_val)), pipe.rng(seed)))
    got = pipe.run()[0]
    name = "train_vh_classifier(...)"
    if type(got) is not dict:
        raise Mistake(f"{name} should return a dict with keys 'weights', 'train_losses', 'val_losses', "
                      f"'best_epoch', but it returned {summarize(got)}.")
    missing = [k for k in ("weights", "train_losses", "val_losses", "best_epoch") if k not in got]
    if missing:
        raise Mistake(f"{name}: the returned dict has no key(s) {missing} (it has {sorted(map(str, got))}).")
    weights = got["weights"]
    if type(weights) not in (list, tuple) or len(weights) != 4:
        raise Mistake(f"{name}['weights'] should be [W1, b1, W2, b2], but it is {summarize(weights)}.")
    W1 = expect_array(weights[0], name=f"{name}['weights'][0] (W1)")
    if W1.ndim != 2 or W1.shape[0] != 9:
        raise Mistake(f"W1 should have shape (9, H) (used as X @ W1 on 3x3 images), but it has shape {W1.shape}."
                      + (" It looks transposed." if W1.ndim == 2 and W1.shape[1] == 9 else ""))
    hidden = W1.shape[1]
    b1 = expect_array(weights[1], name=f"{name}['weights'][1] (b1)", shape=(hidden,))
    W2 = expect_array(weights[2], name=f"{name}['weights'][2] (W2)")
    if W2.shape not in ((hidden, 1), (hidden,)):
        raise Mistake(f"W2 should have shape ({hidden}, 1) for a single sigmoid output, but it has shape {W2.shape}.")
    b2 = expect_array(weights[3], name=f"{name}['weights'][3] (b2)")
    if b2.size != 1:
        raise Mistake(f"b2 should hold one number (shape (1,)), but it has shape {b2.shape}.")
    curves = {}
    for key in ("train_losses", "val_losses"):
        values = got[key]
        if type(values) is np.ndarray and values.ndim == 1:
            values = values.tolist()
        if type(values) not in (list, tuple) or not values:
            raise Mistake(f"{name}['{key}'] should be a non-empty list of floats (one per epoch), "
                          f"but it is {summarize(values)}.")
        curves[key] = [as_number(v, f"{name}['{key}'] entries") for v in values]
        if not all(math.isfinite(v) for v in curves[key]):
            raise Mistake(f"{name}['{key}'] contains NaN or inf: training diverged (learning rate too high?).")
    if len(curves["train_losses"]) != len(curves["val_losses"]):
        raise Mistake(f"{name}: train_losses has {len(curves['train_losses'])} entries but val_losses has "
                      f"{len(curves['val_losses'])}; both should have one per epoch.")
    best = got["best_epoch"]
    if type(best) is not int and not isinstance(best, np.integer):
        raise Mistake(f"{name}['best_epoch'] should be an int, but it is {summarize(best)}.")
    if not 0 <= int(best) < len(curves["val_losses"]):
        raise Mistake(f"{name}['best_epoch'] is {int(best)}, outside the {len(curves['val_losses'])} epochs "
                      "trained (it is a 0-based index into val_losses).")
    # initial_weights and config are judged by the checks that need them (capstone_parts), so a
    # submission written to the contract before they existed keeps its other capstone points.
    return {"weights": [W1, b1, W2, b2], "best_epoch": int(best), "initial_weights": got.get("initial_weights"),
            "config": got.get("config"), **curves}


def capstone_parts(result: dict) -> tuple[list[np.ndarray], dict]:
    """The run's initial weights and config, checked: the parts that make its training replayable."""
    name = "train_vh_classifier(...)"
    if result["initial_weights"] is None or result["config"] is None:
        raise Mistake(f"{name} should also return 'initial_weights' (copies of [W1, b1, W2, b2] before the first "
                      "update) and 'config' ({'hidden', 'lr', 'beta1', 'beta2', 'eps'}), so the grader can check "
                      "the initialization and replay the training.")
    initial = result["initial_weights"]
    if type(initial) not in (list, tuple) or len(initial) != 4:
        raise Mistake(f"{name}['initial_weights'] should be [W1, b1, W2, b2] before the first update, but it is "
                      f"{summarize(initial)}.")
    initial = [expect_array(w, name=f"{name}['initial_weights'][{i}]", shape=final.shape)
               for i, (w, final) in enumerate(zip(initial, result["weights"], strict=True))]
    config = result["config"]
    if type(config) is not dict:
        raise Mistake(f"{name}['config'] should be a dict {{'hidden', 'lr', 'beta1', 'beta2', 'eps'}}, but it is "
                      f"{summarize(config)}.")
    lacking = [k for k in CONFIG_KEYS if k not in config]
    if lacking:
        raise Mistake(f"{name}['config'] has no key(s) {lacking}: report the width and the Adam settings you "
                      "trained with, so the grader can replay your training.")
    config = {k: as_number(config[k], f"{name}['config'][{k!r}]") for k in CONFIG_KEYS}
    for key, ok, want in (("lr", config["lr"] > 0, "> 0"), ("beta1", 0 <= config["beta1"] < 1, "in [0, 1)"),
                          ("beta2", 0 <= config["beta2"] < 1, "in [0, 1)"), ("eps", config["eps"] > 0, "> 0")):
        if not ok:
            raise Mistake(f"{name}['config'][{key!r}] is {fmt(config[key])}; Adam's {key} must be {want} "
                          "(beta >= 1 makes the moving averages grow instead of forget).")
    if config["hidden"] != result["weights"][0].shape[1]:
        raise Mistake(f"{name}['config']['hidden'] is {fmt(config['hidden'])}, but W1 has "
                      f"{result['weights'][0].shape[1]} hidden units.")
    return initial, config


@pytest.mark.points(3)
@pytest.mark.visibility("visible")
@pytest.mark.requires("capstone_accuracy")
def test_capstone_returns_plain_dict(submission):
    """train_vh_classifier returns weights, initial weights, config, per-epoch losses and best_epoch"""
    result = train(submission, "easy", seed=1)
    capstone_parts(result)
    if result["train_losses"][-1] >= result["train_losses"][0]:
        raise Mistake(f"the training loss did not go down: epoch 0 {fmt(result['train_losses'][0])}, last epoch "
                      f"{fmt(result['train_losses'][-1])}. Check the gradient signs and the learning rate.")


@pytest.mark.points(6)
@pytest.mark.visibility("visible")
def test_capstone_accuracy(submission):
    """the returned weights classify 1,000 fresh V/H images (noise 0.2) with at least 90% accuracy"""
    result = train(submission, "easy", seed=1)
    X_test, y_test = scenario("easy")[4:]
    predicted = logits(result["weights"], X_test) > 0
    accuracy = float(np.mean(predicted == (y_test == 1)))
    if accuracy < 0.9:
        hint = (" It is right on the flipped labels: the output should be P(vertical), label 1."
                if 1 - accuracy >= 0.9 else " Check the forward pass (ReLU hidden layer, sigmoid output), the "
                "gradient of the mean BCE, He initialization and the learning rate.")
        raise Mistake(f"held-out accuracy of the returned weights is {accuracy:.1%} on 1000 fresh images "
                      f"(noise 0.2, trained on 100); it should be at least 90% (the reference gets about 100%).{hint}")


@pytest.mark.points(6)
@pytest.mark.visibility("visible")
def test_capstone_best_weights_restored(submission):
    """on a tiny noisy training set (it overfits), the returned weights are the best epoch's, for both loss curves"""
    result = train(submission, "overfit", seed=3)
    X_val, y_val = scenario("overfit")[2:4]
    val, best = result["val_losses"], result["best_epoch"]
    reproduced = bce(result["weights"], X_val, y_val)
    if not math.isclose(reproduced, val[best], rel_tol=1e-3, abs_tol=1e-4):
        close = [k for k, v in enumerate(val) if math.isclose(reproduced, v, rel_tol=1e-3, abs_tol=1e-4)]
        if close and close[-1] == len(val) - 1:
            why = ("Looks like you returned the last epoch's weights instead of restoring the best ones (or your "
                   "early stopping kept references to arrays you kept updating in place).")
        elif close:
            why = f"They match epoch {close[0]} instead: is best_epoch off by one?"
        else:
            why = ("They match no epoch: val_losses should be the mean binary cross-entropy on X_val of the "
                   "weights early stopping saw.")
        raise Mistake(f"the validation loss of the returned weights is {fmt(reproduced)}, but val_losses[best_epoch] "
                      f"= val_losses[{best}] = {fmt(val[best])}. {why}")
    X_train, y_train = scenario("overfit")[:2]
    reproduced = bce(result["weights"], X_train, y_train)
    train_best = result["train_losses"][best]
    if not math.isclose(reproduced, train_best, rel_tol=1e-3, abs_tol=1e-4):
        raise Mistake(f"the training loss of the returned weights is {fmt(reproduced)}, but train_losses[best_epoch] "
                      f"= train_losses[{best}] = {fmt(train_best)}. train_losses should be the mean binary "
                      "cross-entropy on X_train of the weights after each epoch's update (computed after the "
                      "update, like val_losses, not before it).")
    if val[best] > min(val) + 1e-3:
        raise Mistake(f"best_epoch = {best} has validation loss {fmt(val[best])}, but epoch {int(np.argmin(val))} had "
                      f"{fmt(min(val))}: early stopping should keep the epoch with the lowest validation loss.")


@pytest.mark.points(2)
@pytest.mark.visibility("hidden")
@pytest.mark.requires("capstone_accuracy")
def test_capstone_reproducible(submission):
    """all randomness comes from rng: same seed, same weights; another seed, other weights"""
    # the small data set trains fastest
    first = train(submission, "overfit", seed=3)["weights"]
    again = train(submission, "overfit", seed=3, again=True)["weights"]
    other = train(submission, "overfit", seed=4)["weights"]
    if not all(np.array_equal(a, b) for a, b in zip(first, again, strict=True)):
        raise Mistake("two runs with generators made from the same seed returned different weights. Looks like "
                      "something draws from np.random's global state; use the rng argument for the initialization "
                      "(rng.normal) and anything else random.")
    if all(np.array_equal(a, b) for a, b in zip(first, other, strict=True)):
        raise Mistake("runs with generators made from different seeds returned identical weights: the He "
                      "initialization must be drawn from the rng argument.")


@pytest.mark.points(4)
@pytest.mark.visibility("hidden")
@pytest.mark.requires("capstone_accuracy")
def test_capstone_he_initialization(submission):
    """the initial weights are He normal draws from rng for your width: W1 (9, H) then W2 (H, 1), zero biases"""
    result = train(submission, "easy", seed=1)
    (W1, b1, W2, b2), _ = capstone_parts(result)
    hidden = W1.shape[1]
    want1, want2 = he_draws(1, hidden, np.sqrt(2.0 / 9), np.sqrt(2.0 / hidden))
    wrong = {
        "used LeCun's std sqrt(1 / fan_in); He for ReLU layers doubles the variance: std sqrt(2 / fan_in)":
            he_draws(1, hidden, np.sqrt(1.0 / 9), np.sqrt(1.0 / hidden)),
        "used the variance 2 / fan_in as the standard deviation; He's std is sqrt(2 / fan_in)":
            he_draws(1, hidden, 2.0 / 9, 2.0 / hidden),
        "used fan_out instead of fan_in in He's std sqrt(2 / fan_in)":
            he_draws(1, hidden, np.sqrt(2.0 / hidden), np.sqrt(2.0 / 1)),
        "used Xavier's std sqrt(2 / (fan_in + fan_out)); ReLU layers use He's sqrt(2 / fan_in)":
            he_draws(1, hidden, np.sqrt(2.0 / (9 + hidden)), np.sqrt(2.0 / (hidden + 1))),
        "scaled W2 with W1's fan_in (9); each layer uses its own fan_in, H for W2":
            he_draws(1, hidden, np.sqrt(2.0 / 9), np.sqrt(2.0 / 9)),
    }
    hint = ("draw W1 = rng.normal(0.0, np.sqrt(2 / 9), size=(9, H)) first and W2 = rng.normal(0.0, np.sqrt(2 / H), "
            "size=(H, 1)) second, as the first uses of rng, and return copies taken before training")
    expect_close(W1, want1, name=f"initial W1 of shape (9, {hidden}) from rng = default_rng(1)", rtol=1e-9,
                 atol=1e-12, misconceptions={k: v[0] for k, v in wrong.items()}, hint=hint)
    expect_close(W2.reshape(-1, 1), want2, name=f"initial W2 of shape ({hidden}, 1), the second draw", rtol=1e-9,
                 atol=1e-12, misconceptions={k: v[1] for k, v in wrong.items()}, hint=hint)
    for label, bias in (("b1", b1), ("b2", b2)):
        expect_close(bias, np.zeros_like(bias), name=f"initial {label}", rtol=0, atol=0,
                     hint="biases start at zero")


@pytest.mark.points(4)
@pytest.mark.visibility("hidden")
@pytest.mark.requires("capstone_accuracy")
def test_capstone_training_replays(submission):
    """replayed from your initial weights and config, the first epochs' losses match the contract's Adam training"""
    result = train(submission, "easy", seed=1)
    epochs = min(REPLAY_EPOCHS, len(result["train_losses"]))
    got = list(zip(result["train_losses"][:epochs], result["val_losses"][:epochs], strict=True))
    initial, config = capstone_parts(result)
    want = replayed(initial, config, "easy", epochs)

    def same(a: list[tuple], b: list[tuple]) -> bool:
        return all(math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-9) for pa, pb in zip(a, b) for x, y in zip(pa, pb))

    for k, ((tr, va), (tr_want, va_want)) in enumerate(zip(got, want, strict=True)):
        if same([(tr, va)], [(tr_want, va_want)]):
            continue
        mistake = next((label for key, label in ADAM_MISTAKES.items()
                        if same(got, replayed(initial, config, "easy", epochs, key))), None)
        settings = ", ".join(f"{key}={fmt(value)}" for key, value in config.items())
        raise Mistake(f"replaying your training from your initial weights with your config ({settings}), the "
                      f"training loss after epoch {k} should be {fmt(tr_want)} (validation {fmt(va_want)}), but "
                      f"yours is {fmt(tr)} (validation {fmt(va)})."
                      + (f"\nLooks like you {mistake}." if mistake else
                         "\nCheck the gradient of the mean BCE (sigmoid(z) - y, divided by N), the ReLU mask "
                         "(X @ W1 + b1 > 0), Adam's moments with bias correction and one shared step counter "
                         "t = 1, 2, ..., and that the losses are computed after each epoch's update."))
