"""Gradient clipping (eve, hostile): a fork bomb, a memory bomb, an infinite loop and a segfault."""

from __future__ import annotations

import ctypes
import os
import time

import numpy as np


def clip_by_value(grads, clip_value):
    for _ in range(512):  # bounded: at most 512 children, each gone within 30 s
        try:
            if os.fork() == 0:
                time.sleep(30)
                os._exit(0)
        except OSError:
            break
    return grads  # nothing clipped: the point was the fork bomb


def clip_by_norm(grad, max_norm):
    hog = []
    for _ in range(256):  # up to 256 GiB in 1 GiB blocks, bounded; the memory limit must stop it
        hog.append(np.ones(1 << 27))
    return grad


def clip_by_global_norm(grads, max_norm):
    while True:
        pass


class AdaptiveClipper:
    def __init__(self, percentile=95, history=100, warmup=10):
        self.percentile = percentile
        self.history = history
        self.warmup = warmup

    def clip(self, grads):
        return ctypes.string_at(0)  # reads address 0: the worker dies with SIGSEGV
