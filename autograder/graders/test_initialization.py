"""Hidden graders for `initialization`: shapes, use of `rng`, and the distributions, statistically.

How the statistical checks bound false failures. Every check compares statistics of a large
sample (32 768 weights per layer size) with their exact expectation, using
two-sided bounds at Z_STRICT = 5.5 standard errors: P(|Z| > 5.5) = 3.8e-8 under the normal
approximation, which is accurate here (the skewness of every statistic is below 0.03).

- mean: standard error sqrt(s2 / n);
- variance: the sampling variance of s2 is 2 var^2 / (n - 1) for a normal and
  (mu4 - var^2) / n = (4/5) var^2 / n for a uniform (mu4 = 9/5 var^2);
- uniform evenness: the fraction in each quarter of [-b, b], binomial with p = 1/4;
- uniform spread: P(no draw within b * 2e-3 of +b, or of -b) = (1 - 1e-3)^n < e^-32;
- normal tails: the fractions beyond 2.5 sigma (p = 0.0124) and within 1 sigma (p = 0.683).

A check makes at most 18 such z-tests (3 sizes x (mean, variance, 4 bins)) plus 6 spread
events, so by Bonferroni a correct submission fails any one check with probability below
18 * 3.8e-8 + 6 * e^-32 < 1e-6. The deterministic checks (shapes, use of rng) cannot fail a
correct submission at all.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from autograder.graders.stepwise import StepByStep, fast_or_step_by_step, run
from autograder.referee import Z_STRICT, Mistake, expect_array, fmt
from autograder.sandbox import StudentException, SubmissionError

INITS = ("xavier_uniform", "xavier_normal", "he_uniform", "he_normal", "lecun_normal")
UNIFORM = ("xavier_uniform", "he_uniform")
NORMAL = ("xavier_normal", "he_normal", "lecun_normal")

# fan_in < fan_out, fan_in > fan_out, and a third shape: every wrong fan shows somewhere. Each
# wrong formula in `wrong_variances` misses the right variance by at least 22 % at one size
# or more (a few coincide with it at one size), while the bounds are 4.3 % (normal) and
# 2.7 % (uniform) of the variance.
SIZES = ((64, 512), (512, 64), (128, 256))

# Variance of a standard normal truncated to [-2, 2]: 1 - 4 phi(2) / (Phi(2) - Phi(-2)).
TRUNCATED_2SIGMA_VAR = 1 - 4 * math.exp(-2) / math.sqrt(2 * math.pi) / math.erf(2 / math.sqrt(2))

FORMULA = {
    "xavier_uniform": "2/(fan_in+fan_out)",
    "xavier_normal": "2/(fan_in+fan_out)",
    "he_uniform": "2/fan_in",
    "he_normal": "2/fan_in",
    "lecun_normal": "1/fan_in",
}


def target_variance(name: str, fan_in: int, fan_out: int) -> float:
    """Var(W) the assignment asks for."""
    if name.startswith("xavier"):
        return 2.0 / (fan_in + fan_out)
    if name.startswith("he"):
        return 2.0 / fan_in
    return 1.0 / fan_in


def wrong_variances(name: str, fan_in: int, fan_out: int) -> dict[str, float]:
    """Misconception -> the variance a submission with that mistake produces."""
    var = target_variance(name, fan_in, fan_out)
    fans = {  # label -> (formula, variance); the formula the initializer should use is left out
        "looks like the variance uses fan_out: 2/fan_out": ("2/fan_out", 2.0 / fan_out),
        "looks like the variance uses fan_out: 1/fan_out": ("1/fan_out", 1.0 / fan_out),
        "looks like you used fan_in+fan_out (Xavier) instead of fan_in": ("2/(fan_in+fan_out)", 2.0 / (fan_in + fan_out)),
        "looks like you used 2/fan_in (He, for ReLU)": ("2/fan_in", 2.0 / fan_in),
        "looks like you used 1/fan_in (LeCun's variance)" + (
            ": He doubles it because ReLU zeroes half of its inputs" if name.startswith("he") else ""):
            ("1/fan_in", 1.0 / fan_in),
        "looks like the factor 2 is missing: 1/(fan_in+fan_out)": ("1/(fan_in+fan_out)", 1.0 / (fan_in + fan_out)),
    }
    # The same labels at every size, even where a wrong formula happens to equal the right one.
    wrong = {label: v for label, (formula, v) in fans.items() if formula != FORMULA[name]}
    if name in UNIFORM:
        wrong.update({
            f"the uniform bound should be sqrt(3·var) = sqrt({3 * 2}/{FORMULA[name].split('/', 1)[1]}), "
            "you used sqrt(var) (a uniform on [-b, b] has variance b²/3)": var / 3,
            "looks like you drew from [0, b] instead of [-b, b]": var / 4,
            "looks like you used the variance itself as the bound, without the square root": (3 * var) ** 2 / 3,
        })
    else:
        wrong.update({
            "looks like you passed the variance where NumPy expects the standard deviation "
            "(rng.normal's scale is sqrt(var))": var**2,
            "looks like you used the uniform bound sqrt(3·var) as the standard deviation": 3 * var,
            # A normal truncated at ±2 sigma keeps only 77.4 % of the variance.
            "looks like a normal truncated at 2 standard deviations (it has only 77 % of the variance); "
            "draw a plain normal, rng.normal(0.0, std, size)": TRUNCATED_2SIGMA_VAR * var,
        })
    return wrong


def remote_rng(submission, seed: int):
    """A `numpy.random.Generator` created inside the worker, to pass as the `rng` argument.

    The proxy has no constructor for worker-side objects, so this goes through the numpy
    the student's module imported. That gives a hostile module no extra power: it already
    decides what its own functions return.
    """
    try:
        return submission.np.random.default_rng(seed)
    except StudentException:
        if submission.has("numpy"):
            return submission.numpy.random.default_rng(seed)
    raise Mistake("your file must `import numpy as np` (the stub does): the grader builds the rng you are given "
                  "with the numpy your module imported.")


def draw(submission, name: str, fan_in: int, fan_out: int, rng) -> np.ndarray:
    """Call `name(fan_in, fan_out, rng)` and fetch a float array of shape (fan_in, fan_out).

    `rng` is a worker-side generator; a check reuses one for its draws (deterministic all
    the same, and half the round trips).
    """
    return judge_draw(getattr(submission, name)(fan_in, fan_out, rng).fetch(), name, fan_in, fan_out)


def draws(submission, name: str, sizes, rng, fast: bool) -> Iterator[np.ndarray]:
    """``draw`` at each size in turn, judged by the caller in between (``fast``: all in one round trip)."""
    if not fast:
        for fan_in, fan_out in sizes:
            yield draw(submission, name, fan_in, fan_out, rng)
        return
    pipe = submission.pipeline()
    for fan_in, fan_out in sizes:
        pipe.fetch(pipe.call(getattr(submission, name), fan_in, fan_out, rng))
    for (fan_in, fan_out), got in zip(sizes, run(pipe)):
        yield judge_draw(got, name, fan_in, fan_out)


def judge_draw(got, name: str, fan_in: int, fan_out: int) -> np.ndarray:
    """What `name(fan_in, fan_out, rng)` returned must be a finite float64 array of shape (fan_in, fan_out)."""
    where = f"{name}({fan_in}, {fan_out}, rng)"
    if type(got) is np.ndarray and got.ndim == 2 and got.shape == (fan_out, fan_in) and fan_in != fan_out:
        raise Mistake(f"{where} returned shape {got.shape}, expected (fan_in, fan_out) = {(fan_in, fan_out)}. "
                      "Looks like you used PyTorch's layout (fan_out, fan_in); here layers compute x @ W, "
                      "so W has one row per input.")
    got = expect_array(got, name=where, shape=(fan_in, fan_out))
    if got.dtype != np.float64:
        raise Mistake(f"{where} has dtype {got.dtype}; weights must be float64 (do not cast to float32).")
    if not np.all(np.isfinite(got)):
        raise Mistake(f"{where} contains NaN or inf.")
    return got


# ---------------------------------------------------------------------------- statistics


def _se_var(var: float, n: int, uniform: bool) -> float:
    """Standard error of the sample variance s2 (see the module docstring)."""
    return math.sqrt(0.8 * var**2 / n) if uniform else math.sqrt(2.0 * var**2 / (n - 1))


def check_moments(name: str, samples: dict[tuple[int, int], np.ndarray]) -> None:
    """Mean 0 and the target variance at every size; names the wrong formula that fits all sizes."""
    uniform = name in UNIFORM
    observed = {size: float(w.var(ddof=1)) for size, w in samples.items()}
    for (fan_in, fan_out), w in samples.items():
        n, m, s2 = w.size, float(w.mean()), observed[(fan_in, fan_out)]
        bound = Z_STRICT * math.sqrt(max(s2, target_variance(name, fan_in, fan_out)) / n)
        if abs(m) > bound:
            hint = (" Looks like you drew from [0, b] instead of [-b, b] (rng.random() is in [0, 1))."
                    if uniform and w.min() >= 0 else "")
            raise Mistake(f"{name}({fan_in}, {fan_out}, rng): the mean of the {n} weights is {fmt(m)}, but "
                          f"weights must be centred on 0 (bound ±{fmt(bound)}).{hint}")
    for (fan_in, fan_out), s2 in observed.items():
        var, n = target_variance(name, fan_in, fan_out), samples[(fan_in, fan_out)].size
        bound = Z_STRICT * _se_var(var, n, uniform)
        if abs(s2 - var) <= bound:
            continue
        message = (f"{name}({fan_in}, {fan_out}, rng): the sample variance of the {n} weights is {fmt(s2)}, "
                   f"expected Var(W) = {FORMULA[name]} = {fmt(var)} (bound ±{fmt(bound)}).")
        mistake = _explaining_mistake(name, observed, samples, uniform)
        if mistake:
            message += f"\n{mistake[0].upper()}{mistake[1:]}."
        elif uniform:
            message += f"\nHint: a uniform on [-b, b] has variance b²/3, so b = sqrt(3 * {FORMULA[name]})."
        else:
            message += f"\nHint: draw rng.normal(0.0, std, size) with std = sqrt({FORMULA[name]})."
        raise Mistake(message)


def _explaining_mistake(name: str, observed: dict, samples: dict, uniform: bool) -> str | None:
    """The first wrong formula whose variance matches the observed one at every size."""
    labels = list(wrong_variances(name, *SIZES[0]))
    for label in labels:
        fits = True
        for (fan_in, fan_out), s2 in observed.items():
            wrong = wrong_variances(name, fan_in, fan_out)[label]
            # 1.6 x the bound: the buggy sample may not even have the assumed distribution family.
            if abs(s2 - wrong) > 1.6 * Z_STRICT * _se_var(wrong, samples[(fan_in, fan_out)].size, uniform):
                fits = False
                break
        if fits:
            return label
    return None


def check_uniform_shape(name: str, samples: dict[tuple[int, int], np.ndarray]) -> None:
    """Inside [-b, b], reaching both ends, and evenly spread over four quarters."""
    for (fan_in, fan_out), w in samples.items():
        b = math.sqrt(3.0 * target_variance(name, fan_in, fan_out))
        where = f"{name}({fan_in}, {fan_out}, rng)"
        top = float(np.abs(w).max())
        if top > b * (1 + 1e-12):
            kurt = float(np.mean(w**4) / np.mean(w**2) ** 2)
            shape = " Looks like you drew from a normal distribution (rng.normal); this one is uniform." if kurt > 2.4 \
                else ""
            raise Mistake(f"{where}: a weight of magnitude {fmt(top)} lies outside [-b, b] with "
                          f"b = sqrt(3·var) = {fmt(b)}.{shape}")
        reach = b * (1 - 2e-3)
        if w.max() < reach or w.min() > -reach:
            raise Mistake(f"{where}: the weights span [{fmt(w.min())}, {fmt(w.max())}] but should fill [-b, b] "
                          f"with b = {fmt(b)}: the bound is too small.")
        counts = np.histogram(w, bins=4, range=(-b, b))[0] / w.size
        se = math.sqrt(0.25 * 0.75 / w.size)
        if np.any(np.abs(counts - 0.25) > Z_STRICT * se):
            raise Mistake(f"{where}: the four quarters of [-b, b] hold fractions {fmt(counts)} of the weights; a "
                          "uniform distribution puts 1/4 in each. Draw with rng.uniform(-b, b, size).")


def check_normal_tails(name: str, w: np.ndarray, fan_in: int, fan_out: int) -> None:
    """Plain normal: about 1.24 % beyond 2.5 sigma and 68.3 % within 1 sigma.

    Sigma is the sample's own standard deviation, so this judges the shape of the
    distribution only (the variance has its own check). Estimating sigma adds to the
    spread of each fraction; the standard error below adds the two parts as if perfectly
    correlated (delta method: d/dsigma P(|X| > c sigma) = 2 c phi(c) per unit of relative
    sigma, whose standard error is 1/sqrt(2n)), which only makes the bound safer.
    """
    where = f"{name}({fan_in}, {fan_out}, rng)"
    n = w.size
    with np.errstate(divide="ignore", invalid="ignore"):  # constant weights: judged below, no warning
        a = np.abs(w) / w.std()
    for label, c, frac, p in (
        ("beyond 2.5 standard deviations", 2.5, float(np.mean(a > 2.5)), math.erfc(2.5 / math.sqrt(2))),
        ("within 1 standard deviation", 1.0, float(np.mean(a < 1.0)), math.erf(1 / math.sqrt(2))),
    ):
        phi = math.exp(-c * c / 2) / math.sqrt(2 * math.pi)
        se = (math.sqrt(p * (1 - p)) + 2 * c * phi / math.sqrt(2)) / math.sqrt(n)
        if abs(frac - p) <= Z_STRICT * se:
            continue
        message = (f"{where}: {100 * frac:.3g} % of the weights lie {label} (of their own std), but a normal "
                   f"distribution puts {100 * p:.3g} % there (bound ±{100 * Z_STRICT * se:.2g} %).")
        top = float(a.max())
        if top <= math.sqrt(3) * (1 + 1e-3):
            message += f" No weight is beyond {top:.3g} std: looks like a uniform distribution, not a normal."
        elif top <= 2.5:
            message += (f" No weight is beyond {top:.3g} std: looks like a truncated normal (as in "
                        "tf.random.truncated_normal or nn.init.trunc_normal_); this assignment asks for a "
                        "plain normal, rng.normal(0.0, std, size).")
        raise Mistake(message)


def distribution_check(submission, name: str) -> None:
    # One call per size, not a pipeline: 3 draws of up to 32 768 weights come back faster with
    # their calls' replies than in one batch reply (measured: 5-7.6 ms against 8.2 ms a check).
    rng = remote_rng(submission, 1000)
    samples = {size: draw(submission, name, *size, rng) for size in SIZES}
    check_moments(name, samples)
    if name in UNIFORM:
        check_uniform_shape(name, samples)


# ---------------------------------------------------------------------------- checks


@pytest.mark.points(10)
@pytest.mark.visibility("visible")
@pytest.mark.requires("xavier_uniform_distribution", "xavier_normal_distribution", "he_uniform_distribution",
                      "he_normal_distribution", "lecun_normal_distribution")
def test_shapes_and_dtype(submission):
    """Every initializer returns a float64 array of shape (fan_in, fan_out)"""
    fast_or_step_by_step(check_shapes, submission)


def check_shapes(submission, fast: bool) -> None:
    rng = remote_rng(submission, 100)
    for name in INITS:
        for _ in draws(submission, name, ((3, 7), (7, 3), (1, 1)), rng, fast):
            pass  # draws judges the shape and dtype


@pytest.mark.points(10)
@pytest.mark.visibility("visible")
@pytest.mark.requires("xavier_uniform_distribution", "xavier_normal_distribution", "he_uniform_distribution",
                      "he_normal_distribution", "lecun_normal_distribution")
def test_randomness_comes_from_rng(submission):
    """All randomness comes from rng: same seed, same weights whatever np.random.seed says; new seed, new weights"""
    fast_or_step_by_step(check_randomness, submission)


def generators_and_draws(submission, numpy, name: str, fast: bool) -> tuple:
    """(rng state before, after, and three draws of `name(6, 5, rng)`): with generators seeded 7, NumPy's
    global seed 1; with a new generator seeded 7, global seed 2; with one seeded 8.

    ``fast``: four round trips (the generators are made up front: np.random.default_rng does not
    depend on NumPy's global seed), else eleven.
    """
    init: Callable = getattr(submission, name)
    label = f"{name}(6, 5, rng)"
    if not fast:
        rng = remote_rng(submission, 7)
        before = rng.bit_generator.state.fetch()
        numpy.random.seed(1)
        first = init(6, 5, rng)
        after = rng.bit_generator.state.fetch()
        # No shape requirement here: the layout has its own check.
        a = expect_array(first.fetch(), name=label)
        numpy.random.seed(2)
        b = expect_array(init(6, 5, remote_rng(submission, 7)).fetch(), name=label)
        c = expect_array(init(6, 5, remote_rng(submission, 8)).fetch(), name=label)
        return before, after, a, b, c
    pipe = submission.pipeline()
    rngs = [pipe.call(submission.np.random.default_rng, seed) for seed in (7, 7, 8)]
    pipe.fetch(rngs[0].bit_generator.state)
    pipe.call(numpy.random.seed, 1)
    try:
        before = next(run(pipe))
    except SubmissionError:
        raise StepByStep from None  # remote_rng words a module without numpy
    pipe = submission.pipeline()
    first = pipe.call(init, 6, 5, rngs[0])
    pipe.fetch(rngs[0].bit_generator.state)
    pipe.fetch(first)
    answers = run(pipe)
    after, a = next(answers), expect_array(next(answers), name=label)
    pipe = submission.pipeline()
    pipe.call(numpy.random.seed, 2)
    try:
        next(run(pipe), None)
    except SubmissionError:
        raise StepByStep from None
    pipe = submission.pipeline()
    for rng in rngs[1:]:
        pipe.fetch(pipe.call(init, 6, 5, rng))
    answers = run(pipe)
    b = expect_array(next(answers), name=label)
    c = expect_array(next(answers), name=label)
    return before, after, a, b, c


def check_randomness(submission, fast: bool) -> None:
    has_np = submission.has("np")
    if fast and not has_np:
        raise StepByStep  # remote_rng then goes through the module's `numpy`
    numpy = submission.np if has_np else submission.numpy
    for name in INITS:
        before, after, a, b, c = generators_and_draws(submission, numpy, name, fast)
        if not np.array_equal(a, b):
            raise Mistake(f"{name}: two calls with generators seeded the same way (np.random.default_rng(7)) "
                          "returned different weights (NumPy's global seed was 1 for the first call, 2 for the "
                          "second). Looks like you draw from NumPy's global state (np.random.randn, "
                          "np.random.uniform, ...) instead of the rng argument: use rng.normal / rng.uniform, so "
                          "experiments are reproducible.")
        if np.array_equal(a, c):
            raise Mistake(f"{name}: generators with different seeds (7 and 8) gave identical weights. Looks like "
                          "you create or seed your own generator inside the function (np.random.seed, "
                          "default_rng(0)); draw from the rng argument instead.")
        if before == after:
            raise Mistake(f"{name}: the rng argument was not used (its state did not change). Draw the weights "
                          "with rng.normal / rng.uniform.")


@pytest.mark.points(14)
@pytest.mark.visibility("visible")
def test_xavier_uniform_distribution(submission):
    """xavier_uniform: uniform on ±sqrt(6/(fan_in+fan_out)), mean 0, variance 2/(fan_in+fan_out)"""
    distribution_check(submission, "xavier_uniform")


@pytest.mark.points(14)
@pytest.mark.visibility("visible")
def test_xavier_normal_distribution(submission):
    """xavier_normal: mean 0, variance 2/(fan_in+fan_out)"""
    distribution_check(submission, "xavier_normal")


@pytest.mark.points(14)
@pytest.mark.visibility("visible")
def test_he_uniform_distribution(submission):
    """he_uniform: uniform on ±sqrt(6/fan_in), mean 0, variance 2/fan_in"""
    distribution_check(submission, "he_uniform")


@pytest.mark.points(14)
@pytest.mark.visibility("visible")
def test_he_normal_distribution(submission):
    """he_normal: mean 0, variance 2/fan_in"""
    distribution_check(submission, "he_normal")


@pytest.mark.points(12)
@pytest.mark.visibility("visible")
def test_lecun_normal_distribution(submission):
    """lecun_normal: mean 0, variance 1/fan_in"""
    distribution_check(submission, "lecun_normal")


@pytest.mark.points(8)
@pytest.mark.visibility("hidden")
def test_normals_are_plain_not_truncated(submission):
    """The normal initializers draw a plain normal (with tails beyond 2 sigma), not a truncated one"""
    # 2 sizes x 3 initializers x 2 fractions = 12 z-tests at 5.5 sigma: P(false failure) < 5e-7.
    rng = remote_rng(submission, 2000)  # one call per draw: big draws come back faster that way
    for name in NORMAL:
        for fan_in, fan_out in SIZES[:2]:
            check_normal_tails(name, draw(submission, name, fan_in, fan_out, rng), fan_in, fan_out)


@pytest.mark.points(4)
@pytest.mark.visibility("after_due_date")
@pytest.mark.requires("xavier_uniform_distribution", "xavier_normal_distribution", "he_uniform_distribution",
                      "he_normal_distribution", "lecun_normal_distribution")
def test_every_weight_is_an_independent_draw(submission):
    """Every weight is its own draw: no repeated rows, columns or values (symmetry breaking)"""
    # 12 000 continuous draws: P(two equal float64 values) < 1e-8 per initializer.
    rng = remote_rng(submission, 3000)
    for name in INITS:
        w = draw(submission, name, 100, 120, rng)
        distinct = np.unique(w).size
        if distinct < w.size:
            raise Mistake(f"{name}(100, 120, rng): only {distinct} distinct values among {w.size} weights. Looks "
                          "like the same random numbers are reused (e.g. one row or column broadcast to the "
                          "whole matrix). Neurons with identical weights compute the same thing and get the same "
                          "gradient, so they never become different: draw every weight independently with "
                          "size=(fan_in, fan_out).")
