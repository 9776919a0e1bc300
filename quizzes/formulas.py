"""The course's formulas, exposed to bank expressions as sandbox globals.

Every function takes and returns plain numbers or lists of numbers, so a bank
expression can call it but never reach an object it could climb out of the
sandbox with. The conventions follow the course material (seeds 003 and 004):
biased batch variance, 1-based epochs, the lecture's gradient-health thresholds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

# Gradient-health thresholds from the week-5 lecture notes.
VANISHED_BELOW = 1e-6
WEAK_BELOW = 1e-4
EXPLODING_ABOVE = 100.0


def sigmoid(z: float) -> float:
    """σ(z) = 1 / (1 + e^-z)."""
    return 1.0 / (1.0 + math.exp(-z))


def sigmoid_grad(z: float) -> float:
    """σ'(z) = σ(z)(1 - σ(z)); at most 0.25, reached at z = 0."""
    s = sigmoid(z)
    return s * (1.0 - s)


def tanh_grad(z: float) -> float:
    """tanh'(z) = 1 - tanh(z)^2; at most 1, reached at z = 0."""
    return 1.0 - math.tanh(z) ** 2


def relu_grad(z: float) -> float:
    """ReLU'(z) = 1 if z > 0 else 0."""
    return 1.0 if z > 0 else 0.0


def xavier_var(fan_in: float, fan_out: float) -> float:
    """Xavier/Glorot variance 2 / (fan_in + fan_out)."""
    return 2.0 / (fan_in + fan_out)


def he_var(fan_in: float) -> float:
    """He (Kaiming) variance 2 / fan_in, for ReLU layers."""
    return 2.0 / fan_in


def lecun_var(fan_in: float) -> float:
    """LeCun variance 1 / fan_in."""
    return 1.0 / fan_in


def uniform_bound(var: float) -> float:
    """Bound a of U(-a, a) with the given variance: Var = a^2 / 3, so a = sqrt(3 var)."""
    return math.sqrt(3.0 * var)


def norm(vec: Sequence[float]) -> float:
    """Euclidean (L2) norm of a vector."""
    return math.sqrt(sum(float(x) * float(x) for x in vec))


def global_norm(vecs: Sequence[Sequence[float]]) -> float:
    """L2 norm of several vectors taken together: sqrt(sum of squared norms)."""
    return math.sqrt(sum(norm(v) ** 2 for v in vecs))


def scale(vec: Sequence[float], k: float) -> list[float]:
    """k * vec, element by element."""
    return [float(x) * k for x in vec]


def clip_by_norm(vec: Sequence[float], max_norm: float) -> list[float]:
    """Rescale vec to norm max_norm when its norm exceeds it; the direction is kept."""
    n = norm(vec)
    return [float(x) for x in vec] if n <= max_norm else scale(vec, max_norm / n)


def clip_by_value(vec: Sequence[float], limit: float) -> list[float]:
    """Clamp every element to [-limit, limit]; this can change the direction."""
    return [max(-limit, min(limit, float(x))) for x in vec]


def clip_by_global_norm(vecs: Sequence[Sequence[float]], max_norm: float) -> list[list[float]]:
    """Rescale all vectors by one factor so that their global norm is at most max_norm."""
    g = global_norm(vecs)
    k = 1.0 if g <= max_norm else max_norm / g
    return [scale(v, k) for v in vecs]


def adam_first_step(
    grad: float, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8, corrected: bool = True
) -> float:
    """The update Adam makes on step t = 1 from zero moments (subtract it from the parameter).

    With bias correction m_hat = g and v_hat = g^2, so the step is lr * g / (|g| + eps) ≈ lr * sign(g):
    the first step has magnitude ≈ lr whatever the gradient's size. Without correction the step is
    lr * (1 - beta1) g / (sqrt(1 - beta2) |g| + eps), about 3.16 lr for the default betas.
    """
    m = (1.0 - beta1) * grad
    v = (1.0 - beta2) * grad * grad
    if corrected:
        m, v = m / (1.0 - beta1), v / (1.0 - beta2)
    return lr * m / (math.sqrt(v) + eps)


