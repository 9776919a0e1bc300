"""Request-level defences: security headers, streaming upload caps, sign-in rate limits, CSRF tokens."""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# No inline script anywhere (the service's one script is /static/app.js). Inline styles and
# data: images stay allowed: the feedback and report pages are self-contained by design.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]


class SecurityHeaders:
    """Adds ``HEADERS`` to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [h for h in HEADERS if h[0] not in names]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class TooLarge(Exception):
    pass


class BodyLimit:
    """Refuses request bodies over ``limit`` bytes while they stream in (413), never buffering them whole."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _too_large(send, self.limit)
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except TooLarge:
            if not started:
                await _too_large(send, self.limit)


async def _too_large(send: Send, limit: int) -> None:
    body = f"The upload is larger than {limit // 1000} kB.\n".encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close"), *HEADERS]})
    await send({"type": "http.response.body", "body": body})


@dataclass
class _Counter:
    failures: list[float] = field(default_factory=list)
    locked_until: float = 0.0


class SigninLimiter:
    """Failed sign-ins per account and per address. An account locks for ``account_lock`` seconds after
    ``account_max`` failures (short: a classmate cannot lock someone out for long); an address locks for
    ``address_lock`` seconds after ``address_max`` failures within ``window`` (guessing across accounts)."""

    def __init__(self, *, account_max: int = 5, account_lock: float = 60.0, address_max: int = 30,
                 address_lock: float = 300.0, window: float = 600.0) -> None:
        self.account_max, self.account_lock = account_max, account_lock
        self.address_max, self.address_lock, self.window = address_max, address_lock, window
        self.accounts: dict[str, _Counter] = {}
        self.addresses: dict[str, _Counter] = {}
        self.lock = threading.Lock()

    def wait(self, account: str, address: str, now: float | None = None) -> float:
        """Seconds until this account may try from this address (0: now)."""
        now = time.monotonic() if now is None else now
        with self.lock:
            a = self.accounts.get(account.lower(), _Counter()).locked_until
            b = self.addresses.get(address, _Counter()).locked_until
        return max(0.0, a - now, b - now)

    def failed(self, account: str, address: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self.lock:
            for table, key, most, lock in ((self.accounts, account.lower(), self.account_max, self.account_lock),
                                           (self.addresses, address, self.address_max, self.address_lock)):
                c = table.setdefault(key, _Counter())
                c.failures = [t for t in c.failures if now - t < self.window] + [now]
                if len(c.failures) >= most:
                    c.locked_until, c.failures = now + lock, []
            if len(self.accounts) > 100_000:  # bounded memory under a flood of made-up ids
                self.accounts.clear()

    def succeeded(self, account: str) -> None:
        with self.lock:
            self.accounts.pop(account.lower(), None)


def new_csrf() -> str:
    return secrets.token_urlsafe(32)


def csrf_ok(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))
