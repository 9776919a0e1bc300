"""Optimizers (Eve, hostile): a memory bomb, a fork bomb and an infinite loop, all bounded."""

from __future__ import annotations

import os
import time

import numpy as np


class SGD:
    def __init__(self, lr: float = 0.01, momentum: float = 0.0) -> None:
        self.lr = lr
        self.momentum = momentum

    def update(self, params, grads):
        hog = []
        for _ in range(8):  # up to 16 GiB in 2 GiB blocks, bounded; the memory limit must stop it
            hog.append(np.ones(1 << 28))
        return [p - self.lr * g for p, g in zip(params, grads, strict=True)]


class RMSProp:
    def __init__(self, lr: float = 0.01, alpha: float = 0.99, eps: float = 1e-8) -> None:
        self.lr = lr

    def update(self, params, grads):
        children = []
        for _ in range(256):  # bounded: at most 256 children, each gone within 20 s
            try:
                pid = os.fork()
            except OSError:
                continue  # the process limit said no: keep trying
            if pid == 0:
                time.sleep(20)
                os._exit(0)
            children.append(pid)
        time.sleep(30)  # outlive the call's time limit whatever happened
        return params


class Adam:
    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> None:
        self.lr = lr

    def update(self, params, grads):
        deadline = time.monotonic() + 120  # "infinite" loop, bounded at two minutes
        while time.monotonic() < deadline:
            pass
        return params
