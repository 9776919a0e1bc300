"""Optimizers: SGD with momentum, RMSProp and Adam, step by step.

Plain gradient descent takes the same step size in every direction. On the loss surfaces of
deep networks that is a problem: some directions are steep and some are flat, gradients
are noisy, and their scale changes by orders of magnitude from layer to layer (vanishing
and exploding gradients). The optimizers in this assignment fix that in two ways:

- **momentum** (`SGD(momentum=...)`) keeps a running sum of past gradients, so steps build
  up speed along consistent directions and noisy components cancel out;
- **adaptive step sizes** (`RMSProp`, `Adam`) divide each coordinate's step by a running
  root-mean-square of its gradients, so coordinates with tiny gradients still move and
  coordinates with huge gradients do not blow up. Adam combines both and adds *bias
  correction*: its running averages start at zero, so without correction the first steps
  would be badly scaled.

Every optimizer has the same interface as the lecture's `SimpleAdam`:

    opt = Adam(lr=1e-3)
    params = [W1, b1, W2, b2]
    for step in range(n_steps):
        grads = compute_gradients(params)          # one gradient array per parameter
        params = opt.update(params, grads)         # a NEW list of NEW arrays

Conventions (the graders check all of them):

- `params` and `grads` are lists of float64 arrays of any shapes; `grads[i]` has the shape
  of `params[i]`. `update` returns a new list of new arrays and never modifies its inputs.
- Optimizer state (momentum buffers, running averages) is kept **per parameter index**
  between calls: parameter 0 has its own buffers, parameter 1 its own, and so on.
- The update rules are exactly those of `torch.optim.SGD`, `torch.optim.RMSprop` and
  `torch.optim.Adam` (default options otherwise: no weight decay, no Nesterov, no
  dampening, not centered, no AMSGrad), so given the same hyperparameters your trajectory
  matches PyTorch's to floating-point precision. The default hyperparameters of these
  classes are ours, not PyTorch's.
"""

from __future__ import annotations

import numpy as np


class SGD:
    """Stochastic gradient descent with optional (heavy-ball) momentum, as torch.optim.SGD.

    Without momentum: `p_new = p - lr * g`.
    With momentum, one buffer per parameter index:
        first step:  buf = g
        later steps: buf = momentum * buf + g
        p_new = p - lr * buf
    (torch.optim.SGD with dampening=0 and nesterov=False.)

    Args:
        lr: learning rate.
        momentum: momentum factor in [0, 1); 0.0 means plain SGD.
    """

    def __init__(self, lr: float = 0.01, momentum: float = 0.0) -> None:
        self.lr = lr
        self.momentum = momentum
        # BEGIN SOLUTION
        self.buffers: dict[int, np.ndarray] = {}
        # END SOLUTION

    def update(self, params: list[np.ndarray], grads: list[np.ndarray]) -> list[np.ndarray]:
        """One optimization step.

        Args:
            params: list of parameter arrays (any shapes, float64). Not modified.
            grads: list of gradient arrays, `grads[i].shape == params[i].shape`. Not modified.

        Returns:
            list of new parameter arrays, same shapes as `params`.
        """
        # BEGIN SOLUTION
        new_params = []
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            g = np.asarray(g, dtype=float)
            if self.momentum != 0.0:
                if i in self.buffers:
                    self.buffers[i] = self.momentum * self.buffers[i] + g
                else:
                    # torch starts the buffer at the first gradient, not at (1 - momentum) * g
                    self.buffers[i] = g.copy()
                g = self.buffers[i]
            new_params.append(np.asarray(p, dtype=float) - self.lr * g)
        return new_params
        # END SOLUTION


class RMSProp:
    """RMSProp, as torch.optim.RMSprop (not centered, no momentum).

    One running average of squared gradients per parameter index, starting at zero:
        v = alpha * v + (1 - alpha) * g**2
        p_new = p - lr * g / (sqrt(v) + eps)
    Note where eps goes: added to sqrt(v), not inside the square root.

    Args:
        lr: learning rate.
        alpha: smoothing constant of the running average of g**2.
        eps: small constant added to the denominator for numerical stability.
    """

    def __init__(self, lr: float = 0.01, alpha: float = 0.99, eps: float = 1e-8) -> None:
        self.lr = lr
        self.alpha = alpha
        self.eps = eps
        # BEGIN SOLUTION
        self.square_avg: dict[int, np.ndarray] = {}
        # END SOLUTION

    def update(self, params: list[np.ndarray], grads: list[np.ndarray]) -> list[np.ndarray]:
        """One optimization step.

        Args:
            params: list of parameter arrays (any shapes, float64). Not modified.
            grads: list of gradient arrays, `grads[i].shape == params[i].shape`. Not modified.

        Returns:
            list of new parameter arrays, same shapes as `params`.
        """
        # BEGIN SOLUTION
        new_params = []
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            g = np.asarray(g, dtype=float)
            v = self.square_avg.get(i, np.zeros_like(g))
            v = self.alpha * v + (1.0 - self.alpha) * g * g
            self.square_avg[i] = v
            new_params.append(np.asarray(p, dtype=float) - self.lr * g / (np.sqrt(v) + self.eps))
        return new_params
        # END SOLUTION


class Adam:
    """Adam with bias correction, as the lecture's SimpleAdam and torch.optim.Adam.

    One step counter `t` for the whole optimizer, incremented once per `update` call (so
    the first call uses t = 1), and two running averages per parameter index, starting at
    zero:
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        p_new = p - lr * m_hat / (sqrt(v_hat) + eps)
    eps is added outside the square root of the bias-corrected v, as in torch.optim.Adam.
    Thanks to bias correction the very first step has size about `lr` per coordinate.

    Args:
        lr: learning rate.
        beta1: decay rate of the first-moment (mean) estimate.
        beta2: decay rate of the second-moment (uncentered variance) estimate.
        eps: small constant added to the denominator for numerical stability.
    """

    def __init__(
        self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
    ) -> None:
        self.lr = lr
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        # BEGIN SOLUTION
        self.m: dict[int, np.ndarray] = {}
        self.v: dict[int, np.ndarray] = {}
        self.t = 0
        # END SOLUTION

    def update(self, params: list[np.ndarray], grads: list[np.ndarray]) -> list[np.ndarray]:
        """One optimization step (increments the step counter once).

        Args:
            params: list of parameter arrays (any shapes, float64). Not modified.
            grads: list of gradient arrays, `grads[i].shape == params[i].shape`. Not modified.

        Returns:
            list of new parameter arrays, same shapes as `params`.
        """
        # BEGIN SOLUTION
        self.t += 1  # once per call, before use: the first step has t = 1
        correction1 = 1.0 - self.beta1**self.t
        correction2 = 1.0 - self.beta2**self.t
        new_params = []
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            g = np.asarray(g, dtype=float)
            m = self.beta1 * self.m.get(i, np.zeros_like(g)) + (1.0 - self.beta1) * g
            v = self.beta2 * self.v.get(i, np.zeros_like(g)) + (1.0 - self.beta2) * g * g
            self.m[i], self.v[i] = m, v
            m_hat = m / correction1
            v_hat = v / correction2
            new_params.append(np.asarray(p, dtype=float) - self.lr * m_hat / (np.sqrt(v_hat) + self.eps))
        return new_params
        # END SOLUTION
