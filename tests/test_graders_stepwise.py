"""The one-round-trip graders say exactly what the step-by-step graders say.

activations, initialization, normalization, residual and one clipping check record a check's calls in one
pipeline and judge the answers afterwards, falling back to the step-by-step check when the
pipeline meets something only that check words right (autograder/graders/stepwise.py).
Here every sample student and a set of odd submissions (wrong tuple lengths, caches that
are not plain data, code that raises or exits halfway) is graded both ways: same score,
status and message for every check.
"""

from __future__ import annotations

import pytest

from autograder.graders import stepwise
from tests.conftest import SAMPLES, grade_all, reference_source

STUDENTS = ("ben", "chloe", "dev", "eve", "mallory")


def variant(topic: str, replace: dict[str, str], extra: str = "") -> str:
    source = reference_source(topic)
    for old, new in replace.items():
        assert source.count(old) == 1, old
        source = source.replace(old, new)
    return source + extra


ODD = {
    "normalization": {
        # unpack(2) refuses a 3-tuple: the pipeline fetched the whole tuple and falls back.
        "forward_three_tuple": ({}, '''
_bn = batchnorm_forward
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    return (*_bn(x, gamma, beta, eps), None)
'''),
        # The cache is never fetched step by step, so a lambda in it costs nothing there.
        "cache_not_plain": ({}, '''
_ln = layernorm_forward
_lnb = layernorm_backward
def layernorm_forward(x, gamma, beta, eps=1e-5):
    out, cache = _ln(x, gamma, beta, eps)
    return out, (cache, lambda: None)
def layernorm_backward(dout, cache):
    return _lnb(dout, cache[0])
'''),
        "backward_returns_list": ({}, '''
_bnb = batchnorm_backward
def batchnorm_backward(dout, cache):
    return list(_bnb(dout, cache))
'''),
        "raises_on_the_third_batch": ({}, '''
_bn3 = batchnorm_forward
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    if x.shape == (32, 8):
        raise RuntimeError("not this one")
    return _bn3(x, gamma, beta, eps)
'''),
        "exits_halfway": ({}, '''
import os as _os
_calls = []
_ln2 = layernorm_forward
def layernorm_forward(x, gamma, beta, eps=1e-5):
    _calls.append(1)
    if len(_calls) == 3:
        _os._exit(3)
    return _ln2(x, gamma, beta, eps)
'''),
        "running_stats_not_arrays": ({"self.running_mean = np.zeros(num_features)":
                                      "self.running_mean = [0.0] * num_features"}, ""),
    },
    "residual": {
        "forward_returns_out_only": ({}, '''
_rf = residual_forward
def residual_forward(x, W1, b1, W2, b2):
    return _rf(x, W1, b1, W2, b2)[0]
'''),
        "backward_four_gradients": ({}, '''
_rb = residual_backward
def residual_backward(dout, cache):
    return _rb(dout, cache)[:4]
'''),
        "cache_not_plain": ({}, '''
_rf2 = residual_forward
_rb2 = residual_backward
def residual_forward(x, W1, b1, W2, b2):
    out, cache = _rf2(x, W1, b1, W2, b2)
    return out, (cache, object())
def residual_backward(dout, cache):
    return _rb2(dout, cache[0])
'''),
        "cache_in_a_global": ({}, '''
_rf3 = residual_forward
_rb3 = residual_backward
_last = {}
def residual_forward(x, W1, b1, W2, b2):
    out, cache = _rf3(x, W1, b1, W2, b2)
    _last["cache"] = cache
    return out, None
def residual_backward(dout, cache):
    return _rb3(dout, _last["cache"])
'''),
    },
    "initialization": {
        # No `np` in the module: the rng comes through its `numpy`, the step-by-step way.
        "numpy_not_np": ({"import numpy as np": "import numpy"}, ""),
        "raises_on_small_layers": ({}, '''
_he = he_normal
def he_normal(fan_in, fan_out, rng):
    if fan_in * fan_out < 10:
        raise ValueError("too small")
    return _he(fan_in, fan_out, rng)
'''),
        "returns_a_list": ({}, '''
_lc = lecun_normal
def lecun_normal(fan_in, fan_out, rng):
    return _lc(fan_in, fan_out, rng).tolist()
'''),
    },
    "activations": {
        "keyerror_for_unknown_names": ({}, '''
_lgn = layer_gradient_norms
def layer_gradient_norms(grad_output, weights, pre_activations, activation="sigmoid"):
    if activation not in ("sigmoid", "tanh", "relu"):
        raise KeyError(activation)
    return _lgn(grad_output, weights, pre_activations, activation)
'''),
        "diagnosis_as_a_list": ({}, '''
_dg = diagnose_gradients
def diagnose_gradients(grad_norms, vanish=1e-6, weak=1e-4, explode=100.0):
    if len(grad_norms) == 3:
        return list(_dg(grad_norms, vanish, weak, explode).items())
    return _dg(grad_norms, vanish, weak, explode)
'''),
        "elu_overflows": ({}, '''
def elu_derivative(z, alpha=1.0):
    return np.where(z > 0, 1.0, alpha * np.exp(z))
'''),
    },
}


