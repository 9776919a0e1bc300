"""Who may do what: the one place the service decides "may this actor do this to that?".

Views never test roles themselves; they call ``check`` (or ``allowed``) with an action from
``ACTIONS`` and, for things a student owns, the owner's id. A student may act only on their
own things; staff may do everything; nobody signed out may do anything but sign in.
"""

from __future__ import annotations

from dataclasses import dataclass

#: action -> who may do it. "own": a student, on things they own; "staff": staff only.
ACTIONS: dict[str, str] = {
    "view_assignments": "own",   # the student's home page: their assignments and scores
    "view_assignment": "own",    # one assignment: due date, history, upload form
    "download_handout": "own",
    "submit": "own",
    "view_submission": "own",    # status and feedback of one submission
    "view_dashboard": "staff",   # the class table, the queue, the audit log
    "view_student": "staff",     # any student's submissions and feedback
    "regrade": "staff",
    "override": "staff",         # set or clear a student's counted score by hand (with a reason)
    "view_report": "staff",
    "download_export": "staff",
}


@dataclass(frozen=True)
class Actor:
    """The signed-in person: ``role`` is "student" or "staff"."""

    id: str
    role: str


class Denied(Exception):
    """The actor may not do this. ``hide``: answer as if the thing did not exist (404, not 403)."""

    def __init__(self, reason: str, *, hide: bool = False, signed_out: bool = False) -> None:
        super().__init__(reason)
        self.hide, self.signed_out = hide, signed_out


def allowed(actor: Actor | None, action: str, owner: str | None = None) -> bool:
    """May ``actor`` do ``action`` to a thing owned by ``owner`` (None: a thing nobody owns)?"""
    rule = ACTIONS[action]  # KeyError: an action nobody declared is a bug, never a silent yes
    if actor is None:
        return False
    if actor.role == "staff":
        return True
    if actor.role != "student" or rule != "own":
        return False
    return owner is None or owner == actor.id


def check(actor: Actor | None, action: str, owner: str | None = None) -> None:
    """Raise ``Denied`` unless ``allowed``. Another student's thing is hidden (404): its existence is not told."""
    if allowed(actor, action, owner):
        return
    if actor is None:
        raise Denied("sign in first", signed_out=True)
    if ACTIONS[action] == "own" and owner is not None:
        raise Denied("not found", hide=True)
    raise Denied("this page is for course staff")
