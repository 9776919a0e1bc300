"""Access: every route of the router, tried by the wrong people.

The routes are enumerated from the application itself, so a route added later is covered
without editing this file; a route whose path parameter this file cannot fill fails loudly.
"""

from __future__ import annotations

import re

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from autograder.service.access import ACTIONS, Actor, Denied, allowed, check
from autograder.service.app import ROUTES
from tests.service.conftest import csrf_of, sign_in, upload, wait_graded

BAD = b"def f():\n    return 0\n"


def routes(app) -> list[tuple[str, str]]:
    out = []
    for r in app.routes:
        assert isinstance(r, Route), f"{r!r}: only plain routes are expected (mounts need their own access test)"
        out += [(r.path, m) for m in sorted(r.methods or []) if m != "HEAD"]
    return out


def fill(path: str, values: dict[str, str]) -> str:
    def one(m: re.Match) -> str:
        name = m.group(1).split(":")[0]
        assert name in values, f"route {path}: no test value for path parameter {{{name}}}; add it to this test"
        return values[name]

    return re.sub(r"\{([^}]+)\}", one, path)


def test_every_route_is_declared_with_its_access_rule(app) -> None:
    declared = {(p, m) for p, _, methods, _ in ROUTES for m in methods}
    assert set(routes(app)) == declared
    assert all(action is None or action in ACTIONS for *_, action in ROUTES)


@pytest.fixture
def victim(client: TestClient, codes: dict) -> dict:
    """s1 (the victim) has a graded submission; returns the ids that point at s1's things."""
    sign_in(client, "s1", codes["s1"])
    sub = upload(client, "clipping", BAD)
    wait_graded(client, sub)
    return {"topic": "clipping", "submission_id": str(sub), "student_id": "s1", "fmt": "csv", "name": "app.js"}


def _call(c: TestClient, method: str, url: str, csrf: str | None) -> object:
    if method == "GET":
        return c.get(url)
    data = {"csrf": csrf or "", "target": "all", "account": "s1", "code": "x"}
    return c.post(url, data=data, files={"file": ("clipping.py", BAD)} if "upload" in url else None)


def test_another_student_can_read_or_change_nothing_of_the_victims(app, victim: dict, codes: dict) -> None:
    owned = {p for p, _, _, action in ROUTES if action and ACTIONS[action] == "own"}
    staff_only = {p for p, _, _, action in ROUTES if action and ACTIONS[action] == "staff"}
    checked = 0
    for path, method in routes(app):
        # a fresh session per route: one route (sign out) ends it
        attacker = sign_in(TestClient(app, follow_redirects=False), "s2", codes["s2"])
        url = fill(path, victim)
        r = _call(attacker, method, url, csrf_of(attacker, "/home"))
        body = r.text
        if path in staff_only:
            assert r.status_code == 403, (method, url, r.status_code)
        elif path in owned and "{submission_id}" in path:
            assert r.status_code == 404, (method, url, r.status_code)  # not even told it exists
        # whatever the route, nothing of the victim's comes back
        assert "Looks like you forgot" not in body and HOSTILE_FRAGMENT not in body, (method, url)
        checked += 1
    assert checked == len(routes(app))
    with app.state.service.book() as book:  # and nothing was submitted or regraded on the victim's behalf
        rows = book.conn.execute("SELECT student_id, COUNT(*) AS n FROM submissions GROUP BY student_id").fetchall()
        assert {r["student_id"]: r["n"] for r in rows}.get("s1") == 1
        assert book.conn.execute("SELECT COUNT(*) FROM queue WHERE reason = 'regrade'").fetchone()[0] == 0


HOSTILE_FRAGMENT = "S1 Tester"  # never shown: the roster name was replaced by a hostile one


def test_signed_out_visitors_are_sent_to_sign_in(app, victim: dict) -> None:
    anon = TestClient(app, follow_redirects=False)
    for path, method in routes(app):
        rule = next(a for p, _, ms, a in ROUTES if p == path and method in ms)
        if rule is None:
            continue
        url = fill(path, victim)
        r = _call(anon, method, url, None)
        if url.startswith("/api/"):
            assert r.status_code == 401, (method, url)
        elif method == "POST":
            assert r.status_code in (303, 403), (method, url)  # no session: sign-in, or the CSRF check first
            assert r.status_code == 403 or r.headers["location"] == "/signin"
        else:
            assert r.status_code == 303 and r.headers["location"] == "/signin", (method, url)


def test_every_form_post_needs_the_csrf_token(app, victim: dict, codes: dict) -> None:
    staff = sign_in(TestClient(app, follow_redirects=False), "prof", codes["prof"])
    for path, method in routes(app):
        if method != "POST" or path.startswith("/api/"):
            continue
        r = _call(staff, method, fill(path, victim), "forged-token")
        assert r.status_code == 403, path
        r = staff.post(fill(path, victim), data={"target": "all"})
        assert r.status_code == 403, path
    with app.state.service.book() as book:
        assert book.conn.execute("SELECT COUNT(*) FROM queue WHERE reason = 'regrade'").fetchone()[0] == 0


def test_the_api_takes_no_cookies_for_changes(app, victim: dict, codes: dict) -> None:
    student = sign_in(TestClient(app, follow_redirects=False), "s2", codes["s2"])
    r = student.post("/api/a/clipping/upload", files={"file": ("clipping.py", BAD)})
    assert r.status_code == 401


def test_bearer_tokens_follow_the_same_rules(app, victim: dict, codes: dict) -> None:
    c = TestClient(app, follow_redirects=False)
    token = c.post("/api/token", json={"account": "s2", "code": codes["s2"]}).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    assert c.get(f"/api/s/{victim['submission_id']}", headers=auth).status_code == 404
    assert c.get("/staff", headers=auth).status_code == 403
    r = c.post("/api/a/clipping/upload", headers=auth, files={"file": ("clipping.py", b"# GOOD\n")})
    assert r.status_code == 202
    assert c.get(f"/api/s/{r.json()['submission']}", headers=auth).status_code == 200
    assert c.get("/home", headers={"Authorization": "Bearer forged"}).status_code == 303


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_the_access_rules(action: str) -> None:
    alice, bob, staff = Actor("alice", "student"), Actor("bob", "student"), Actor("prof", "staff")
    own = ACTIONS[action] == "own"
    assert allowed(staff, action, "alice")
    assert not allowed(None, action, "alice")
    assert allowed(alice, action, "alice") is own
    assert not allowed(bob, action, "alice")
    assert allowed(alice, action, None) is own
    with pytest.raises(Denied) as info:
        check(bob, action, "alice")
    assert info.value.hide is own


def test_an_undeclared_action_is_never_allowed() -> None:
    with pytest.raises(KeyError):
        allowed(Actor("prof", "staff"), "delete_everything")