# clipping: leaves_input_alone runs both its cases in one pipeline. "here": only in that
# check's calls (max_norm 1.0, three non-zero tensors), so the checks it requires still pass.
_HERE = """
_cg = clip_by_global_norm
def _here(grads, max_norm, n):
    return max_norm == 1.0 and len(grads) == 3 and n > 0
"""
ODD["clipping"] = {
    "returns_inputs_when_within": ({}, _HERE + """
def clip_by_global_norm(grads, max_norm):
    clipped, n = _cg(grads, max_norm)
    return (list(grads) if n <= max_norm else clipped), n
"""),
    "clips_in_place": ({}, _HERE + """
def clip_by_global_norm(grads, max_norm):
    clipped, n = _cg(grads, max_norm)
    if n > max_norm:
        for g, c in zip(grads, clipped):
            g[...] = c
        return list(grads), n
    return clipped, n
"""),
    "tuple_of_arrays": ({}, _HERE + """
def clip_by_global_norm(grads, max_norm):
    clipped, n = _cg(grads, max_norm)
    return tuple(clipped), n
"""),
    "three_tuple_here": ({}, _HERE + """
def clip_by_global_norm(grads, max_norm):
    clipped, n = _cg(grads, max_norm)
    return (clipped, n, None) if _here(grads, max_norm, n) else (clipped, n)
"""),
    "norm_not_plain_here": ({}, _HERE + """
class _Norm(float):
    pass
def clip_by_global_norm(grads, max_norm):
    clipped, n = _cg(grads, max_norm)
    return (clipped, _Norm(n)) if _here(grads, max_norm, n) else (clipped, n)
"""),
    "lists_not_arrays_here": ({}, _HERE + """
def clip_by_global_norm(grads, max_norm):
    clipped, n = _cg(grads, max_norm)
    return ([c.tolist() for c in clipped], n) if _here(grads, max_norm, n) else (clipped, n)
"""),
    "raises_when_within_here": ({}, _HERE + """
def clip_by_global_norm(grads, max_norm):
    clipped, n = _cg(grads, max_norm)
    if _here(grads, max_norm, n) and n <= max_norm:
        raise RuntimeError("not this one")
    return clipped, n
"""),
    "exits_when_within_here": ({}, _HERE + """
import os as _os
def clip_by_global_norm(grads, max_norm):
    clipped, n = _cg(grads, max_norm)
    if _here(grads, max_norm, n) and n <= max_norm:
        _os._exit(3)
    return clipped, n
"""),
}
PASSING = {"cache_not_plain", "backward_returns_list", "numpy_not_np", "tuple_of_arrays", "norm_not_plain_here"}  # odd, but right


def submissions(topic: str) -> dict[str, str]:
    subs = {"reference": reference_source(topic)}
    # eve's activations only attack the sandbox (each at a 2 s time-out, twice); her other topics
    # loop, bomb and fork in the middle of pipelines, which is what matters here.
    subs.update({s: (SAMPLES / s / f"{topic}.py").read_text() for s in STUDENTS
                 if not (topic == "activations" and s == "eve")})
    for name, (replace, extra) in ODD[topic].items():
        source = variant(topic, replace, extra)
        subs[name] = source.replace("np.", "numpy.") if name == "numpy_not_np" else source
    return subs


def outcomes(results: dict) -> dict[str, tuple]:
    return {f"{sid}/{c.check_id}": (c.score, c.status, c.output) for sid, r in results.items() for c in r.checks}


def timed_out(message: str) -> bool:
    return any(word in message for word in ("did not finish", "timed out earlier", "grading budget"))


@pytest.mark.slow
@pytest.mark.parametrize("topic", sorted(ODD))
def test_one_round_trip_says_what_step_by_step_says(topic, monkeypatch):
    subs = submissions(topic)
    fast = outcomes(grade_all(topic, subs, workers=1))  # in this process, which the flag below reaches
    monkeypatch.setattr(stepwise, "ALWAYS_STEP_BY_STEP", True)
    slow = outcomes(grade_all(topic, subs, workers=1))
    assert fast.keys() == slow.keys()
    for key in fast:
        assert fast[key][:2] == slow[key][:2], (key, fast[key], slow[key])
        if not (timed_out(fast[key][2]) or timed_out(slow[key][2])):  # a time-out's limit may read differently
            assert fast[key][2] == slow[key][2], key
    # The odd submissions exercise what they were written for: the wrong ones fail a check, the
    # odd-but-right ones pass them all.
    failed = {key.split("/")[0] for key, (_, status, _) in fast.items() if status == "failed"}
    assert {name for name in ODD[topic] if name not in PASSING} <= failed
    assert not failed & PASSING


def arrays_in(value) -> list:
    """Every ndarray inside ``value`` (tuples, lists, dicts and mapping proxies)."""
    import numpy as np

    if isinstance(value, np.ndarray):
        return [value]
    if isinstance(value, (tuple, list)):
        return [a for item in value for a in arrays_in(item)]
    if hasattr(value, "values"):
        return [a for item in value.values() for a in arrays_in(item)]
    return []


def test_answers_cached_between_students_are_read_only():
    from autograder.graders import test_activations as act
    from autograder.graders import test_normalization as norm
    from autograder.graders import test_residual as res

    cached = [act.grid(), act.expected("sigmoid"), act.calls("elu_derivative"), act.network(*act.UNKNOWN_NAME_NET),
              act.norms_expected(act.RELU_AND_TANH[0][1], "relu"),
              norm.forward_case("layernorm", 300, 6, 6), norm.gradient_case("batchnorm", 500, 5, 4),
              norm.training_replay(), norm.eval_case(), norm.parameters_case(), norm.eps_case(),
              res.case(1), res.numeric_grads(1), res.misconceptions(1, "dx"), res.kink_case(), res.kink_expected(),
              res.forward_expected(2), res.skip_case(), res.db2_misconceptions(3)]
    arrays = arrays_in(cached)
    assert len(arrays) > 100
    assert not [a for a in arrays if a.flags.writeable]
    with pytest.raises(TypeError):  # misconception tables cannot gain or lose an entry either
        norm.forward_case("layernorm", 300, 6, 6)[4]["a new mistake"] = arrays[0]