def adam_moments(grads: Sequence[float], beta1: float = 0.9, beta2: float = 0.999) -> list[float]:
    """[m_t, v_t, m_hat, v_hat] after feeding grads one step at a time, from zero moments."""
    m = v = 0.0
    for g in grads:
        m = beta1 * m + (1.0 - beta1) * g
        v = beta2 * v + (1.0 - beta2) * g * g
    t = len(grads)
    return [m, v, m / (1.0 - beta1**t), v / (1.0 - beta2**t)]


def mean(xs: Sequence[float]) -> float:
    """Arithmetic mean."""
    return sum(float(x) for x in xs) / len(xs)


def variance(xs: Sequence[float], ddof: int = 0) -> float:
    """Variance; ddof=0 is the biased (batch-norm) variance, ddof=1 the unbiased one."""
    mu = mean(xs)
    return sum((float(x) - mu) ** 2 for x in xs) / (len(xs) - ddof)


def batchnorm(
    xs: Sequence[float], gamma: float = 1.0, beta: float = 0.0, eps: float = 1e-5, ddof: int = 0
) -> list[float]:
    """Batch-norm outputs for one feature over a batch: gamma (x - mu) / sqrt(var + eps) + beta."""
    mu, var = mean(xs), variance(xs, ddof)
    return [gamma * (float(x) - mu) / math.sqrt(var + eps) + beta for x in xs]


def early_stopping(losses: Sequence[float], patience: int, min_delta: float = 0.0) -> list[int]:
    """[stop_epoch, best_epoch] (1-based) for a validation-loss sequence.

    An epoch improves when its loss < best - min_delta; training stops at the epoch where
    `patience` epochs in a row have passed without improvement, and the weights of the best
    epoch are restored. If that never happens, training runs to the last epoch.
    """
    best, best_epoch, waited = math.inf, 0, 0
    for epoch, loss in enumerate(losses, start=1):
        if loss < best - min_delta:
            best, best_epoch, waited = float(loss), epoch, 0
        else:
            waited += 1
            if waited >= patience:
                return [epoch, best_epoch]
    return [len(losses), best_epoch]


def count_vanished(norms: Sequence[float]) -> int:
    """Layers whose gradient norm is below 1e-6."""
    return sum(1 for g in norms if math.isfinite(g) and g < VANISHED_BELOW)


def count_weak(norms: Sequence[float]) -> int:
    """Layers whose gradient norm is below 1e-4, counted as the lecture's monitor does (vanished included)."""
    return sum(1 for g in norms if math.isfinite(g) and g < WEAK_BELOW)


def count_exploding(norms: Sequence[float]) -> int:
    """Layers whose gradient norm is above 100."""
    return sum(1 for g in norms if math.isfinite(g) and g > EXPLODING_ABOVE)


def grad_health(norms: Sequence[float]) -> str:
    """'critical' if any norm vanished, exploded or is not finite; 'warning' if 2+ are weak; else 'healthy'.

    Weak layers only matter once no layer has vanished, so counting vanished layers as weak (as the
    lecture's monitor does) gives the same diagnosis as counting only the 1e-6..1e-4 band.
    """
    if any(not math.isfinite(g) for g in norms) or count_vanished(norms) or count_exploding(norms):
        return "critical"
    return "warning" if count_weak(norms) >= 2 else "healthy"


def health_norms(case: str, u: Sequence[float]) -> list[float]:
    """A list of layer gradient norms that has the given diagnosis, built from uniform draws u in [0, 1).

    case is one of 'healthy', 'warning', 'vanished', 'exploding'. The result has len(u) layers,
    ordered from the input layer to the output layer.
    """
    n = len(u)

    def between(lo_exp: float, hi_exp: float, x: float) -> float:
        return float(f"{10 ** (lo_exp + (hi_exp - lo_exp) * x):.2g}")

    norms = [between(-3.5, -0.2, x) for x in u]  # healthy band: 1e-4 .. 1
    if case == "warning":
        norms[0] = between(-5.9, -4.2, u[0])
        norms[1] = between(-5.9, -4.2, u[1])
    elif case == "vanished":
        norms[0] = between(-8.5, -6.3, u[0])
        norms[1] = between(-5.9, -4.2, u[1])
    elif case == "exploding":
        norms[0] = between(2.3, 4.5, u[0])
    elif case != "healthy":
        raise ValueError(f"unknown case {case!r}")
    # One lone weak layer is still healthy: put one in some healthy lists to make them less obvious.
    if case == "healthy" and n > 3 and u[-1] > 0.5:
        norms[1] = between(-5.5, -4.2, u[1])
    return norms


