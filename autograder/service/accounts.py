"""Sign-in codes: one random code per roster student and per staff member, stored only as scrypt hashes.

A code is shown once, when it is issued (`deepgrade codes` writes it to a CSV for mail merge);
the gradebook keeps ``scrypt$n$r$p$salt$hash``. Rotating a code bumps the account's generation,
which ends every session signed in with the old one; revoking empties the hash.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import os
import secrets
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from autograder.gradebook.store import Gradebook, iso, now_utc

ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"  # no 0/o, 1/l/i: codes are typed from a mail
CODE_GROUPS, GROUP_LEN = 4, 4  # 16 characters of 31 symbols: about 79 bits
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


@dataclass(frozen=True)
class Account:
    """Who signed in: a student (their roster id) or a staff member (their name)."""

    account: str
    role: str  # "student" or "staff"
    generation: int


@dataclass(frozen=True)
class Issued:
    """A code just issued (the only time it exists in clear)."""

    account: str
    role: str
    code: str
    name: str = ""
    email: str = ""


def new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_GROUPS * GROUP_LEN))
    return "-".join(raw[i:i + GROUP_LEN] for i in range(0, len(raw), GROUP_LEN))


def normalize(code: str) -> str:
    """What a person typed, as issued: case, spaces and dashes do not matter."""
    raw = "".join(ch for ch in code.lower() if ch.isalnum())
    return "-".join(raw[i:i + GROUP_LEN] for i in range(0, len(raw), GROUP_LEN))


def hash_code(code: str, *, salt: bytes | None = None, n: int = SCRYPT_N, r: int = SCRYPT_R,
              p: int = SCRYPT_P) -> str:
    """The stored form of a code: salted scrypt."""
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(normalize(code).encode(), salt=salt, n=n, r=r, p=p, dklen=32)
    return f"scrypt${n}${r}${p}${salt.hex()}${digest.hex()}"


def verify_code(code: str, stored: str) -> bool:
    """Does ``code`` match the stored hash? (constant time in the comparison)"""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(normalize(code).encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                             dklen=32)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


_DUMMY = hash_code("not-a-code")


def authenticate(book: Gradebook, account: str, code: str) -> Account | None:
    """The account when ``code`` is its current code; None otherwise (same cost either way)."""
    row = book.conn.execute("SELECT * FROM accounts WHERE account = ?", (account.strip(),)).fetchone()
    if row is None or row["revoked"] or not row["code_hash"]:
        verify_code(code, _DUMMY)  # an unknown id costs as much as a wrong code: ids are not probed by timing
        return None
    if not verify_code(code, row["code_hash"]):
        return None
    return Account(row["account"], row["role"], row["generation"])


def lookup(conn: sqlite3.Connection, account: str) -> Account | None:
    """The active account (None when unknown or revoked)."""
    row = conn.execute("SELECT * FROM accounts WHERE account = ? AND revoked = 0", (account,)).fetchone()
    return Account(row["account"], row["role"], row["generation"]) if row else None


def issue(book: Gradebook, accounts: Iterable[tuple[str, str]], *, rotate: bool = False) -> list[Issued]:
    """Issue codes for ``(account, role)`` pairs: new accounts always, existing ones only with ``rotate``."""
    out = []
    with book.transaction() as db:
        for account, role in accounts:
            row = db.execute("SELECT * FROM accounts WHERE account = ?", (account,)).fetchone()
            if row is not None and not rotate and not row["revoked"]:
                continue
            code = new_code()
            if row is None:
                db.execute("INSERT INTO accounts (account, role, code_hash, issued_at) VALUES (?, ?, ?, ?)",
                           (account, role, hash_code(code), iso(now_utc())))
            else:
                db.execute("UPDATE accounts SET code_hash = ?, role = ?, generation = generation + 1, issued_at = ?, "
                           "revoked = 0 WHERE account = ?", (hash_code(code), role, iso(now_utc()), account))
            out.append(Issued(account, role, code))
    return out


def revoke(book: Gradebook, account: str) -> bool:
    """Revoke an account's code (its sessions end at their next request)."""
    with book.transaction() as db:
        return db.execute("UPDATE accounts SET code_hash = '', revoked = 1, generation = generation + 1 "
                          "WHERE account = ?", (account,)).rowcount > 0


def _cell(text: str) -> str:
    """A roster text cell a spreadsheet will not run as a formula (OWASP CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def write_codes_csv(path: Path, issued: list[Issued]) -> Path:
    """account, role, name, email, code: for mail merge. Readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["account", "role", "name", "email", "code"])
        for i in issued:
            w.writerow([_cell(i.account), i.role, _cell(i.name), _cell(i.email), i.code])
    return path
