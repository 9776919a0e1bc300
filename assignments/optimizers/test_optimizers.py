"""Public tests for the optimizers assignment: run them with `deepgrade check optimizers`.

A few honest checks; the hidden graders compare whole 50+ step trajectories with
PyTorch's update rules on several parameter shapes, so passing these is not the end.
"""

import numpy as np
from optimizers import SGD, Adam, RMSProp


def test_sgd_plain_step():
    p, g = np.array([1.0, -2.0, 3.0]), np.array([0.5, 0.5, -1.0])
    (new,) = SGD(lr=0.1).update([p], [g])
    np.testing.assert_allclose(new, [0.95, -2.05, 3.1])


def test_sgd_momentum_two_steps_by_hand():
    opt = SGD(lr=0.1, momentum=0.9)
    p, g = np.array([1.0]), np.array([1.0])
    (p1,) = opt.update([p], [g])  # buf = g = 1            -> p = 1 - 0.1 * 1
    (p2,) = opt.update([p1], [g])  # buf = 0.9 * 1 + 1 = 1.9 -> p = 0.9 - 0.19
    np.testing.assert_allclose([p1[0], p2[0]], [0.9, 0.71])


def test_rmsprop_first_step_by_hand():
    p, g = np.array([0.0, 0.0]), np.array([2.0, -0.5])
    (new,) = RMSProp(lr=0.01, alpha=0.99, eps=1e-8).update([p], [g])
    # v = 0.01 * g**2, so the step is lr * g / (0.1 * |g| + eps) = 0.1 * sign(g)
    np.testing.assert_allclose(new, [-0.1, 0.1], rtol=1e-6)


def test_adam_first_step_has_size_lr():
    p, g = np.zeros(4), np.array([3.0, -0.2, 1e-3, -50.0])
    (new,) = Adam(lr=1e-3).update([p], [g])
    # bias correction makes m_hat = g and v_hat = g**2 on the first step
    np.testing.assert_allclose(new, -1e-3 * np.sign(g), rtol=1e-4)


def test_update_returns_new_arrays_and_keeps_inputs():
    params = [np.ones((2, 3)), np.zeros(4)]
    grads = [np.full((2, 3), 0.5), np.arange(4.0)]
    for opt in (SGD(lr=0.1, momentum=0.9), RMSProp(), Adam()):
        new = opt.update(params, grads)
        assert isinstance(new, list) and [a.shape for a in new] == [(2, 3), (4,)]
        np.testing.assert_array_equal(params[0], np.ones((2, 3)))
        np.testing.assert_array_equal(grads[1], np.arange(4.0))


def test_zero_gradients_leave_parameters_unchanged():
    params = [np.array([1.0, -1.0]), np.full((2, 2), 3.0)]
    zeros = [np.zeros(2), np.zeros((2, 2))]
    for opt in (SGD(momentum=0.9), RMSProp(), Adam()):
        new = opt.update(params, zeros)
        for a, b in zip(new, params):
            np.testing.assert_array_equal(a, b)
