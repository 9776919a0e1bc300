"""Sign-in codes, sessions, rate limits, upload limits and headers."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from autograder.gradebook import Gradebook, load_course
from autograder.service import accounts
from autograder.service.app import create_app
from autograder.service.security import CSP, SigninLimiter
from tests.service.conftest import FakeExecutor, csrf_of, sign_in, upload, wait_graded


def test_codes_are_stored_only_as_scrypt_hashes(course_dir, codes: dict) -> None:
    db = load_course(course_dir).db_path
    raw = db.read_bytes() + (db.with_name(db.name + "-wal").read_bytes() if db.with_name(db.name + "-wal").exists()
                             else b"")
    for code in codes.values():
        assert code.encode() not in raw and accounts.normalize(code).encode() not in raw
    with Gradebook.open(db) as book:
        stored = [r["code_hash"] for r in book.conn.execute("SELECT code_hash FROM accounts")]
    assert all(h.startswith("scrypt$16384$8$1$") for h in stored)
    assert len({h.split("$")[4] for h in stored}) == len(stored)  # every hash has its own salt


def test_codes_are_forgiving_to_type_but_exact(course_dir, codes: dict) -> None:
    with Gradebook.open(load_course(course_dir).db_path) as book:
        code = codes["s1"]
        assert accounts.authenticate(book, "s1", code.upper().replace("-", " "))
        assert not accounts.authenticate(book, "s1", code[:-1] + ("2" if code[-1] != "2" else "3"))
        assert not accounts.authenticate(book, "s2", code)
        assert not accounts.authenticate(book, "nobody", code)


def test_rotation_and_revocation_end_sessions(app, client: TestClient, course_dir, codes: dict) -> None:
    sign_in(client, "s1", codes["s1"])
    assert client.get("/home").status_code == 200
    with Gradebook.open(load_course(course_dir).db_path) as book:
        new = accounts.issue(book, [("s1", "student")], rotate=True)[0].code
    assert client.get("/home").status_code == 303  # the old session ended
    other = TestClient(app, follow_redirects=False)
    r = other.post("/signin", data={"account": "s1", "code": codes["s1"], "csrf": csrf_of(other)})
    assert r.status_code == 401  # the old code no longer works
    sign_in(other, "s1", new)
    assert other.get("/home").status_code == 200
    with Gradebook.open(load_course(course_dir).db_path) as book:
        assert accounts.revoke(book, "s1")
    assert other.get("/home").status_code == 303


def test_session_cookie_flags(course_dir, codes: dict) -> None:
    for https, secure in ((False, False), (True, True)):
        c = TestClient(create_app(course_dir, grade=False, https=https), base_url="https://testserver",
                       follow_redirects=False)
        cookie = c.get("/signin").headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and ("secure" in cookie) is secure


def test_sign_in_rate_limit_locks_briefly(app, codes: dict, monkeypatch) -> None:
    import autograder.service.security as security

    clock = [1000.0]
    monkeypatch.setattr(security.time, "monotonic", lambda: clock[0])
    c = TestClient(app, follow_redirects=False)
    for _ in range(5):
        r = c.post("/signin", data={"account": "s1", "code": "wrong-code", "csrf": csrf_of(c)})
        assert r.status_code == 401
    r = c.post("/signin", data={"account": "s1", "code": codes["s1"], "csrf": csrf_of(c)})
    assert r.status_code == 429 and "Try again in 60 seconds" in r.text  # even the right code waits
    assert c.post("/api/token", json={"account": "s1", "code": codes["s1"]}).status_code == 429
    other = TestClient(app, follow_redirects=False)  # another account is not affected
    sign_in(other, "s2", codes["s2"])
    clock[0] += 61  # the lock is short: a classmate cannot keep s1 out for long
    sign_in(c, "s1", codes["s1"])


def test_address_limit_stops_guessing_across_accounts() -> None:
    limiter = SigninLimiter(account_max=5, address_max=30)
    for i in range(30):
        limiter.failed(f"user{i}", "10.0.0.9", now=0.0)
    assert limiter.wait("fresh-account", "10.0.0.9", now=1.0) == pytest.approx(299.0)
    assert limiter.wait("fresh-account", "10.0.0.10", now=1.0) == 0.0
    assert limiter.wait("user3", "10.0.0.9", now=400.0) == 0.0


def test_uploads_are_capped_while_streaming(client: TestClient, codes: dict) -> None:
    sign_in(client, "s1", codes["s1"])
    token = csrf_of(client, "/a/clipping")
    big = b"#" * 200_000  # max_upload_kb = 50 in the test course
    r = client.post("/a/clipping/upload", data={"csrf": token}, files={"file": ("clipping.py", big)})
    assert r.status_code == 413

    def chunks():  # no Content-Length: the cap applies to what streams in
        body = (b"--b\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n" + token.encode() +
                b"\r\n--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"clipping.py\"\r\n\r\n")
        yield body
        for _ in range(100):
            yield b"#" * 10_000
        yield b"\r\n--b--\r\n"

    r = client.post("/a/clipping/upload", content=chunks(), headers={"content-type": "multipart/form-data; boundary=b"})
    assert r.status_code == 413
    with client.app.state.service.book() as book:
        assert book.conn.execute("SELECT COUNT(*) FROM submissions").fetchone()[0] == 0


@pytest.mark.parametrize("name", ["clipping.txt", "clipping.py.exe", "", "clipping"])
def test_only_py_and_ipynb_are_accepted(client: TestClient, codes: dict, name: str) -> None:
    sign_in(client, "s1", codes["s1"])
    r = client.post("/a/clipping/upload", data={"csrf": csrf_of(client, "/a/clipping")},
                    files={"file": (name, b"x = 1\n")})
    assert r.status_code == 303 and r.headers["location"].startswith("/a/clipping?m=")


def test_upload_names_are_never_paths(client: TestClient, codes: dict, course_dir) -> None:
    sign_in(client, "s1", codes["s1"])
    sub = upload(client, "clipping", b"# GOOD\n", name="../../../../tmp/evil.py")
    wait_graded(client, sub)
    assert not (course_dir.parent / "tmp" / "evil.py").exists()
    stored = list((course_dir / "uploads").rglob("*.py"))
    assert [p.name for p in stored] == ["clipping.py"]


def test_security_headers_on_every_response(client: TestClient, codes: dict) -> None:
    sign_in(client, "s1", codes["s1"])
    for url in ["/signin", "/home", "/a/clipping", "/static/app.js", "/nope", "/staff"]:
        h = client.get(url).headers
        assert h["content-security-policy"] == CSP, url
        assert "script-src 'self';" in CSP and "unsafe-inline" not in CSP.split("script-src")[1].split(";")[0]
        assert "frame-ancestors 'none'" in CSP
        assert h["x-content-type-options"] == "nosniff" and h["x-frame-options"] == "DENY"


def test_no_page_has_inline_script(client: TestClient, app, codes: dict) -> None:
    import re

    sign_in(client, "s1", codes["s1"])
    sub = upload(client, "clipping", b"x = 0\n")
    wait_graded(client, sub)
    staff = sign_in(TestClient(app, follow_redirects=False), "prof", codes["prof"])
    pages = [client.get(u).text for u in ("/signin", "/home", "/a/clipping", f"/s/{sub}")]
    pages += [staff.get(u).text for u in ("/staff", "/staff/students/s1", "/staff/report")]
    for html in pages:
        for tag in re.findall(r"<script[^>]*>", html):
            assert 'src="/static/app.js"' in tag
        assert not re.search(r"<[^>]*\son[a-z]+=", html)  # no inline event handlers either


def test_trusted_proxy_header_only_from_trusted_addresses(course_dir, codes: dict) -> None:
    toml = course_dir / "deepgrade.toml"
    plain = TestClient(create_app(course_dir, grade=False), follow_redirects=False, client=("10.1.1.1", 5000))
    assert plain.get("/home", headers={"X-Remote-User": "s1"}).status_code == 303  # off unless configured
    toml.write_text(toml.read_text().replace(
        "[service]\n", '[service]\ntrusted_proxies = ["10.1.1.1"]\nuser_header = "X-Remote-User"\n'))
    app = create_app(course_dir, executor=FakeExecutor)
    outsider = TestClient(app, follow_redirects=False, client=("10.9.9.9", 5000))
    assert outsider.get("/home", headers={"X-Remote-User": "s1"}).status_code == 303
    proxy = TestClient(app, follow_redirects=False, client=("10.1.1.1", 5000))
    assert proxy.get("/home", headers={"X-Remote-User": "s1"}).status_code == 200


def test_rate_limits_count_the_forwarded_address_only_behind_a_trusted_proxy(course_dir, codes: dict) -> None:
    from starlette.requests import Request

    from autograder.service.app import client_address

    toml = course_dir / "deepgrade.toml"
    toml.write_text(toml.read_text().replace("[service]\n", '[service]\ntrusted_proxies = ["10.1.1.1"]\n'))
    app = create_app(course_dir, grade=False)

    def request(peer: str, forwarded: str) -> Request:
        return Request({"type": "http", "app": app, "client": (peer, 1),
                        "headers": [(b"x-forwarded-for", forwarded.encode())]})

    assert client_address(request("10.1.1.1", "6.6.6.6, 192.0.2.7")) == "192.0.2.7"  # what our proxy appended
    assert client_address(request("192.0.2.99", "6.6.6.6")) == "192.0.2.99"  # anyone else: the peer


def test_a_server_error_is_brief_and_keeps_the_headers(app, codes: dict, monkeypatch) -> None:
    import autograder.service.app as service_app

    def broken(*args):
        raise RuntimeError("secret internals /srv/course")

    monkeypatch.setattr(service_app, "_home_rows", broken)
    c = TestClient(app, follow_redirects=False, raise_server_exceptions=False)
    sign_in(c, "s1", codes["s1"])
    r = c.get("/home")
    assert r.status_code == 500 and "secret internals" not in r.text and "Traceback" not in r.text
    assert r.headers["content-security-policy"] == CSP
