"""The Starlette application: pages for students and staff, JSON for `deepgrade submit`.

Views are thin: each finds the actor, asks ``access.check`` whether the actor may do the thing,
then reads or writes the gradebook through ``submissions`` and the gradebook's own functions.
Every state change (a POST) carries a CSRF token (forms) or a bearer token (the API, which
takes no cookies).
"""

from __future__ import annotations

import contextlib
import json
import secrets
import tempfile
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route

from autograder.executor import Executor
from autograder.gradebook import exports
from autograder.gradebook.course import Course, load_course
from autograder.gradebook.store import Gradebook, now_utc
from autograder.render import render
from autograder.service import accounts, submissions
from autograder.service.access import ACTIONS, Actor, Denied, check
from autograder.service.dispatch import Dispatcher
from autograder.service.security import HEADERS, BodyLimit, SecurityHeaders, SigninLimiter, csrf_ok, new_csrf
from autograder.service.settings import ServiceSettings, load_settings

STATIC = Path(__file__).resolve().parent / "static"
SECRET_FILE = ".deepgrade-service-secret"
TOKEN_DAYS = 120  # a `deepgrade submit` sign-in lasts the term
FORM_OVERHEAD = 64_000  # multipart headers and the CSRF field on top of the file itself
STATE_LABEL = {"queued": "queued", "grading": "grading", "graded": "graded", "failed": "failed",
               "unknown": "unknown"}


def course_secret(course: Course) -> str:
    """The key that signs sessions and tokens: made once per course, readable by its owner only."""
    path = course.root / SECRET_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    import os

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


class Service:
    """What every view shares: the course, its settings, the signer, the limiter, the dispatcher."""

    def __init__(self, course: Course, settings: ServiceSettings, secret: str,
                 dispatcher: Dispatcher | None) -> None:
        self.course, self.settings, self.dispatcher = course, settings, dispatcher
        self.tokens = URLSafeTimedSerializer(secret, salt="deepgrade-api-token")
        self.limiter = SigninLimiter()
        self._handouts: dict[tuple[str, str], bytes] = {}
        self._handout_lock = threading.Lock()
        self._local = threading.local()

    @contextlib.contextmanager
    def book(self) -> Iterator[Gradebook]:
        """This thread's gradebook connection (opened once per thread: a status poll costs a query, not a
        connect and a schema check)."""
        book = getattr(self._local, "book", None)
        if book is None:
            book = self._local.book = Gradebook.open(self.course.db_path)
        yield book

    def handout(self, topic: str, fmt: str) -> bytes:
        """The student's starting file for ``topic`` as .py or .ipynb (made once, then cached)."""
        with self._handout_lock:
            if (topic, fmt) not in self._handouts:
                from autograder.notebooks import release

                with tempfile.TemporaryDirectory() as tmp:
                    paths = release(topic, Path(tmp), fmt)
                    main = next(p for p in paths if p.name == f"{topic}.{fmt}")
                    self._handouts[(topic, fmt)] = main.read_bytes()
            return self._handouts[(topic, fmt)]


def svc(request: Request) -> Service:
    return request.app.state.service


# ---------------------------------------------------------------------------- who is asking

def actor_of(request: Request) -> Actor | None:
    """The signed-in actor: a bearer token (API), a trusted proxy's user header, or the session cookie."""
    service = svc(request)
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        try:
            data = service.tokens.loads(auth[7:].strip(), max_age=TOKEN_DAYS * 86400)
        except (BadSignature, SignatureExpired):
            return None
        return _active(request, data.get("a", ""), data.get("g"))
    settings = service.settings
    if settings.user_header and _from_proxy(request):
        user = request.headers.get(settings.user_header)
        if user:  # the proxy signed this person in (SSO) and sets the header itself
            return _active(request, user, None)
    session = request.scope.get("session") or {}
    if "a" in session:
        actor = _active(request, session["a"], session.get("g"))
        if actor is None:
            session.clear()  # rotated or revoked: this session ends
        return actor
    return None


def _from_proxy(request: Request) -> bool:
    """Did the request come straight from a configured reverse proxy?"""
    return bool(request.client) and request.client.host in svc(request).settings.trusted_proxies


