"""The normalization reference agrees with PyTorch (forward, autograd backward, BatchNorm1d)."""

from __future__ import annotations

import numpy as np
import pytest

from solutions import normalization as ref

torch = pytest.importorskip("torch")


def _t(a: np.ndarray, grad: bool = False):
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


@pytest.mark.parametrize("shape", [(7, 5), (2, 3), (64, 1)])
def test_batchnorm_forward_backward_match_autograd(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(2.0, 3.0, size=shape)
    gamma, beta = rng.normal(size=shape[1]), rng.normal(size=shape[1])
    dout = rng.normal(size=shape)

    out, cache = ref.batchnorm_forward(x, gamma, beta)
    dx, dgamma, dbeta = ref.batchnorm_backward(dout, cache)

    tx, tg, tb = _t(x, True), _t(gamma, True), _t(beta, True)
    tout = torch.nn.functional.batch_norm(tx, None, None, tg, tb, training=True, eps=1e-5)
    tout.backward(_t(dout))
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(dgamma, tg.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dbeta, tb.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape", [(7, 5), (1, 6), (3, 2)])
def test_layernorm_forward_backward_match_autograd(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(-1.0, 2.0, size=shape)
    gamma, beta = rng.normal(size=shape[1]), rng.normal(size=shape[1])
    dout = rng.normal(size=shape)

    out, cache = ref.layernorm_forward(x, gamma, beta)
    dx, dgamma, dbeta = ref.layernorm_backward(dout, cache)

    tx, tg, tb = _t(x, True), _t(gamma, True), _t(beta, True)
    tout = torch.nn.functional.layer_norm(tx, (shape[1],), tg, tb, eps=1e-5)
    tout.backward(_t(dout))
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(dgamma, tg.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dbeta, tb.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_batchnorm1d_trajectory_matches_torch() -> None:
    rng = np.random.default_rng(3)
    d = 4
    ours = ref.BatchNorm1d(d, momentum=0.2, eps=1e-4)
    theirs = torch.nn.BatchNorm1d(d, momentum=0.2, eps=1e-4).double()
    gamma, beta = rng.normal(size=d), rng.normal(size=d)
    ours.gamma, ours.beta = gamma.copy(), beta.copy()
    with torch.no_grad():
        theirs.weight.copy_(_t(gamma))
        theirs.bias.copy_(_t(beta))

    np.testing.assert_array_equal(ours.running_mean, theirs.running_mean.numpy())
    np.testing.assert_array_equal(ours.running_var, theirs.running_var.numpy())
    theirs.train()
    for n in (5, 2, 9, 3):
        x = rng.normal(1.5, 2.0, size=(n, d))
        np.testing.assert_allclose(ours.forward(x, training=True), theirs(_t(x)).detach().numpy(), rtol=1e-10)
        np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), rtol=1e-12)
        np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), rtol=1e-12)

    theirs.eval()
    for n in (1, 6):
        x = rng.normal(size=(n, d))
        np.testing.assert_allclose(ours.forward(x, training=False), theirs(_t(x)).detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), rtol=1e-12)


def test_batchnorm1d_single_sample_training_raises_like_torch() -> None:
    x = np.ones((1, 3))
    with pytest.raises(ValueError):
        torch.nn.BatchNorm1d(3).double().train()(_t(x))
    with pytest.raises(ValueError):
        ref.BatchNorm1d(3).forward(x, training=True)


def test_batchnorm_forward_single_sample_returns_beta() -> None:
    # torch's functional batch_norm refuses N=1 in training; our contract returns beta (x - mean = 0).
    with pytest.raises(ValueError):
        torch.nn.functional.batch_norm(_t(np.ones((1, 2))), None, None, training=True)
    beta = np.array([0.5, -1.0])
    out, _ = ref.batchnorm_forward(np.array([[3.0, 4.0]]), np.array([2.0, 3.0]), beta)
    np.testing.assert_array_equal(out, beta[None, :])
