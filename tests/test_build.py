"""Student material is generated from the references and never drifts."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from autograder import build
from cli import main
from tests.conftest import ROOT


def test_committed_stubs_and_readmes_match_the_references():
    result = CliRunner().invoke(main, ["build", "--check"])
    assert result.exit_code == 0, result.output


def test_check_fails_when_a_stub_drifts(tmp_path, monkeypatch):
    monkeypatch.setattr(build, "ASSIGNMENTS", tmp_path)
    assert build.build(["activations"], check=True)  # nothing generated there yet: stale
    build.build(["activations"])
    assert build.build(["activations"], check=True) == []
    stub = tmp_path / "activations" / "activations.py"
    stub.write_text(stub.read_text() + "\n# edited by hand\n")
    assert build.build(["activations"], check=True) == [stub]


def test_stub_keeps_the_interface_and_drops_the_solution():
    source = (ROOT / "solutions" / "activations.py").read_text()
    stub = build.make_stub(source, "activations")
    assert "BEGIN SOLUTION" not in stub and "np.exp(-np.abs(z))" not in stub
    assert 'raise NotImplementedError("sigmoid: your code here")' in stub
    assert "def layer_gradient_norms(grad_output" in stub and "last layer first" in stub


def test_markers_in_methods_and_module_level_helpers():
    source = '''"""Doc."""


# BEGIN SOLUTION
def _helper():
    return 1
# END SOLUTION


class Thing:
    def __init__(self, n):
        self.n = n
        # BEGIN SOLUTION
        self.secret = _helper()
        # END SOLUTION

    def go(self):
        """Go."""
        # BEGIN SOLUTION
        return self.secret
        # END SOLUTION
'''
    stub = build.make_stub(source, "thing")
    assert "_helper" not in stub
    assert 'raise NotImplementedError("Thing.__init__: your code here")' in stub
    assert 'raise NotImplementedError("Thing.go: your code here")' in stub


@pytest.mark.parametrize("source, message", [
    ("def f():\n    # BEGIN SOLUTION\n    return 1\n", "without END"),
    ("def f():\n    return 1\n    # END SOLUTION\n", "without BEGIN"),
    ("def f():\n    # BEGIN SOLUTION\n    # BEGIN SOLUTION\n    # END SOLUTION\n    return 1\n", "nested"),
])
def test_unbalanced_markers_are_reported_with_the_line(source, message):
    with pytest.raises(build.MarkerError, match=message):
        build.make_stub(source, "bad", "bad.py")


@pytest.mark.parametrize("topic", build.topics())
def test_public_tests_pass_on_the_reference_and_fail_on_the_stub(topic, tmp_path):
    tests = ROOT / "assignments" / topic / f"test_{topic}.py"
    if not tests.exists():
        pytest.skip(f"no public tests for {topic} yet")
    for kind, source, expect_ok in (("reference", ROOT / "solutions" / f"{topic}.py", True),
                                    ("stub", ROOT / "assignments" / topic / f"{topic}.py", False)):
        folder = tmp_path / kind
        folder.mkdir()
        (folder / f"{topic}.py").write_text(source.read_text())
        (folder / tests.name).write_text(tests.read_text())
        code = subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", "/dev/null",
                                "--rootdir", str(folder), str(folder / tests.name)], cwd=folder,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert (code == 0) == expect_ok, f"public tests on the {kind}: exit {code}"
