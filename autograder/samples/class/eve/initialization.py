"""Weight initialization (Eve): tries to exhaust the grader's time, memory and process table."""

from __future__ import annotations

import os
import time

import numpy as np


def xavier_uniform(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    while True:  # never returns: the per-call time limit must stop it
        pass


def xavier_normal(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    return rng.normal(0.0, np.sqrt(2.0 / (fan_in + fan_out)), size=(fan_in, fan_out))


def he_uniform(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    bound = np.sqrt(6.0 / fan_in)
    return rng.uniform(-bound, bound, size=(fan_in, fan_out))


def he_normal(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    hog = np.ones(10**11)  # 800 GB: the memory limit must refuse it
    return hog[: fan_in * fan_out].reshape(fan_in, fan_out)


def lecun_normal(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    # A bounded fork bomb: at most 64 children, each gone after 3 s; the parent waits for
    # them all, so it outlives the call's time limit even where forking is allowed.
    children = []
    for _ in range(64):
        pid = os.fork()
        if pid == 0:
            time.sleep(3)
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
    return rng.normal(0.0, np.sqrt(1.0 / fan_in), size=(fan_in, fan_out))
