"""The regularization graders: full marks for correct work, teaching messages for mistakes.

Everything is graded in one batch (reference, wrong variants, alternative correct
implementations, the sample class) so the module stays fast.
"""

from __future__ import annotations

import pytest

from autograder.grading import read_student_files
from tests.conftest import SAMPLES, SOLUTIONS, grade_all, make_variant

TOPIC = "regularization"
COPY = "self.best_weights = [np.array(w, dtype=float, copy=True) for w in weights]"

# name -> (replacements in the reference, check that must fail, keyword of its message)
VARIANTS = {
    "es_keeps_references": (
        {COPY: "self.best_weights = list(weights)"},
        "early_stopping_best_weights_are_copies", "references"),
    "es_patience_off_by_one": (
        {"return self.steps_without_improvement >= self.patience":
         "return self.steps_without_improvement > self.patience"},
        "early_stopping_patience_boundary", "off by one"),
    "es_ignores_min_delta": (
        {"if val_loss < self.best_loss - self.min_delta:": "if val_loss < self.best_loss:"},
        "early_stopping_min_delta", "ignored min_delta"),
    "es_saves_weights_every_step": (
        {f"            {COPY}\n": "",
         "        return self.steps_without_improvement >= self.patience":
         f"        {COPY}\n        return self.steps_without_improvement >= self.patience"},
        "early_stopping_keeps_best_not_last", "last step"),
    "es_best_epoch_from_one": (
        {"self.best_epoch = epoch\n": "self.best_epoch = epoch + 1\n"},
        "early_stopping_sequence", "from 1"),
    "l2_gradient_without_2": (
        {"return [2.0 * lam * np.asarray(w, dtype=float) for w in weights]":
         "return [lam * np.asarray(w, dtype=float) for w in weights]"},
        "l2_gradient_values", "factor 2"),
    "l2_penalty_halved": (
        {"return float(lam * sum(": "return float(0.5 * lam * sum("},
        "l2_penalty_values", "lam/2"),
    "dropout_not_rescaled": (
        {"return x * mask / (1.0 - p), mask": "return x * mask, mask"},
        "dropout_structure", "forgot to rescale"),
    "dropout_at_eval_time": (
        {"    if not training:\n        return x, None\n": ""},
        "dropout_eval_mode", "evaluation time"),
    "dropout_keeps_with_probability_p": (
        {"(rng.random(np.shape(x)) >= p)": "(rng.random(np.shape(x)) < p)"},
        "dropout_keep_fraction", "DROP probability"),
    "dropout_global_random_state": (
        {"(rng.random(np.shape(x)) >= p)": "(np.random.random(np.shape(x)) >= p)"},
        "dropout_uses_rng", "global state"),
    "capstone_returns_last_weights": (
        {'"weights": [w.copy() for w in stopper.best_weights]': '"weights": [w.copy() for w in weights]'},
        "capstone_best_weights_restored", "last epoch's weights"),
    "capstone_init_from_global_random": (
        {"rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_in, n_hidden))":
         "np.random.normal(0.0, np.sqrt(2.0 / n_in), size=(n_in, n_hidden))"},
        "capstone_reproducible", "global state"),
    # issue 10: these trained to ~98 % accuracy and full marks before the capstone's parts were checkable
    "capstone_lecun_init": (
        {"rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_in, n_hidden))":
         "rng.normal(0.0, np.sqrt(1.0 / n_in), size=(n_in, n_hidden))"},
        "capstone_he_initialization", "LeCun"),
    "capstone_variance_as_std": (
        {"rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_in, n_hidden))": "rng.normal(0.0, 2.0 / n_in, size=(n_in, n_hidden))",
         "rng.normal(0.0, np.sqrt(2.0 / n_hidden), size=(n_hidden, 1))": "rng.normal(0.0, 2.0 / n_hidden, size=(n_hidden, 1))"},
        "capstone_he_initialization", "variance 2 / fan_in as the standard deviation"),
    "capstone_adam_without_bias_correction": (
        {"m_hat, v_hat = m[i] / (1 - beta1**t), v[i] / (1 - beta2**t)": "m_hat, v_hat = m[i], v[i]"},
        "capstone_training_replays", "bias correction"),
    "capstone_relu_mask_always_one": (
        {"dh = (dz @ weights[2].T) * (h > 0)": "dh = dz @ weights[2].T"},
        "capstone_training_replays", "through the ReLU everywhere"),
    "capstone_old_contract": (
        {'        "initial_weights": initial_weights,\n': "",
         '        "config": {"hidden": n_hidden, "lr": lr, "beta1": beta1, "beta2": beta2, "eps": eps},\n': ""},
        "capstone_he_initialization", "'initial_weights'"),
    "capstone_train_losses_before_update": (
        {"        h, logits = forward(weights, X_train)  # also next epoch's forward pass\n"
         "        train_losses.append(bce(logits, y_train))\n":
         "        train_losses.append(bce(logits, y_train))\n"
         "        h, logits = forward(weights, X_train)  # also next epoch's forward pass\n"},
        "capstone_best_weights_restored", "train_losses"),
}

