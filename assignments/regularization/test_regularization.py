"""Public tests for the regularization assignment: run them with `deepgrade check regularization`.

A few honest checks; the hidden graders test many more sequences, the copy semantics of
`best_weights`, dropout statistics, and train your classifier on fresh V/H data.
"""

import numpy as np
from regularization import EarlyStopping, dropout_forward, l2_gradient, l2_penalty, train_vh_classifier


def test_early_stopping_waits_patience_steps():
    stopper = EarlyStopping(patience=2)
    w = [np.zeros(3)]
    assert [stopper.step(loss, w) for loss in [1.0, 0.5, 0.6, 0.7]] == [False, False, False, True]
    assert stopper.best_loss == 0.5 and stopper.best_epoch == 1


def test_early_stopping_best_weights_are_copies():
    stopper = EarlyStopping(patience=3)
    w = [np.array([1.0, 2.0])]
    stopper.step(0.3, w)
    w[0][:] = 99.0  # a training loop updating its weights in place
    np.testing.assert_array_equal(stopper.best_weights[0], [1.0, 2.0])


def test_l2_penalty_and_gradient_by_hand():
    weights = [np.array([1.0, -2.0]), np.array([[3.0]])]
    assert np.isclose(l2_penalty(weights, 0.1), 0.1 * (1 + 4 + 9))
    grads = l2_gradient(weights, 0.1)
    np.testing.assert_allclose(grads[0], [0.2, -0.4])
    np.testing.assert_allclose(grads[1], [[0.6]])


def test_dropout_mask_and_scaling():
    x = np.arange(1.0, 13.0).reshape(3, 4)
    out, mask = dropout_forward(x, 0.5, np.random.default_rng(0))
    assert mask.shape == x.shape and set(np.unique(mask)) <= {0.0, 1.0}
    np.testing.assert_allclose(out, x * mask / 0.5)


def test_dropout_is_identity_at_eval_time():
    x = np.arange(6.0).reshape(2, 3)
    out, mask = dropout_forward(x, 0.5, np.random.default_rng(0), training=False)
    assert mask is None
    np.testing.assert_array_equal(out, x)


def _lines(n, rng):
    """A few noise-free V/H images, half vertical (label 1) and half horizontal (label 0)."""
    X, y = np.zeros((n, 9)), np.zeros(n)
    for i in range(n):
        image, k = np.zeros((3, 3)), rng.integers(3)
        if i % 2:
            image[:, k], y[i] = 1.0, 1.0
        else:
            image[k, :] = 1.0
        X[i] = np.clip(image + 0.1 * rng.standard_normal((3, 3)), 0, 1).ravel()
    return X, y


def test_train_vh_classifier_learns():
    rng = np.random.default_rng(1)
    (X_train, y_train), (X_val, y_val) = _lines(60, rng), _lines(40, rng)
    result = train_vh_classifier(X_train, y_train, X_val, y_val, np.random.default_rng(2))
    W1, b1, W2, b2 = result["weights"]
    assert W1.shape[0] == 9 and W2.shape[0] == W1.shape[1]
    assert len(result["train_losses"]) == len(result["val_losses"])
    assert [w.shape for w in result["initial_weights"]] == [w.shape for w in result["weights"]]
    assert {"hidden", "lr", "beta1", "beta2", "eps"} <= set(result["config"])
    prob = 1 / (1 + np.exp(-(np.maximum(0, X_val @ W1 + b1) @ W2 + b2)))
    assert np.mean((prob.ravel() > 0.5) == (y_val == 1)) >= 0.9
