"""Where in the course material each check's idea is taught: a pointer for failed checks.

The pointers are text ("Lecture notes week 5, §1.5 Detection Techniques: Gradient Magnitude
Monitoring"), not paths: students have the material, not this repository's copy of it.
Rules are tried in order; the first whose prefix starts the check id wins, and "" is the
topic's fallback.
"""

from __future__ import annotations

WEEK5 = "Lecture notes week 5"
PART8 = "Course notebook part 8 (Deep Learning Challenges)"
MODULE = "Module 2.3 notes (Deep Learning Challenges)"
QA = "Q&A on training deep networks"

POINTERS: dict[str, list[tuple[str, str]]] = {
    "activations": [
        ("diagnose_gradients", f"{WEEK5}, §1.5 Detection Techniques: Gradient Magnitude Monitoring "
                               "(and its Interpretation Guide for Students)"),
        ("layer_gradient_norms", f"{WEEK5}, §1.2 The Mathematical Story: The Chain Rule, a Double-Edged Sword; "
                                 f"{MODULE}, §2.3.1 Vanishing and Exploding Gradients"),
        ("sigmoid_derivative", f"{WEEK5}, §1.2 Sigmoid: The Gradient Killer (its derivative peaks at 0.25)"),
        ("sigmoid", f"{WEEK5}, §3.1 The Activation Function Investigation: Sigmoid, the Prime Suspect"),
        ("tanh", f"{WEEK5}, §3.1 The Activation Function Investigation: Tanh, the Accomplice"),
        ("leaky_relu", f"{WEEK5}, §4.1 The ReLU Revolution: ReLU Variants, the Extended Family"),
        ("elu", f"{WEEK5}, §4.1 The ReLU Revolution: ReLU Variants, the Extended Family"),
        ("relu", f"{WEEK5}, §4.1 The ReLU Revolution: Why ReLU Works"),
        ("", f"{WEEK5}, Part I: The Vanishing Act - When Gradients Disappear"),
    ],
    "initialization": [
        ("xavier", f"{WEEK5}, §3.2 The Weight Initialization CSI: Xavier/Glorot Initialization"),
        ("he_", f"{WEEK5}, §3.2 The Weight Initialization CSI (He initialization for ReLU layers); "
                f"{QA}: Common Initialization Methods and When to Use Them"),
        ("lecun", f"{QA}: Common Initialization Methods and When to Use Them (LeCun); "
                  f"{WEEK5}, §5.2 Advanced Initialization Strategies"),
        ("randomness", f"{QA}: Role of Weight Initialization in Training Deep Neural Networks"),
        ("", f"{WEEK5}, §3.2 The Weight Initialization CSI; "
             f"{QA}: Role of Weight Initialization in Training Deep Neural Networks"),
    ],
    "normalization": [
        ("layernorm", f"{WEEK5}, §5.1 Normalization Techniques Beyond Batch Norm: Layer Normalization; "
                      f"{MODULE}, §2.3.3 How Layer Normalization Helps"),
        ("batchnorm1d", f"{WEEK5}, §3.3 The Batch Normalization Revolution: Mathematical Foundation "
                        "(training vs inference statistics)"),
        ("batchnorm", f"{WEEK5}, §3.3 The Batch Normalization Revolution: Mathematical Foundation"),
        ("", f"{WEEK5}, §3.3 The Batch Normalization Revolution; {MODULE}, §2.3.2 Internal Covariate Shift"),
    ],
    "residual": [
        ("", f"{WEEK5}, §3.4 The Residual Connection Breakthrough: ResNet Mathematical Foundation"),
    ],
    "clipping": [
        ("adaptive_clipper", f"{WEEK5}, §4.2 Gradient Clipping: Advanced Clipping Strategies"),
        ("", f"{WEEK5}, §4.2 Gradient Clipping, the Safety Net: Mathematical Implementation; "
             f"{PART8}, §8.4 How Gradient Clipping Works"),
    ],
    "optimizers": [
        ("adam", f"{WEEK5}, §4.3 Advanced Optimization Algorithms: Adam, the Adaptive Moment Estimation"),
        ("", f"{WEEK5}, §4.3 Advanced Optimization Algorithms"),
    ],
    "regularization": [
        ("early_stopping", f"{PART8}, §8.2 Solution 2: Early Stopping (How to Implement Early Stopping Properly)"),
        ("l2", f"{PART8}, §8.2 Solution 3: Regularization (L2)"),
        ("dropout", f"{PART8}, §8.2 Solution 4: Dropout"),
        ("capstone", f"{PART8}, §8.1 The Memorizing Judge: Overfitting (the V/H classification thread)"),
        ("", f"{PART8}, §8.2 Solutions to Overfitting"),
    ],
}


def pointer(topic: str, check_id: str) -> str:
    """The part of the course material a check is about ('' when the topic has none)."""
    for prefix, where in POINTERS.get(topic, []):
        if check_id.startswith(prefix):
            return where
    return ""
