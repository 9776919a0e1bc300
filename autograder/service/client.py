"""`deepgrade submit`: upload from a terminal, wait for the feedback, print it.

Standard library only (urllib), so a student needs nothing beyond deepgrade itself. The token
from signing in is kept per server in ``$XDG_CONFIG_HOME/deepgrade/tokens.json`` (mode 0600).
"""

from __future__ import annotations

import json
import os
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

DEFAULT_SERVER = "http://127.0.0.1:8000"


class SubmitError(RuntimeError):
    """The submission did not reach the server or was refused (the message says why)."""


def config_file() -> Path:
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "deepgrade" / "tokens.json"


def _load() -> dict:
    try:
        return json.loads(config_file().read_text())
    except (OSError, ValueError):
        return {}


def _save(data: dict) -> None:
    path = config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=1)


def _request(url: str, *, data: bytes | None = None, headers: dict | None = None,
             timeout: float = 60) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=data, headers={"Accept": "application/json", **(headers or {})},
                                 method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            body = json.loads(exc.read() or b"{}")
        except ValueError:
            body = {"error": f"HTTP {exc.code}"}
        return exc.code, body
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SubmitError(f"cannot reach {url.split('/api/')[0]}: {reason}") from None
    except ValueError:
        raise SubmitError(f"{url} did not answer like a deepgrade server") from None


def _multipart(name: str, data: bytes) -> tuple[bytes, str]:
    boundary = "deepgrade" + secrets.token_hex(12)
    safe = name.replace('"', "").replace("\r", "").replace("\n", "")
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{safe}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def sign_in(server: str, prompt: Callable[[str, bool], str]) -> str:
    account = prompt("Your ID", False).strip()
    code = prompt("Sign-in code", True)
    status, body = _request(f"{server}/api/token", data=json.dumps({"account": account, "code": code}).encode(),
                            headers={"Content-Type": "application/json"})
    if status != 200:
        raise SubmitError(f"sign-in refused: {body.get('error', status)}")
    data = _load()
    data[server] = {"token": body["token"], "account": body["account"]}
    data["last_server"] = server
    _save(data)
    return body["token"]


def run_submit(topic: str, file: Path, *, server: str | None, wait: bool, timeout: float,
               echo: Callable[[str], None], prompt: Callable[[str, bool], str], poll: float = 1.0) -> int:
    """Upload, wait, print. Returns the exit status (0: accepted, whatever the score)."""
    saved = _load()
    server = (server or os.environ.get("DEEPGRADE_SERVER") or saved.get("last_server") or DEFAULT_SERVER).rstrip("/")
    token = saved.get(server, {}).get("token") or sign_in(server, prompt)
    data = file.read_bytes()
    for attempt in range(2):
        body, ctype = _multipart(file.name, data)
        status, answer = _request(f"{server}/api/a/{topic}/upload", data=body,
                                  headers={"Content-Type": ctype, "Authorization": f"Bearer {token}"})
        if status == 401 and attempt == 0:
            echo("Your sign-in has expired or your code changed; sign in again.")
            token = sign_in(server, prompt)
            continue
        break
    if status == 413:
        raise SubmitError("the file is too large for this course")
    if status not in (200, 202):
        raise SubmitError(f"not submitted: {answer.get('error', f'HTTP {status}')}")
    saved = _load()
    saved["last_server"] = server
    _save(saved)
    sub = answer["submission"]
    echo(f"Received {file.name} as {topic} submission {sub} at {answer['received_at']}."
         + ("" if answer.get("queued", True) else " (same content as before: not graded again)"))
    if not wait:
        echo(f"Feedback: {server}/s/{sub}")
        return 0
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        status, state = _request(f"{server}/api/s/{sub}", headers={"Authorization": f"Bearer {token}"})
        if status != 200:
            raise SubmitError(f"could not read the submission's status: {state.get('error', status)}")
        if state["state"] != last and state["state"] in ("queued", "grading"):
            echo(f"  {state['state']}" + (f" ({state['ahead']} ahead)" if state.get("ahead") else ""))
            last = state["state"]
        if state["state"] == "graded":
            break
        if state["state"] == "failed":
            echo("Grading failed; your instructor sees it on the dashboard and will regrade it. "
                 "Your submission is kept.")
            return 0
        if time.monotonic() > deadline:
            echo(f"Still {state['state']} after {timeout:g} s; the feedback will be at {server}/s/{sub}")
            return 0
        time.sleep(poll)
    score = f"{state['score']:g} / {state['max_score']:g}"
    echo(f"Score: {score}" + ("" if state.get("complete", True) else " on the checks shown before the deadline"))
    for f in state.get("failed", []):
        echo(f"\nFAILED {f['name']} ({f['points']:g} points)")
        for line in (f.get("message") or "").splitlines():
            echo(f"  {line}")
    echo(f"\nFull feedback: {server}/s/{sub}")
    return 0
