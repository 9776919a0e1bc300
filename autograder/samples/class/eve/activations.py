"""Eve's activations: tries to take the grader down instead of answering."""

import os

import numpy as np


def sigmoid(z):
    while True:  # never returns
        pass


def sigmoid_derivative(z):
    hog = []
    while True:  # memory bomb: grows until the memory limit stops it
        hog.append(np.ones(10**7))


def tanh_derivative(z):
    for _ in range(1000):  # fork bomb
        os.fork()
    return 1 - np.tanh(z) ** 2


def relu_derivative(z):
    return np.ones(10**11)  # asks for 800 GB


def leaky_relu_derivative(z, alpha=0.01):
    os.setsid()  # tries to leave the process group before spinning
    while True:
        pass


def elu_derivative(z, alpha=1.0):
    os.kill(os.getppid(), 9)  # tries to kill its parent, then its whole process group
    os.killpg(0, 9)
    return np.zeros_like(z)


def layer_gradient_norms(grad_output, weights, pre_activations, activation="sigmoid"):
    print("x" * 10**9)  # floods the output
    return []


def diagnose_gradients(grad_norms, vanish=1e-6, weak=1e-4, explode=100.0):
    os._exit(0)
