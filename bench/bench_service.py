"""Load on `deepgrade serve`: many students submitting at once over loopback, real grading.

    python bench/bench_service.py [--clients 100] [--submissions 500] [--workers 2] [--no-restart]

Each client signs in (an API token), then submits its share of the submissions one after the
other: upload, then poll the status every --poll seconds until graded. Reported: p50/p95 time
from upload to feedback, throughput (graded submissions per second over the whole run), and
whether every submission was graded and recorded exactly once. The second run SIGKILLs the
server (and its grading processes) when half the submissions are in and restarts it; clients
whose request failed retry the same upload, which the server recognizes by its content.
Submissions alternate the activations reference and a buggy student's file, each made unique.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder.gradebook import Gradebook, load_course, scaffold_course  # noqa: E402
from autograder.service import accounts  # noqa: E402
from tests.service.server_helpers import Server  # noqa: E402

SOURCES = [(ROOT / "solutions" / "activations.py").read_bytes(),
           (ROOT / "autograder" / "samples" / "class" / "ben" / "activations.py").read_bytes()]


def make_course(folder: Path, clients: int) -> dict[str, str]:
    roster = [(f"b{i:03d}", f"Student {i}", f"b{i:03d}@example.edu") for i in range(clients)]
    scaffold_course(folder, name="bench", topics=["activations"], roster=roster)
    course = load_course(folder)
    with Gradebook.open(course.db_path) as book:
        book.sync_roster(course.roster())
        issued = accounts.issue(book, [(sid, "student") for sid, _, _ in roster])
    return {i.account: i.code for i in issued}


async def client(http: httpx.AsyncClient, url: str, account: str, code: str, n: int, poll: float,
                 latencies: list[float], ids: set[int], retries: dict[str, int]) -> None:
    async def call(method: str, path: str, **kw) -> httpx.Response:
        while True:  # the server may be down for a restart: retry the same request
            try:
                r = await http.request(method, url + path, **kw)
                if r.status_code < 500:
                    return r
                why = f"HTTP {r.status_code}"
            except httpx.HTTPError as exc:
                why = type(exc).__name__
            retries[why] = retries.get(why, 0) + 1
            await asyncio.sleep(0.5)

    token = (await call("POST", "/api/token", json={"account": account, "code": code})).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    for k in range(n):
        body = SOURCES[k % 2] + f"\n# {account} submission {k}\n".encode()
        start = time.perf_counter()
        r = await call("POST", "/api/a/activations/upload", headers=auth, files={"file": ("activations.py", body)})
        assert r.status_code == 202, r.text
        sub = r.json()["submission"]
        ids.add(sub)
        while True:
            await asyncio.sleep(poll)
            state = (await call("GET", f"/api/s/{sub}", headers=auth)).json()
            if state["state"] in ("graded", "failed"):
                break
        latencies.append(time.perf_counter() - start)


async def run(url: str, codes: dict[str, str], total: int, poll: float, on_half=None) -> dict:
    latencies: list[float] = []
    ids: set[int] = set()
    retries: dict[str, int] = {}
    per = [total // len(codes) + (1 if i < total % len(codes) else 0) for i in range(len(codes))]
    limits = httpx.Limits(max_connections=len(codes) + 10)
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:
        tasks = [asyncio.create_task(client(http, url, a, c, n, poll, latencies, ids, retries))
                 for (a, c), n in zip(codes.items(), per)]
        start = time.perf_counter()
        if on_half is not None:
            while len(ids) < total // 2:
                await asyncio.sleep(0.05)
            await asyncio.get_running_loop().run_in_executor(None, on_half)
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    return {"latencies": latencies, "ids": ids, "elapsed": elapsed, "retries": retries}


def check_db(db: Path, expected: int) -> str:
    conn = sqlite3.connect(db, timeout=60)
    subs = conn.execute("SELECT COUNT(*) FROM submissions").fetchone()[0]
    per = [n for (n,) in conn.execute("SELECT COUNT(*) FROM gradings GROUP BY submission_id")]
    conn.close()
    ok = subs == expected and len(per) == expected and set(per) == {1}
    return (f"{subs} submissions recorded, {len(per)} graded, gradings per submission {sorted(set(per))}: "
            + ("all graded, none lost or duplicated" if ok else "MISMATCH"))


def report(name: str, out: dict, total: int, db: Path) -> None:
    lat = sorted(out["latencies"])
    p = statistics.quantiles(lat, n=100) if len(lat) > 1 else lat * 99
    print(f"{name}: {len(lat)} submissions in {out['elapsed']:.1f} s -> {len(lat) / out['elapsed']:.1f} graded/s; "
          f"upload-to-feedback p50 {p[49]:.2f} s, p95 {p[94]:.2f} s, max {lat[-1]:.2f} s; "
          f"client retries {out['retries'] or 'none'}")
    print("  " + check_db(db, total))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument("--submissions", type=int, default=500)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--poll", type=float, default=1.0)
    ap.add_argument("--no-restart", action="store_true")
    args = ap.parse_args()
    for name in ["steady"] + ([] if args.no_restart else ["SIGKILL + restart half-way"]):
        tmp = Path(tempfile.mkdtemp(prefix="deepgrade-bench-service-"))
        try:
            codes = make_course(tmp / "course", args.clients)
            server = Server(tmp / "course", workers=args.workers).start()

            def restart(server: Server = server) -> None:
                server.kill()
                server.start()

            out = asyncio.run(run(server.url, codes, args.submissions, args.poll,
                                  on_half=None if name == "steady" else restart))
            server.stop()
            report(name, out, args.submissions, load_course(tmp / "course").db_path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