def health_case_norms(case: str, u: Sequence[float]) -> list[float]:
    """Like health_norms, but every list reads the same under the lecture's prose, the lecture's code
    and the assignment's diagnose_gradients.

    The lecture's prose warns at "2-3 weak layers" while its code warns only above 2, so warning lists
    have three weak layers; healthy lists keep max/min below 10^4 (the lecture's spread warning), a lone
    weak layer included, so no rule the course states calls them anything but healthy.
    """
    n = len(u)

    def between(lo_exp: float, hi_exp: float, x: float) -> float:
        return float(f"{10 ** (lo_exp + (hi_exp - lo_exp) * x):.2g}")

    lone_weak = case == "healthy" and n > 3 and u[-1] > 0.5
    norms = [between(-3.3, -0.9 if lone_weak else -0.2, x) for x in u]  # healthy band, spread < 10^4
    if lone_weak:
        norms[1] = between(-4.6, -4.15, u[1])
    elif case == "warning":
        for i in range(min(3, n)):
            norms[i] = between(-5.7, -4.2, u[i])
    elif case == "vanished":
        norms[0] = between(-8.5, -6.3, u[0])
        norms[1] = between(-5.7, -4.2, u[1])
    elif case == "exploding":
        norms[0] = between(2.3, 4.5, u[0])
    elif case != "healthy":
        raise ValueError(f"unknown case {case!r}")
    return norms


def val_losses(u: Sequence[float], turn: int, start: float = 1.0) -> list[float]:
    """A plausible validation-loss curve from uniform draws u (3 decimals).

    It falls, with an occasional one-epoch bump, until epoch `turn`, then creeps up. When
    u[turn + 1] < 0.5 the epoch two after the turn is a tiny new best (0.004 lower): it counts
    as an improvement with min_delta = 0 but not with min_delta >= 0.005.
    """
    losses: list[float] = []
    loss = start
    for epoch, x in enumerate((float(v) for v in u), start=1):
        if epoch <= turn:
            loss = loss + 0.01 if (x > 0.85 and 1 < epoch < turn) else loss - (0.03 + 0.08 * x)
        elif epoch == turn + 2 and len(u) > turn + 1 and float(u[turn + 1]) < 0.5:
            loss = min(losses[:turn]) - 0.004
        else:
            floor = min(losses) + 0.002
            loss = max(floor, loss + (0.005 + 0.03 * x if x < 0.7 else -0.004))
        loss = round(max(loss, 0.05), 3)
        losses.append(loss)
    return losses


def min_gap(values: Sequence[float]) -> float:
    """The smallest distance between any two of the values: a where: rule keeps a key and its
    misconceptions apart with it, e.g. min_gap([key, wrong1, wrong2]) > 0.02."""
    xs = sorted(float(v) for v in values)
    return min((b - a for a, b in zip(xs, xs[1:])), default=math.inf)


def paren(x: float) -> str:
    """x as the num filter prints it, in brackets when negative: 0.5 × (-0.73) + (-1), never + -1."""
    from .render import fmt_num  # render imports this module, so import at call time

    text = fmt_num(x)
    return f"({text})" if text.startswith("-") else text


def sig_round(x: float, sig: int = 3) -> float:
    """x rounded to sig significant digits."""
    return float(f"{x:.{sig}g}")


# The names a bank expression can call; nothing else of Python is reachable.
FUNCTIONS = {
    f.__name__: f
    for f in (
        sigmoid,
        sigmoid_grad,
        tanh_grad,
        relu_grad,
        xavier_var,
        he_var,
        lecun_var,
        uniform_bound,
        norm,
        global_norm,
        scale,
        clip_by_norm,
        clip_by_value,
        clip_by_global_norm,
        adam_first_step,
        adam_moments,
        mean,
        variance,
        batchnorm,
        early_stopping,
        count_vanished,
        count_weak,
        count_exploding,
        grad_health,
        health_norms,
        health_case_norms,
        val_losses,
        sig_round,
        paren,
        min_gap,
    )
}
