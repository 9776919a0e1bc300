"""The optimizers reference agrees with torch.optim.SGD, RMSprop and Adam over 100 steps."""

from __future__ import annotations

import numpy as np
import pytest

from solutions import optimizers as ref

torch = pytest.importorskip("torch")

SHAPES = [(3,), (4, 5), (2, 3, 2), (1,)]
STEPS = 100


def trajectories(ours, make_torch, seed: int, scales=(1.0, 1e-3, 20.0, 0.1)):
    """Run both optimizers on the same gradient sequence; yield (step, ours, torch's) parameters."""
    rng = np.random.default_rng(seed)
    start = [rng.normal(size=s) for s in SHAPES]
    tparams = [torch.tensor(p, dtype=torch.float64, requires_grad=True) for p in start]
    topt = make_torch(tparams)
    params = [p.copy() for p in start]
    for step in range(STEPS):
        grads = [scale * rng.normal(size=s) for s, scale in zip(SHAPES, scales, strict=True)]
        if step % 17 == 5:  # an all-zero gradient now and then
            grads[0] = np.zeros(SHAPES[0])
        params = ours.update(params, grads)
        for p, g in zip(tparams, grads, strict=True):
            p.grad = torch.tensor(g, dtype=torch.float64)
        topt.step()
        yield step, params, [p.detach().numpy() for p in tparams]


def assert_same(ours, make_torch, seed: int) -> None:
    for step, mine, theirs in trajectories(ours, make_torch, seed):
        for i, (a, b) in enumerate(zip(mine, theirs, strict=True)):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=f"step {step + 1}, parameter {i}")


@pytest.mark.parametrize("lr, momentum", [(0.01, 0.0), (0.05, 0.0), (0.01, 0.9), (0.02, 0.5)])
def test_sgd_matches_torch(lr: float, momentum: float) -> None:
    assert_same(ref.SGD(lr=lr, momentum=momentum), lambda ps: torch.optim.SGD(ps, lr=lr, momentum=momentum), seed=1)


@pytest.mark.parametrize("lr, alpha, eps", [(0.01, 0.99, 1e-8), (0.001, 0.9, 1e-6)])
def test_rmsprop_matches_torch(lr: float, alpha: float, eps: float) -> None:
    assert_same(ref.RMSProp(lr=lr, alpha=alpha, eps=eps),
                lambda ps: torch.optim.RMSprop(ps, lr=lr, alpha=alpha, eps=eps), seed=2)


@pytest.mark.parametrize("lr, beta1, beta2, eps", [(1e-3, 0.9, 0.999, 1e-8), (0.01, 0.8, 0.99, 1e-6)])
def test_adam_matches_torch(lr: float, beta1: float, beta2: float, eps: float) -> None:
    assert_same(ref.Adam(lr=lr, beta1=beta1, beta2=beta2, eps=eps),
                lambda ps: torch.optim.Adam(ps, lr=lr, betas=(beta1, beta2), eps=eps), seed=3)


def test_defaults_are_ours_not_torchs() -> None:
    # the contract's defaults: SGD lr=0.01, RMSProp lr=0.01, Adam lr=1e-3 (torch's RMSprop and SGD differ)
    assert (ref.SGD().lr, ref.SGD().momentum) == (0.01, 0.0)
    assert (ref.RMSProp().lr, ref.RMSProp().alpha, ref.RMSProp().eps) == (0.01, 0.99, 1e-8)
    adam = ref.Adam()
    assert (adam.lr, adam.beta1, adam.beta2, adam.eps) == (1e-3, 0.9, 0.999, 1e-8)
    assert_same(ref.Adam(), lambda ps: torch.optim.Adam(ps, lr=1e-3), seed=4)
