"""The residual reference agrees with PyTorch: forward values and autograd gradients."""

from __future__ import annotations

import numpy as np
import pytest

from solutions import residual as ref

torch = pytest.importorskip("torch")


def _t(a: np.ndarray, grad: bool = False):
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


@pytest.mark.parametrize(("N", "D", "H"), [(7, 5, 4), (1, 3, 1), (16, 8, 32)])
def test_residual_forward_backward_match_autograd(N: int, D: int, H: int) -> None:
    rng = np.random.default_rng(N * 100 + D * 10 + H)
    x = rng.normal(size=(N, D))
    W1, b1 = rng.normal(size=(D, H)) / np.sqrt(D), rng.normal(size=H)
    W2, b2 = rng.normal(size=(H, D)) / np.sqrt(H), rng.normal(size=D)
    dout = rng.normal(size=(N, D))

    out, cache = ref.residual_forward(x, W1, b1, W2, b2)
    grads = ref.residual_backward(dout, cache)

    tensors = [_t(a, True) for a in (x, W1, b1, W2, b2)]
    tx, tW1, tb1, tW2, tb2 = tensors
    relu = torch.nn.functional.relu
    tout = relu(tx + relu(tx @ tW1 + tb1) @ tW2 + tb2)
    tout.backward(_t(dout))

    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-12, atol=1e-12)
    for name, mine, t in zip(("dx", "dW1", "db1", "dW2", "db2"), grads, tensors, strict=True):
        assert mine.shape == t.shape, name
        np.testing.assert_allclose(mine, t.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)