def client_address(request: Request) -> str:
    """The person's address: the proxy's X-Forwarded-For entry when a trusted proxy sent it, else the peer."""
    if _from_proxy(request):
        forwarded = request.headers.get("x-forwarded-for", "").split(",")[-1].strip()
        if forwarded:
            return forwarded
    return request.client.host if request.client else "?"


def _active(request: Request, account: str, generation: int | None) -> Actor | None:
    cached = request.scope.get("deepgrade.actor")
    if cached is not None:
        return cached
    with svc(request).book() as book:
        acc = accounts.lookup(book.conn, account)
    if acc is None or (generation is not None and acc.generation != generation):
        return None
    actor = Actor(acc.account, acc.role)
    request.scope["deepgrade.actor"] = actor
    return actor


def csrf_token(request: Request) -> str:
    session = request.session
    if "csrf" not in session:
        session["csrf"] = new_csrf()
    return session["csrf"]


async def form_with_csrf(request: Request) -> Any:
    """The posted form, after checking its CSRF token against the session's."""
    form = await request.form(max_files=1, max_fields=20)
    if not csrf_ok(request.session.get("csrf"), form.get("csrf")):
        raise HTTPException(403, "This form has expired or did not come from this site; reload the page and try again.")
    return form


def page(request: Request, template: str, http_status: int = 200, **context: Any) -> HTMLResponse:
    context.update(course=svc(request).course, actor=request.scope.get("deepgrade.actor"), csrf=csrf_token(request))
    return HTMLResponse(render(template, **context), status_code=http_status)


# ---------------------------------------------------------------------------- public pages

async def index(request: Request) -> Response:
    actor = await run_in_threadpool(actor_of, request)
    if actor is None:
        return RedirectResponse("/signin", 303)
    return RedirectResponse("/staff" if actor.role == "staff" else "/home", 303)


async def signin(request: Request) -> Response:
    service = svc(request)
    if request.method == "GET":
        return page(request, "service/signin.html", error="", account="")
    form = await form_with_csrf(request)
    account, code = str(form.get("account", "")).strip()[:100], str(form.get("code", ""))[:100]
    address = client_address(request)
    wait = service.limiter.wait(account, address)
    if wait:
        return page(request, "service/signin.html", 429, account=account,
                    error=f"Too many attempts. Try again in {wait:.0f} seconds.")
    acc = await run_in_threadpool(_authenticate, service, account, code)
    if acc is None:
        service.limiter.failed(account, address)
        return page(request, "service/signin.html", 401, account=account,
                    error="That ID and code do not match. Check the code in your mail (letters and digits, "
                          "dashes optional).")
    service.limiter.succeeded(account)
    request.session.clear()
    request.session.update({"a": acc.account, "g": acc.generation, "csrf": new_csrf()})
    return RedirectResponse("/staff" if acc.role == "staff" else "/home", 303)


def _authenticate(service: Service, account: str, code: str) -> accounts.Account | None:
    with service.book() as book:
        return accounts.authenticate(book, account, code)


async def signout(request: Request) -> Response:
    await form_with_csrf(request)
    request.session.clear()
    return RedirectResponse("/signin", 303)


