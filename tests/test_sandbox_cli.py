"""`deepgrade doctor`, the refusal to grade unconfined, and the explicit opt-in (flag and deepgrade.toml)."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from tests.conftest import ROOT, SOLUTIONS
from tests.nonroot import as_user, user_tempdir

DEEPGRADE = str(Path(sys.executable).with_name("deepgrade"))
NO_NAMESPACES = {"DEEPGRADE_NO_NAMESPACES": "1"}


def test_doctor_reports_tier_1_with_a_real_worker_here():
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 0, result.output
    assert re.search(r"^tier +1 \(namespaces\)$", result.output, re.M), result.output
    assert "capabilities none, no_new_privs 1, seccomp mode 2" in result.output
    assert f"{ROOT / 'solutions'}  -- not in the worker's root" in result.output
    assert result.output.rstrip().endswith("deepgrade grade runs in sandbox tier 1 (namespaces) here")


def test_doctor_json_names_the_tier_and_why(monkeypatch):
    monkeypatch.setenv("DEEPGRADE_NO_NAMESPACES", "1")
    result = CliRunner().invoke(main, ["doctor", "--json"])
    report = json.loads(result.output)
    assert result.exit_code == 1 and not report["ok"]  # this checkout is open to other users: grading refuses
    assert report["reason"].startswith("namespaces disabled by DEEPGRADE_NO_NAMESPACES=1")
    if os.geteuid() == 0:
        assert report["tier"] == 2 and str(ROOT / "solutions") in report["exposed"]
        assert "chmod -R o-rwx " in report["verdict"] and f" {ROOT / 'solutions'}" in report["verdict"]
        assert report["worker"]["NoNewPrivs"] == "1" and int(report["worker"]["CapEff"], 16) == 0
    else:
        assert report["tier"] == 3 and "--unsafe-no-sandbox" in report["verdict"]


@pytest.fixture
def folder():
    """A submissions folder the ordinary test user owns, with the reference as student ref."""
    base = user_tempdir()
    (base / "subs" / "ref").mkdir(parents=True)
    shutil.copy(SOLUTIONS / "activations.py", base / "subs" / "ref" / "activations.py")
    if os.geteuid() == 0:
        shutil.chown(base / "subs", "dgtest")
        shutil.chown(base / "subs" / "ref", "dgtest")
    yield base
    shutil.rmtree(base, ignore_errors=True)


def test_grading_unconfined_is_refused_in_one_line_unless_opted_in(folder):
    """As an ordinary user without namespaces (tier 3): refused; --unsafe-no-sandbox grades and says so."""
    grade = [DEEPGRADE, "grade", "activations", str(folder / "subs"), "--workers", "1"]
    refused = as_user([*grade, "--out", str(folder / "out")], cwd=folder, env=NO_NAMESPACES)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    errors = [line for line in refused.stderr.splitlines() if line.startswith("Error:")]
    assert errors and errors[0].startswith("Error: refusing to grade: this machine cannot confine student code")
    assert "Traceback" not in refused.stderr and "--unsafe-no-sandbox" in errors[0]
    assert not (folder / "out" / "ref" / "results.json").exists()

    done = as_user([*grade, "--out", str(folder / "out"), "--unsafe-no-sandbox"], cwd=folder, env=NO_NAMESPACES)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "sandbox: tier 3 (UNCONFINED" in done.stdout  # on the terminal...
    assert "warning: --unsafe-no-sandbox" in done.stderr
    results = json.loads((folder / "out" / "ref" / "results.json").read_text())
    assert results["score"] == 100 and "sandbox: tier 3 (UNCONFINED" in results["output"]  # ...and in the result


def test_the_course_opts_in_with_sandbox_unsafe_no_sandbox(folder):
    course = folder / "course"
    init = as_user([DEEPGRADE, "init", str(course), "--topics", "activations"], cwd=folder)
    assert init.returncode == 0, init.stderr
    student = course / "submissions" / "activations" / "ref"
    copy = as_user(["mkdir", "-p", str(student)], cwd=folder)
    assert copy.returncode == 0
    shutil.copy(SOLUTIONS / "activations.py", student / "activations.py")
    refused = as_user([DEEPGRADE, "grade", "--course", str(course), "--workers", "1"], cwd=folder, env=NO_NAMESPACES)
    assert refused.returncode == 1 and "Error: refusing to grade" in refused.stderr, refused.stdout + refused.stderr
    toml = course / "deepgrade.toml"
    text = toml.read_text()
    toml.write_text(text + "\n[sandbox]\nunsafe_no_sandbox = true\n")
    done = as_user([DEEPGRADE, "grade", "--course", str(course), "--workers", "1"], cwd=folder, env=NO_NAMESPACES)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "warning: --unsafe-no-sandbox" in done.stderr and "sandbox: tier 3 (UNCONFINED" in done.stderr
    toml.write_text(text + "\n[sandbox]\nunsafe_no_sandbox = \"yes\"\n")
    bad = as_user([DEEPGRADE, "grade", "--course", str(course)], cwd=folder)
    assert bad.returncode != 0 and "unsafe_no_sandbox = 'yes': expected true or false" in bad.stderr, bad.stderr