# Correct, written differently: Keras-style counters and deepcopy, L2 through vdot, a binomial
# dropout mask, and a capstone that imports Adam from the student's own optimizers.py (a
# sibling file), with a wider hidden layer, W2 of shape (H,) and losses as an array.
ALTERNATIVE = '''
import copy

import numpy as np

from optimizers import Adam


class EarlyStopping:
    def __init__(self, patience=5, min_delta=0.0, restore_best_weights=True):
        self.patience, self.min_delta, self.restore_best_weights = patience, min_delta, restore_best_weights
        self.best_loss, self.best_epoch, self.best_weights = np.inf, -1, None
        self.wait, self.epoch = 0, -1

    def step(self, val_loss, weights):
        self.epoch += 1
        if np.less(val_loss + self.min_delta, self.best_loss):
            self.best_loss, self.best_epoch, self.wait = float(val_loss), self.epoch, 0
            self.best_weights = copy.deepcopy(list(weights))
            return False
        self.wait += 1
        return bool(self.wait >= self.patience)


def l2_penalty(weights, lam):
    return float(lam * sum(np.vdot(w, w) for w in weights))


def l2_gradient(weights, lam):
    return [np.multiply(w, 2 * lam) for w in weights]


def dropout_forward(x, p, rng, training=True):
    if not training:
        return x, None
    mask = rng.binomial(1, 1.0 - p, size=np.shape(x)).astype(np.float64)
    return mask * x * (1.0 / (1.0 - p)), mask


def train_vh_classifier(X_train, y_train, X_val, y_val, rng):
    H = 12
    params = [rng.standard_normal((9, H)) * np.sqrt(2 / 9), np.zeros(H), rng.standard_normal(H) * np.sqrt(2 / H),
              np.zeros(1)]
    initial = copy.deepcopy(params)

    def forward(ps, X):
        h = np.maximum(0, X @ ps[0] + ps[1])
        return h, h @ ps[2] + ps[3][0]

    def loss(ps, X, y):
        z = forward(ps, X)[1]
        p = np.clip(1 / (1 + np.exp(-z)), 1e-12, 1 - 1e-12)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))

    opt, stopper = Adam(lr=0.02), EarlyStopping(patience=25)
    tl, vl = [], []
    for _ in range(300):
        h, z = forward(params, X_train)
        dz = (1 / (1 + np.exp(-z)) - y_train) / len(y_train)
        dh = np.outer(dz, params[2]) * (h > 0)
        params = opt.update(params, [X_train.T @ dh, dh.sum(0), h.T @ dz, np.array([dz.sum()])])
        tl.append(loss(params, X_train, y_train))
        vl.append(loss(params, X_val, y_val))
        if stopper.step(vl[-1], params):
            break
    return {"weights": stopper.best_weights, "train_losses": tl, "val_losses": np.array(vl),
            "best_epoch": np.int64(stopper.best_epoch), "initial_weights": initial,
            "config": {"hidden": np.int64(H), "lr": 0.02, "beta1": 0.9, "beta2": 0.999, "eps": np.float64(1e-8)}}
'''

