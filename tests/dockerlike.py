"""Run a command with namespaces refused the way Docker's default seccomp profile refuses them.

    python -m tests.dockerlike run_autograder          # root, but no unshare/clone(CLONE_NEW*)/mount

Docker (and so Gradescope) answers ``unshare``, ``setns``, ``mount``, ``umount2`` and
``pivot_root`` and a ``clone`` with any namespace flag with EPERM, and ``clone3`` with
ENOSYS (so libc falls back to ``clone``, whose flags a filter can read). This installs the
same answers in this process and execs the command: everything it starts inherits them, so
deepgrade's own detection sees what it would see in a container. Like Docker without
``--security-opt no-new-privileges``, it leaves no_new_privs unset (root may load a filter).
"""

from __future__ import annotations

import errno
import os
import sys

import pyseccomp as seccomp

CLONE_NEW_FLAGS = (0x00000080, 0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000,
                   0x40000000)  # time, mount, cgroup, uts, ipc, user, pid, net


def install() -> None:
    """Refuse namespaces and mounts in this process and everything it starts."""
    f = seccomp.SyscallFilter(seccomp.ALLOW)
    f.set_attr(seccomp.Attr.CTL_NNP, 0)
    for name in ("unshare", "setns", "mount", "umount2", "pivot_root"):
        f.add_rule(seccomp.ERRNO(errno.EPERM), name)
    for flag in CLONE_NEW_FLAGS:
        f.add_rule(seccomp.ERRNO(errno.EPERM), "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    f.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    f.load()


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python -m tests.dockerlike COMMAND [ARGS...]")
    install()
    os.execvp(sys.argv[1], sys.argv[1:])
