"""The clipping reference agrees with torch.nn.utils.clip_grad_norm_ and clip_grad_value_."""

from __future__ import annotations

import numpy as np
import pytest

from solutions import clipping as ref

torch = pytest.importorskip("torch")

SHAPES = [(3, 4), (4,), (2, 3, 2), (1,)]


def _torch_params(grads: list[np.ndarray]) -> list:
    params = []
    for g in grads:
        p = torch.zeros(g.shape, dtype=torch.float64, requires_grad=True)
        p.grad = torch.tensor(g, dtype=torch.float64)
        params.append(p)
    return params


@pytest.mark.parametrize("scale", [0.01, 1.0, 30.0])
@pytest.mark.parametrize("max_norm", [0.5, 5.0])
def test_clip_by_global_norm_matches_clip_grad_norm_(scale: float, max_norm: float) -> None:
    rng = np.random.default_rng(int(scale * 100) + int(max_norm * 10))
    grads = [rng.normal(size=s) * scale for s in SHAPES]
    mine, norm = ref.clip_by_global_norm(grads, max_norm)
    params = _torch_params(grads)
    total = torch.nn.utils.clip_grad_norm_(params, max_norm)
    assert norm == pytest.approx(total.item(), rel=1e-12)
    # torch scales by max_norm / (total_norm + 1e-6) (its clip_coef), we by max_norm / total_norm,
    # so the clipped values agree only up to a relative 1e-6 / total_norm.
    for m, p in zip(mine, params, strict=True):
        np.testing.assert_allclose(m, p.grad.numpy(), rtol=1e-5, atol=1e-12)


def test_clip_by_global_norm_of_zero_matches_torch() -> None:
    grads = [np.zeros(s) for s in SHAPES]
    mine, norm = ref.clip_by_global_norm(grads, 1.0)
    params = _torch_params(grads)
    total = torch.nn.utils.clip_grad_norm_(params, 1.0)
    assert norm == total.item() == 0.0
    for m, p in zip(mine, params, strict=True):
        np.testing.assert_array_equal(m, p.grad.numpy())


def test_clip_by_norm_is_global_norm_of_one_tensor() -> None:
    rng = np.random.default_rng(7)
    g = rng.normal(size=(5, 6)) * 3
    (p,) = _torch_params([g])
    torch.nn.utils.clip_grad_norm_([p], 2.0)
    np.testing.assert_allclose(ref.clip_by_norm(g, 2.0), p.grad.numpy(), rtol=1e-5)


@pytest.mark.parametrize("clip_value", [0.1, 1.0, 5.0])
def test_clip_by_value_matches_clip_grad_value_(clip_value: float) -> None:
    rng = np.random.default_rng(int(clip_value * 10))
    grads = [rng.normal(size=s) * 3 for s in SHAPES]
    mine = ref.clip_by_value(grads, clip_value)
    params = _torch_params(grads)
    torch.nn.utils.clip_grad_value_(params, clip_value)
    for m, p in zip(mine, params, strict=True):
        np.testing.assert_array_equal(m, p.grad.numpy())
