"""The initialization reference uses torch.nn.init's formulas, with the layout transposed.

PyTorch stores a Linear weight as (fan_out, fan_in); ours is (fan_in, fan_out). Each case
draws a large matrix with both libraries and compares the sample standard deviations (and,
for the uniform ones, the support). With 100 000 draws the relative standard error of a
sample std is about 0.3 %, so the 4 % tolerance is never hit by chance, while a swapped
fan_in/fan_out (here a factor 2-40 in variance) always is.
"""

from __future__ import annotations

import numpy as np
import pytest

from solutions import initialization as ref

torch = pytest.importorskip("torch")

FAN_IN, FAN_OUT = 40, 2500  # very different, so a transposed layout shows


def _torch_weight(init) -> np.ndarray:
    torch.manual_seed(0)
    w = torch.empty(FAN_OUT, FAN_IN, dtype=torch.float64)  # torch layout: (fan_out, fan_in)
    init(w)
    return w.numpy().T  # our layout


CASES = {
    "xavier_uniform": (ref.xavier_uniform, torch.nn.init.xavier_uniform_, True),
    "xavier_normal": (ref.xavier_normal, torch.nn.init.xavier_normal_, False),
    "he_uniform": (ref.he_uniform, lambda w: torch.nn.init.kaiming_uniform_(w, nonlinearity="relu"), True),
    "he_normal": (ref.he_normal, lambda w: torch.nn.init.kaiming_normal_(w, nonlinearity="relu"), False),
    # LeCun normal is Kaiming normal with gain 1 (nonlinearity="linear"), fan_in mode.
    "lecun_normal": (ref.lecun_normal, lambda w: torch.nn.init.kaiming_normal_(w, nonlinearity="linear"), False),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_initializer_matches_torch_init(name: str) -> None:
    ours_fn, torch_init, uniform = CASES[name]
    ours = ours_fn(FAN_IN, FAN_OUT, np.random.default_rng(0))
    theirs = _torch_weight(torch_init)
    assert ours.shape == theirs.shape == (FAN_IN, FAN_OUT)
    assert ours.dtype == np.float64
    assert ours.std() == pytest.approx(theirs.std(), rel=0.04)
    if uniform:
        # Both fill [-b, b] up to a hair.
        assert np.abs(ours).max() == pytest.approx(np.abs(theirs).max(), rel=1e-3)


def test_torch_fans_are_read_from_the_transposed_layout() -> None:
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(FAN_OUT, FAN_IN))
    assert (fan_in, fan_out) == (FAN_IN, FAN_OUT)
