"""A correct initialization solution that draws every weight in a Python loop over fan_in and fan_out (slow, not wrong)."""

import math

import numpy as np


def xavier_uniform(fan_in, fan_out, rng):
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    W = np.zeros((fan_in, fan_out))
    for i in range(fan_in):
        for j in range(fan_out):
            W[i, j] = rng.uniform(-bound, bound)
    return W


def xavier_normal(fan_in, fan_out, rng):
    std = math.sqrt(2.0 / (fan_in + fan_out))
    W = np.zeros((fan_in, fan_out))
    for i in range(fan_in):
        for j in range(fan_out):
            W[i, j] = rng.normal(0.0, std)
    return W


def he_uniform(fan_in, fan_out, rng):
    bound = math.sqrt(6.0 / fan_in)
    rows = []
    for _ in range(fan_in):
        row = []
        for _ in range(fan_out):
            row.append(rng.uniform(-bound, bound))
        rows.append(row)
    return np.array(rows, dtype=float)


def he_normal(fan_in, fan_out, rng):
    std = math.sqrt(2.0 / fan_in)
    W = np.zeros((fan_in, fan_out))
    for i in range(fan_in):
        for j in range(fan_out):
            W[i, j] = rng.normal(0.0, std)
    return W


def lecun_normal(fan_in, fan_out, rng):
    std = math.sqrt(1.0 / fan_in)
    W = np.zeros((fan_in, fan_out))
    for i in range(fan_in):
        for j in range(fan_out):
            W[i, j] = std * rng.standard_normal()
    return W
