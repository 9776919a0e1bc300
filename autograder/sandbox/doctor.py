"""``deepgrade doctor``: which sandbox tier this machine gives, and why.

It starts the real fork server and one real worker, so the answer is what grading would
get, not a guess: the tier and the reason for it, whether namespaces and seccomp are
available, whether this runs as root or in a container, what the worker is (uid,
capabilities, no_new_privs, seccomp), and for each hidden path how it is hidden.
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

from autograder.sandbox import seccomp, tiers

STATUS_FIELDS = ("Uid", "Groups", "CapEff", "CapBnd", "NoNewPrivs", "Seccomp")
PROBE = b"""
def status():
    keep = %r
    with open('/proc/self/status') as fh:
        return {k: v.strip() for k, _, v in (line.partition(':') for line in fh) if k in keep}
""" % (STATUS_FIELDS,)


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def container() -> str:
    """A short note when this looks like a container (Docker, Kubernetes, Podman), else ''."""
    if os.path.exists("/.dockerenv"):
        return "Docker"
    if os.path.exists("/run/.containerenv"):
        return "Podman"
    cgroup = _read("/proc/1/cgroup")
    for name in ("kubepods", "docker", "containerd", "lxc"):
        if name in cgroup:
            return name
    return ""


def namespace_settings() -> dict[str, str]:
    """The kernel settings that decide whether ordinary users may create namespaces."""
    out = {}
    for path in ("/proc/sys/user/max_user_namespaces", "/proc/sys/kernel/unprivileged_userns_clone",
                 "/proc/sys/kernel/apparmor_restrict_unprivileged_userns"):
        value = _read(path)
        if value:
            out[path.removeprefix("/proc/sys/").replace("/", ".")] = value
    return out


def diagnose(hide: list[str | Path] = ()) -> dict:
    """Everything ``deepgrade doctor`` reports, as plain data."""
    from autograder.sandbox import Sandbox, Submission, SubmissionError

    report: dict = {
        "platform": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": sys.version.split()[0],
        "user": f"uid {os.geteuid()}" + (" (root)" if os.geteuid() == 0 else ""),
        "root": os.geteuid() == 0,
        "container": container(),
        "kernel settings": namespace_settings(),
        "seccomp": seccomp.version() if seccomp.available() else seccomp.UNAVAILABLE,
        "forced": os.environ.get("DEEPGRADE_NO_NAMESPACES") == "1",
    }
    sandbox = Sandbox(allow_unconfined=True)
    try:
        hidden = sorted(set(sandbox.hide) | {str(Path(h).resolve()) for h in hide})
        exposed = set(sandbox.exposed(hidden))
        tier = sandbox.machine_tier  # before any step down: doctor says what the machine gives
        reason = sandbox.machine_reason
        report.update(tier=tier, tier_name=tiers.NAMES[tier], reason=reason,
                      namespaces=tier == tiers.NAMESPACES, description=tiers.describe(tier, reason))
        report["hidden"] = [{"path": p, "how": _how(p, tier, p in exposed)} for p in hidden]
        report["exposed"] = sorted(exposed)
        sub = Submission(sandbox, "doctor", {"doctor.py": PROBE})
        try:
            report["worker"] = sub.status().fetch()
        except SubmissionError as exc:
            report["worker"] = {"error": str(exc)}
        finally:
            sub.close()
    finally:
        sandbox.close()
    ok = tier != tiers.UNCONFINED and not exposed
    if ok:
        report["verdict"] = f"deepgrade grade runs in sandbox tier {tier} ({tiers.NAMES[tier]}) here"
    elif tier == tiers.UNCONFINED:
        report["verdict"] = ("deepgrade grade refuses here (tier 3: nothing confines student code) unless you pass "
                             "--unsafe-no-sandbox; deepgrade check still runs")
    else:
        report["verdict"] = ("deepgrade grade refuses here until the paths marked OPEN are closed: "
                             + tiers.chmod_command(sorted(exposed)))
    report["ok"] = ok
    return report


def _how(path: str, tier: int, exposed: bool) -> str:
    if not os.path.lexists(path):
        return "does not exist here"
    if tier == tiers.NAMESPACES:
        return "not in the worker's root"
    if tier == tiers.PRIVILEGE_DROP:
        return "OPEN: other users can read it" if exposed else "closed to worker uids (mode)"
    return "readable (unconfined)"


def render(report: dict) -> str:
    """The report as aligned text for a terminal."""
    ns = ("available" if report["namespaces"] else
          f"not used: {report['reason'].split('; ')[0]}")
    rows = [
        ("platform", f"{report['platform']}, Python {report['python']}"),
        ("running as", report["user"] + (f", in a {report['container']} container" if report["container"] else "")),
        ("namespaces", ns),
    ]
    rows += [(f"  {k}", v) for k, v in report["kernel settings"].items()]
    rows += [("seccomp", report["seccomp"]), ("tier", f"{report['tier']} ({report['tier_name']})")]
    worker = report.get("worker") or {}
    if "error" in worker:
        rows.append(("worker", f"could not start: {worker['error']}"))
    elif worker:
        caps = "none" if int(worker.get("CapEff", "0"), 16) == 0 else f"CapEff {worker['CapEff']}"
        uid = worker.get("Uid", "?").split()[0]
        if report["tier"] == tiers.NAMESPACES and not report["root"]:
            uid += " (inside its own user namespace only; outside, it is you)"
        rows.append(("worker", f"uid {uid}, groups [{worker.get('Groups', '')}], capabilities {caps}, "
                               f"no_new_privs {worker.get('NoNewPrivs', '?')}, seccomp mode {worker.get('Seccomp', '?')}"))
    width = max(len(k) for k, _ in rows) + 2
    lines = ["deepgrade doctor: the sandbox on this machine", ""]
    lines += [f"{k:<{width}}{v}" for k, v in rows]
    lines += ["", "hidden from student code:"]
    lines += [f"  {h['path']}  -- {h['how']}" for h in report["hidden"]]
    lines += ["", report["description"], "", report["verdict"]]
    return "\n".join(lines)