SAMPLE_STUDENTS = ["ben", "chloe", "dev", "eve", "mallory"]
L2_CHECKS = {"l2_penalty_values", "l2_gradient_values"}


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict:
    """Grade everything once: student id -> SubmissionResult."""
    root = tmp_path_factory.mktemp(TOPIC)
    subs: dict = {"reference": (SOLUTIONS / f"{TOPIC}.py").read_bytes()}
    for name, (replace, _, _) in VARIANTS.items():
        subs[name] = make_variant(root, TOPIC, replace, name).read_bytes()
    subs["alternative"] = {f"{TOPIC}.py": ALTERNATIVE.encode(),
                           "optimizers.py": (SOLUTIONS / "optimizers.py").read_bytes()}
    subs.update({f"sample_{s}": read_student_files(SAMPLES / s)[0] for s in SAMPLE_STUDENTS})
    return grade_all(TOPIC, subs)


def test_reference_scores_full_marks(results):
    result = results["reference"]
    assert result.score == result.max_score == 100, result.failures_text()


@pytest.mark.parametrize("name", list(VARIANTS))
def test_realistic_mistakes_lose_points_with_a_teaching_message(results, name):
    _, check_id, keyword = VARIANTS[name]
    result = results[name]
    check = result.check(check_id)
    assert check.score == 0, f"{name}: {check_id} should fail"
    assert keyword in check.output, check.output
    assert result.score < 100


def test_targeted_mistakes_lose_only_their_own_checks(results):
    failed = {name: {c.check_id for c in results[name].checks if not c.passed} for name in VARIANTS}
    assert failed["es_keeps_references"] == {"early_stopping_best_weights_are_copies"}
    assert failed["es_patience_off_by_one"] == {"early_stopping_sequence", "early_stopping_patience_boundary"}
    assert failed["es_ignores_min_delta"] == {"early_stopping_min_delta"}
    assert failed["dropout_not_rescaled"] == {"dropout_structure"}
    assert failed["dropout_keeps_with_probability_p"] == {"dropout_keep_fraction"}
    assert failed["capstone_returns_last_weights"] == {"capstone_best_weights_restored"}
    # a capstone written before initial_weights and config existed keeps what it can still earn (README)
    assert failed["capstone_old_contract"] == {"capstone_returns_plain_dict", "capstone_he_initialization",
                                               "capstone_training_replays"}
    assert results["capstone_old_contract"].score == 89
    # saving the weights on every step is caught in EarlyStopping and again in the capstone it breaks
    assert failed["es_saves_weights_every_step"] == {"early_stopping_keeps_best_not_last",
                                                      "capstone_best_weights_restored"}


def test_alternative_correct_implementation_gets_full_marks(results):
    assert results["alternative"].score == 100, results["alternative"].failures_text()


@pytest.mark.parametrize("student, failing, keyword", [
    ("ben", {"early_stopping_best_weights_are_copies", "dropout_structure", "capstone_best_weights_restored"},
     "references"),
    # chloe's capstone uses her own Adam, whose step counter advances once per parameter: the replay sees it
    ("chloe", {"early_stopping_sequence", "early_stopping_patience_boundary", "l2_gradient_values",
               "capstone_training_replays"}, "factor 2"),
    ("dev", {"early_stopping_min_delta", "capstone_best_weights_restored"}, "ignored min_delta"),
])
def test_buggy_sample_students_lose_points_on_their_bugs(results, student, failing, keyword):
    result = results[f"sample_{student}"]
    failed = {c.check_id for c in result.checks if not c.passed}
    assert failed == failing, result.failures_text()
    assert any(keyword in c.output for c in result.checks if not c.passed)


def test_sibling_import_works_for_a_sample_student(results):
    # chloe's capstone imports her own optimizers.py and still trains a good classifier
    assert results["sample_chloe"].check("capstone_accuracy").passed
    # ... with her own Adam, whose step counter advances once per parameter: named by the replay
    assert "once per parameter" in results["sample_chloe"].check("capstone_training_replays").output


def test_hostile_sample_students_earn_nothing_on_what_they_attack(results):
    eve = results["sample_eve"]
    assert all(c.score == 0 for c in eve.checks if c.check_id not in L2_CHECKS), eve.failures_text()
    assert all(c.passed for c in eve.checks if c.check_id in L2_CHECKS)  # her honest part still counts
    assert results["sample_mallory"].score == 0  # sys.exit(0) at import