async def static(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in {"app.js"}:  # a fixed list: the name is never used as a path
        raise HTTPException(404)
    return FileResponse(STATIC / name, media_type="text/javascript")


async def healthz(request: Request) -> Response:
    return JSONResponse({"ok": True})


# ---------------------------------------------------------------------------- students

async def home(request: Request) -> Response:
    actor = await _require(request, "view_assignments")
    if actor.role == "staff":
        return RedirectResponse("/staff", 303)
    rows = await run_in_threadpool(_home_rows, svc(request), actor.id)
    return page(request, "service/home.html", rows=rows)


def _home_rows(service: Service, student_id: str) -> list[dict]:
    course = service.course
    with service.book() as book:
        counted = {g.topic: g for g in book.current(student_id=student_id)}
        overrides = {o.topic: o for o in book.overrides(student_id)}
        out = []
        for topic, a in course.assignments.items():
            subs = book.conn.execute("SELECT id FROM submissions WHERE student_id = ? AND topic = ? ORDER BY id DESC",
                                     (student_id, topic)).fetchall()
            state = submissions.status(book, subs[0]["id"])["state"] if subs else "not submitted"
            out.append({"topic": topic, "title": a.title, "deadline": course.local(course.deadline(student_id, topic)),
                        "extension": course.extension_days(student_id, topic), "state": state,
                        "counted": counted.get(topic), "override": overrides.get(topic), "n": len(subs)})
    return out


async def assignment(request: Request) -> Response:
    topic = request.path_params["topic"]
    actor = await _require(request, "view_assignment")
    service = svc(request)
    if topic not in service.course.assignments:
        raise HTTPException(404)
    if actor.role == "staff":
        return RedirectResponse("/staff", 303)
    ctx = await run_in_threadpool(_assignment_context, service, actor.id, topic)
    return page(request, "service/assignment.html", message=request.query_params.get("m", "")[:300], **ctx)


def _assignment_context(service: Service, student_id: str, topic: str) -> dict:
    course = service.course
    a = course.assignments[topic]
    with service.book() as book:
        counted = next(iter(book.current(topic=topic, student_id=student_id)), None)
        override = book.override(student_id, topic)
        rows = book.conn.execute("SELECT * FROM submissions WHERE student_id = ? AND topic = ? ORDER BY id DESC",
                                 (student_id, topic)).fetchall()
        history = []
        for r in rows:
            st = submissions.status(book, r["id"])
            g = book.graded_submission(r["id"]) if st["state"] == "graded" else None
            history.append({"id": r["id"], "received": course.local(datetime.fromisoformat(r["submitted_at"])),
                            "late_days": r["late_days"], "state": st["state"], "graded": g,
                            "counted": bool(r["is_current"]) and g is not None})
    end = submissions.upload_window_end(course, student_id, topic)
    return {"assignment": a, "topic": topic, "deadline": course.local(course.deadline(student_id, topic)),
            "due": course.local(a.due), "extension": course.extension_days(student_id, topic),
            "window_end": course.local(end) if end else "", "closed": end is not None and now_utc() > end,
            "counted": counted, "override": override, "history": history, "policy": a.late.describe(),
            "pending": any(h["state"] in ("queued", "grading") for h in history),
            "settings": service.settings}


async def handout(request: Request) -> Response:
    topic, fmt = request.path_params["topic"], request.path_params["fmt"]
    await _require(request, "download_handout")
    service = svc(request)
    if topic not in service.course.assignments or fmt not in ("py", "ipynb"):
        raise HTTPException(404)
    data = await run_in_threadpool(service.handout, topic, fmt)
    media = "application/x-ipynb+json" if fmt == "ipynb" else "text/x-python"
    return Response(data, media_type=media, headers={"content-disposition": f'attachment; filename="{topic}.{fmt}"'})


async def upload(request: Request) -> Response:
    topic = request.path_params["topic"]
    actor = await _require(request, "submit")
    form = await form_with_csrf(request)
    if actor.role != "student":
        raise HTTPException(403, "Only students submit.")
    file = form.get("file")
    try:
        receipt = await _receive(request, actor, topic, file)
    except submissions.Refused as exc:
        return RedirectResponse(f"/a/{quote(topic)}?m={quote(str(exc))}", 303)
    return RedirectResponse(f"/s/{receipt.submission_id}", 303)


async def _receive(request: Request, actor: Actor, topic: str, file: Any) -> submissions.Receipt:
    service = svc(request)
    if topic not in service.course.assignments:
        raise HTTPException(404)
    if not isinstance(file, UploadFile):
        raise submissions.Refused("choose a file to upload")
    data = await file.read(service.settings.max_upload_bytes + 1)
    return await run_in_threadpool(_store, service, actor.id, topic, file.filename or "", data)


def _store(service: Service, student_id: str, topic: str, filename: str, data: bytes) -> submissions.Receipt:
    with service.book() as book:
        return submissions.receive(service.course, book, service.settings, student_id, topic, filename, data)


async def submission(request: Request) -> Response:
    ctx = await _submission(request, "view_submission")
    if ctx["graded"] is not None:
        return page(request, "service/feedback.html", **ctx)
    return page(request, "service/pending.html", **ctx)


async def _submission(request: Request, action: str) -> dict:
    try:
        sub_id = int(request.path_params["submission_id"])
    except ValueError:
        raise HTTPException(404) from None
    actor = await run_in_threadpool(actor_of, request)
    service = svc(request)
    with service.book() as book:
        row = book.conn.execute("SELECT * FROM submissions WHERE id = ?", (sub_id,)).fetchone()
    check(actor, action, owner=row["student_id"] if row is not None else "\0nobody")
    if row is None:
        raise HTTPException(404)
    return await run_in_threadpool(_submission_context, service, row)


def _submission_context(service: Service, row: Any) -> dict:
    from autograder.reports.feedback import feedback_context

    course = service.course
    with service.book() as book:
        st = submissions.status(book, row["id"])
        graded = book.graded_submission(row["id"])
        ctx: dict = {"sub": row, "status": st, "graded": graded, "topic": row["topic"],
                     "received": course.local(datetime.fromisoformat(row["submitted_at"]))}
        if graded is not None and row["topic"] in course.assignments:
            student = book.student(row["student_id"])
            percents = [g.percent for g in book.current(topic=row["topic"])]
            ctx.update(feedback_context(course, graded, now=datetime.now(timezone.utc), class_percents=percents,
                                        name=student.name if student else ""))
            ctx["counted_now"] = bool(row["is_current"])
            ctx["override"] = book.override(row["student_id"], row["topic"])
        ctx["assignment"] = course.assignments.get(row["topic"])
    return ctx


async def submission_status(request: Request) -> Response:
    """JSON for `deepgrade submit` and scripts: state, and when graded the score and failed checks."""
    ctx = await _submission(request, "view_submission")
    out: dict = {"submission": ctx["sub"]["id"], "topic": ctx["topic"], **ctx["status"]}
    if ctx["graded"] is not None and "rows" in ctx:
        out.update({"score": ctx["shown_score"] if not ctx["full"] else ctx["graded"].final_score,
                    "max_score": ctx["shown_max"] if not ctx["full"] else ctx["graded"].max_score,
                    "complete": ctx["full"],
                    "failed": [{"name": r.name, "points": r.max_score, "message": r.message}
                               for r in ctx["rows"] if r.state == "shown" and not r.passed],
                    "url": f"/s/{ctx['sub']['id']}"})
    return JSONResponse(out)


# ---------------------------------------------------------------------------- the API for `deepgrade submit`

async def api_token(request: Request) -> Response:
    service = svc(request)
    try:
        body = json.loads(await request.body() or b"{}")
        account, code = str(body["account"]).strip()[:100], str(body["code"])[:100]
    except (ValueError, KeyError, TypeError):
        return JSONResponse({"error": "send JSON {\"account\": ..., \"code\": ...}"}, 400)
    address = client_address(request)
    wait = service.limiter.wait(account, address)
    if wait:
        return JSONResponse({"error": f"too many attempts; try again in {wait:.0f} s"}, 429)
    acc = await run_in_threadpool(_authenticate, service, account, code)
    if acc is None:
        service.limiter.failed(account, address)
        return JSONResponse({"error": "that ID and code do not match"}, 401)
    service.limiter.succeeded(account)
    return JSONResponse({"token": service.tokens.dumps({"a": acc.account, "g": acc.generation}),
                         "account": acc.account, "role": acc.role})


async def api_upload(request: Request) -> Response:
    topic = request.path_params["topic"]
    if not request.headers.get("authorization", "").lower().startswith("bearer "):
        return JSONResponse({"error": "the API takes a bearer token (sign in with `deepgrade submit`)"}, 401)
    actor = await _require(request, "submit")
    if actor.role != "student":
        return JSONResponse({"error": "only students submit"}, 403)
    form = await request.form(max_files=1, max_fields=5)
    try:
        receipt = await _receive(request, actor, topic, form.get("file"))
    except submissions.Refused as exc:
        return JSONResponse({"error": str(exc)}, 422)
    return JSONResponse({"submission": receipt.submission_id, "queued": receipt.queue_id is not None,
                         "received_at": svc(request).course.local(receipt.received_at),
                         "status_url": f"/api/s/{receipt.submission_id}"}, 202)


# ---------------------------------------------------------------------------- staff

async def dashboard(request: Request) -> Response:
    await _require(request, "view_dashboard")
    ctx = await run_in_threadpool(_dashboard_context, svc(request))
    return page(request, "service/dashboard.html", **ctx)


def _dashboard_context(service: Service) -> dict:
    course = service.course
    with service.book() as book:
        columns, rows = exports.gradebook_table(course, book)
        queue = book.conn.execute(
            "SELECT q.*, s.student_id, s.topic FROM queue q JOIN submissions s ON s.id = q.submission_id "
            "WHERE q.state IN ('queued', 'running', 'failed') ORDER BY q.id LIMIT 200").fetchall()
        audit = book.conn.execute("SELECT * FROM audit ORDER BY id DESC LIMIT 25").fetchall()
        counts = submissions.queue_counts(book)
    local = {q["id"]: course.local(datetime.fromisoformat(q["enqueued_at"])) for q in queue}
    return {"columns": columns, "rows": rows, "queue": queue, "queued_at": local, "counts": counts,
            "audit": [dict(a, at=course.local(datetime.fromisoformat(a["at"]))) for a in audit],
            "formats": list(exports.FORMATS)}


async def staff_student(request: Request) -> Response:
    await _require(request, "view_student")
    student_id = request.path_params["student_id"]
    service = svc(request)
    ctx = await run_in_threadpool(_student_context, service, student_id)
    if ctx is None:
        raise HTTPException(404)
    return page(request, "service/student.html", message=request.query_params.get("m", "")[:300], **ctx)


def _student_context(service: Service, student_id: str) -> dict | None:
    course = service.course
    with service.book() as book:
        student = book.student(student_id)
        if student is None:
            return None
        subs = []
        for item in book.history(student_id):
            s = item["submission"]
            subs.append({"id": s["id"], "topic": s["topic"], "state": submissions.status(book, s["id"])["state"],
                         "received": course.local(datetime.fromisoformat(s["submitted_at"])),
                         "source": s["time_source"], "current": bool(s["is_current"]), "late_days": s["late_days"],
                         "gradings": [dict(g) for g in item["gradings"]]})
        counted = {g.topic: g for g in book.current(student_id=student_id)}
        overrides = {o.topic: o for o in book.overrides(student_id)}
    scores = []
    for topic, a in course.assignments.items():
        g, o = counted.get(topic), overrides.get(topic)
        scores.append({"topic": topic, "title": a.title, "graded": g, "override": o,
                       "set_at": course.local(o.set_at) if o else "",
                       "max": override_max(course, topic, g, o)})
    return {"student": student, "subs": subs, "scores": scores}


def override_max(course: Course, topic: str, counted: Any, current: Any = None) -> float | None:
    """What an override is out of: the counted grading's maximum, else the assignment's points, else what the
    override already there is out of (None: unknown)."""
    if counted is not None and counted.max_score:
        return float(counted.max_score)
    if course.assignments[topic].points:
        return float(course.assignments[topic].points)
    return float(current.max_score) if current is not None else None


async def override(request: Request) -> Response:
    """Set or clear (``clear`` in the form) a student's counted score for one assignment."""
    actor = await _require(request, "override")
    form = await form_with_csrf(request)
    student_id, topic = str(form.get("student", ""))[:200], str(form.get("topic", ""))
    message = await run_in_threadpool(_override, svc(request), actor, student_id, topic, form)
    return RedirectResponse(f"/staff/students/{quote(student_id, safe='')}?m={quote(message)}", 303)


def _override(service: Service, actor: Actor, student_id: str, topic: str, form: Any) -> str:
    course = service.course
    with service.book() as book:
        if book.student(student_id) is None or topic not in course.assignments:
            raise HTTPException(404)
        if form.get("clear"):
            if book.clear_override(student_id, topic):
                submissions.audit(book, actor.id, "override cleared", f"{student_id} {topic}",
                                  "the graded score counts again")
                return f"Override of {topic} cleared: the graded score counts again."
            return f"{topic} had no override."
        counted = next(iter(book.current(topic=topic, student_id=student_id)), None)
        top = override_max(course, topic, counted, book.override(student_id, topic))
        if top is None:
            raise HTTPException(400, f"{topic} has nothing graded and no points in deepgrade.toml, so a score "
                                     "cannot be set yet.")
        try:
            score = float(str(form.get("score", "")).strip())
        except ValueError:
            raise HTTPException(400, f"The score must be a number from 0 to {top:g}.") from None
        reason = str(form.get("reason", "")).strip()[:500]
        try:
            o = book.set_override(student_id, topic, score, top, reason, actor.id)
        except ValueError as exc:
            raise HTTPException(400, f"Not set: {exc}.") from None
        submissions.audit(book, actor.id, "override", f"{student_id} {topic}",
                          f"{o.score:g}/{o.max_score:g}: {o.reason}")
    return f"{topic}: {o.score:g}/{o.max_score:g} set by staff now counts."


async def regrade(request: Request) -> Response:
    actor = await _require(request, "regrade")
    form = await form_with_csrf(request)
    service = svc(request)
    target = str(form.get("target", ""))
    n = await run_in_threadpool(_regrade, service, actor, target)
    back = str(form.get("back", "/staff"))
    if not back.startswith("/") or back.startswith("//"):
        back = "/staff"  # only our own pages: never an open redirect
    return RedirectResponse(f"{back}?m={quote(f'{n} submission(s) queued for regrading')}", 303)


def _regrade(service: Service, actor: Actor, target: str) -> int:
    """target: "submission:<id>", "topic:<topic>" (every counted submission) or "all"."""
    with service.book() as book:
        if target.startswith("submission:") and target[11:].isdigit():
            ids = [int(target[11:])]
            exists = book.conn.execute("SELECT 1 FROM submissions WHERE id = ?", (ids[0],)).fetchone()
            if exists is None:
                raise HTTPException(404)
        elif target.startswith("topic:") and target[6:] in service.course.assignments:
            ids = [r["id"] for r in book.conn.execute(
                "SELECT id FROM submissions WHERE topic = ? AND is_current = 1", (target[6:],))]
        elif target == "all":
            ids = [r["id"] for r in book.conn.execute("SELECT id FROM submissions WHERE is_current = 1")]
        else:
            raise HTTPException(400, "Unknown regrade target.")
        n = submissions.enqueue_regrade(book, ids, actor.id)
        submissions.audit(book, actor.id, "regrade", target, f"{n} queued")
    return n


async def report(request: Request) -> Response:
    await _require(request, "view_report")
    service = svc(request)

    def build() -> str:
        from autograder.reports.classreport import report_context

        with service.book() as book:
            ctx = report_context(service.course, book, out=service.course.root / "reports" / "class_report.html")
        return render("service/report.html", actor=request.scope.get("deepgrade.actor"), csrf=csrf_token(request),
                      **ctx)

    return HTMLResponse(await run_in_threadpool(build))


async def export(request: Request) -> Response:
    await _require(request, "download_export")
    fmt = request.path_params["fmt"]
    service = svc(request)
    if fmt not in exports.FORMATS:
        raise HTTPException(404)

    def build() -> str:
        with service.book() as book:
            columns, rows = exports.gradebook_table(service.course, book)
            return {"csv": lambda: exports.to_csv(columns, rows), "canvas": lambda: exports.to_canvas(columns, rows),
                    "moodle": lambda: exports.to_moodle(columns, rows),
                    "json": lambda: exports.to_json(service.course, columns, rows)}[fmt]()

    ext = "json" if fmt == "json" else "csv"
    return Response(await run_in_threadpool(build), media_type="application/json" if ext == "json" else "text/csv",
                    headers={"content-disposition": f'attachment; filename="grades_{fmt}.{ext}"'})


# ---------------------------------------------------------------------------- plumbing

async def _require(request: Request, action: str, owner: str | None = None) -> Actor:
    actor = await run_in_threadpool(actor_of, request)
    check(actor, action, owner)
    assert actor is not None
    return actor


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "application/json" in request.headers.get("accept", "")


async def denied(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Denied)
    if exc.signed_out:
        if _is_api(request):
            return JSONResponse({"error": "sign in first"}, 401)
        return RedirectResponse("/signin", 303)
    status = 404 if exc.hide else 403
    return await _error(request, status, "Not found." if exc.hide else "This page is for course staff.")


async def crashed(request: Request, exc: Exception) -> Response:
    """A bug, not the visitor's fault: log it, answer briefly (with the security headers: this answer is
    written outside the middleware)."""
    import logging

    logging.getLogger("deepgrade.service").error("error on %s %s", request.method, request.url.path, exc_info=exc)
    return PlainTextResponse("Something went wrong on the server. Try again; if it keeps happening, tell your "
                             "instructor.\n", 500, headers={k.decode(): v.decode() for k, v in HEADERS})


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return await _error(request, exc.status_code, exc.detail if exc.status_code != 404 else "Not found.")


async def _error(request: Request, status: int, message: str) -> Response:
    if _is_api(request):
        return JSONResponse({"error": message}, status)
    return page(request, "service/error.html", status, status_code=status, message=message)


#: path, view, methods, and the access action it needs (None: open to everyone). The access test
#: walks this table and the router together, so a route added without an entry here fails it.
ROUTES: list[tuple[str, Callable, list[str], str | None]] = [
    ("/", index, ["GET"], None),
    ("/signin", signin, ["GET", "POST"], None),
    ("/signout", signout, ["POST"], None),
    ("/static/{name}", static, ["GET"], None),
    ("/healthz", healthz, ["GET"], None),
    ("/home", home, ["GET"], "view_assignments"),
    ("/a/{topic}", assignment, ["GET"], "view_assignment"),
    ("/a/{topic}/handout.{fmt}", handout, ["GET"], "download_handout"),
    ("/a/{topic}/upload", upload, ["POST"], "submit"),
    ("/s/{submission_id}", submission, ["GET"], "view_submission"),
    ("/api/token", api_token, ["POST"], None),
    ("/api/a/{topic}/upload", api_upload, ["POST"], "submit"),
    ("/api/s/{submission_id}", submission_status, ["GET"], "view_submission"),
    ("/staff", dashboard, ["GET"], "view_dashboard"),
    ("/staff/students/{student_id}", staff_student, ["GET"], "view_student"),
    ("/staff/regrade", regrade, ["POST"], "regrade"),
    ("/staff/override", override, ["POST"], "override"),
    ("/staff/report", report, ["GET"], "view_report"),
    ("/staff/export/{fmt}", export, ["GET"], "download_export"),
]
assert all(action is None or action in ACTIONS for *_, action in ROUTES)


def create_app(course_dir: str | Path | None = None, *, workers: int | None = None,
               executor: Callable[[], Executor] | None = None, grade: bool = True, https: bool = False,
               course: Course | None = None) -> Starlette:
    """The application for one course. ``grade=False`` runs no dispatcher (tests of the pages alone)."""
    course = course or load_course(course_dir)
    settings = load_settings(course)
    secret = course_secret(course)
    with Gradebook.open(course.db_path) as book:  # migrate, and take in roster and extensions
        book.sync_roster(course.roster())
        book.sync_extensions(course)
        book.refresh_lateness(course)
    dispatcher = Dispatcher(course, settings, workers=workers, executor=executor) if grade else None
    service = Service(course, settings, secret, dispatcher)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if dispatcher is not None:
            await run_in_threadpool(dispatcher.start)
        try:
            yield
        finally:
            if dispatcher is not None:
                await run_in_threadpool(dispatcher.stop)

    app = Starlette(
        routes=[Route(path, view, methods=methods) for path, view, methods, _ in ROUTES],
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(BodyLimit, limit=settings.max_upload_bytes + FORM_OVERHEAD),
            Middleware(SessionMiddleware, secret_key=secret, session_cookie="deepgrade_session",
                       max_age=int(settings.session_hours * 3600), same_site="lax", https_only=https),
        ],
        exception_handlers={Denied: denied, HTTPException: http_error, Exception: crashed},
        lifespan=lifespan,
    )
    app.state.service = service
    return app
