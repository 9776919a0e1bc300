"""Activations, their derivatives, and how gradients fade or blow up across layers.

Backpropagation multiplies one activation derivative per layer. Sigmoid's derivative is
at most 0.25 (at z = 0), so after n sigmoid layers the gradient has shrunk by at least
0.25**n: after 10 layers, a millionth. ReLU's derivative is exactly 1 where the unit is
active, which is why modern hidden layers use ReLU and its variants.

You implement the derivatives, then measure the effect: `layer_gradient_norms` pushes a
gradient backwards through a small network and records its size at every layer, and
`diagnose_gradients` reads those sizes with the lecture's thresholds (vanished below
1e-6, weak below 1e-4, exploding above 100).

Conventions: inputs are float64 NumPy arrays of any shape and outputs have the same
shape and dtype float64. Do not modify your inputs. A batch is rows: activations have
shape (N, D), and a layer computes z = h @ W with W of shape (fan_in, fan_out).
"""

from __future__ import annotations

import numpy as np


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Logistic sigmoid 1 / (1 + exp(-z)), numerically stable.

    Args:
        z: array of any shape.

    Returns:
        array of the same shape with values in [0, 1]. Must not overflow (no warning, no
        NaN) for |z| up to 1e4: never evaluate exp of a large positive number.
    """
    # BEGIN SOLUTION
    z = np.asarray(z, dtype=float)
    e = np.exp(-np.abs(z))  # always in (0, 1]: no overflow
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    # END SOLUTION


def sigmoid_derivative(z: np.ndarray) -> np.ndarray:
    """Derivative of the sigmoid with respect to z: s * (1 - s) with s = sigmoid(z).

    Args:
        z: pre-activation, array of any shape.

    Returns:
        array of the same shape. Its maximum is 0.25, at z = 0.
    """
    # BEGIN SOLUTION
    s = sigmoid(z)
    return s * (1.0 - s)
    # END SOLUTION


def tanh_derivative(z: np.ndarray) -> np.ndarray:
    """Derivative of tanh with respect to z: 1 - tanh(z)**2.

    Args:
        z: pre-activation, array of any shape.

    Returns:
        array of the same shape, in (0, 1]; equal to 1 at z = 0.
    """
    # BEGIN SOLUTION
    t = np.tanh(np.asarray(z, dtype=float))
    return 1.0 - t * t
    # END SOLUTION


def relu_derivative(z: np.ndarray) -> np.ndarray:
    """Derivative of ReLU max(0, z): 1.0 where z > 0, else 0.0 (also 0.0 at z == 0).

    Args:
        z: pre-activation, array of any shape.

    Returns:
        float64 array of the same shape (not bool).
    """
    # BEGIN SOLUTION
    return (np.asarray(z) > 0).astype(float)
    # END SOLUTION


def leaky_relu_derivative(z: np.ndarray, alpha: float = 0.01) -> np.ndarray:
    """Derivative of leaky ReLU: 1.0 where z > 0, alpha where z <= 0.

    Args:
        z: pre-activation, array of any shape.
        alpha: slope for z <= 0.

    Returns:
        float64 array of the same shape.
    """
    # BEGIN SOLUTION
    return np.where(np.asarray(z) > 0, 1.0, float(alpha))
    # END SOLUTION


def elu_derivative(z: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """Derivative of ELU (z for z > 0, alpha * (exp(z) - 1) otherwise).

    Args:
        z: pre-activation, array of any shape.
        alpha: ELU's alpha.

    Returns:
        float64 array of the same shape: 1.0 where z > 0, alpha * exp(z) where z <= 0.
    """
    # BEGIN SOLUTION
    z = np.asarray(z, dtype=float)
    return np.where(z > 0, 1.0, alpha * np.exp(np.minimum(z, 0.0)))
    # END SOLUTION


def layer_gradient_norms(grad_output: np.ndarray, weights: list[np.ndarray], pre_activations: list[np.ndarray],
                         activation: str = "sigmoid") -> list[float]:
    """Backpropagate a gradient through a stack of layers and record its size at each one.

    The network has L layers: z_l = h_{l-1} @ W_l and h_l = f(z_l) for l = 1..L, where h_0
    is the input and f is the activation.

    Args:
        grad_output: dL/dh_L, shape (N, D_L).
        weights: [W_1, ..., W_L], W_l of shape (D_{l-1}, D_l).
        pre_activations: [z_1, ..., z_L], z_l of shape (N, D_l), from the forward pass.
        activation: "sigmoid", "tanh" or "relu"; use YOUR derivative functions above.

    Returns:
        L Python floats: the Frobenius norm (over the whole batch) of dL/dh_{l-1}, the
        gradient at the input of layer l, for l = L, L-1, ..., 1 (last layer first).

    Raises:
        ValueError: for an unknown activation name.
    """
    # BEGIN SOLUTION
    derivatives = {"sigmoid": sigmoid_derivative, "tanh": tanh_derivative, "relu": relu_derivative}
    if activation not in derivatives:
        raise ValueError(f"unknown activation {activation!r}; use one of {sorted(derivatives)}")
    derivative = derivatives[activation]
    grad = np.asarray(grad_output, dtype=float)
    norms = []
    for W, z in zip(reversed(weights), reversed(pre_activations)):
        grad = (grad * derivative(z)) @ W.T
        norms.append(float(np.linalg.norm(grad)))
    return norms
    # END SOLUTION


def diagnose_gradients(grad_norms: list[float], vanish: float = 1e-6, weak: float = 1e-4,
                       explode: float = 100.0) -> dict:
    """Read layer gradient norms with the lecture's gradient-health thresholds.

    Args:
        grad_norms: one gradient norm per layer.
        vanish: below this a layer's gradient has vanished.
        weak: below this it is weak (vanished layers count as weak too).
        explode: above this it is exploding.

    Returns:
        {"vanished": int, "weak": int, "exploding": int, "status": str} where status is
        "critical" if any layer vanished or exploded or any norm is NaN/inf, "warning" if
        at least 2 layers are weak, otherwise "healthy".
    """
    # BEGIN SOLUTION
    norms = np.asarray(grad_norms, dtype=float)
    vanished = int(np.sum(norms < vanish))
    weak_count = int(np.sum(norms < weak))
    exploding = int(np.sum(norms > explode))
    if vanished or exploding or not np.all(np.isfinite(norms)):
        status = "critical"
    elif weak_count >= 2:
        status = "warning"
    else:
        status = "healthy"
    return {"vanished": vanished, "weak": weak_count, "exploding": exploding, "status": status}
    # END SOLUTION
