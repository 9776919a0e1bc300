"""A real browser against the real server: the student loop, the live dashboard, another student
kept out, and axe-core on every page (no serious or critical WCAG 2.1 AA violation).

Playwright drives Debian's Chromium (/usr/bin/chromium); `playwright install` is never needed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from autograder.gradebook import Gradebook, load_course
from autograder.service import accounts
from tests.conftest import SAMPLES, SOLUTIONS
from tests.service.server_helpers import Server

sync_api = pytest.importorskip("playwright.sync_api")
axe_module = pytest.importorskip("axe_playwright_python.sync_playwright")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed")]
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from tests.course_helpers import make_course

    root = make_course(tmp_path_factory.mktemp("browser") / "course", ["s1", "s2"], ["clipping", "activations"])
    text = (root / "deepgrade.toml").read_text()
    start = text.index("[assignments.clipping]")
    due_at = text.index("due = ", start)
    (root / "deepgrade.toml").write_text(text[:due_at] + text[text.index("\n", due_at) + 1:])  # no due date
    course = load_course(root)
    with Gradebook.open(course.db_path) as book:
        book.sync_roster(course.roster())
        codes = {i.account: i.code for i in accounts.issue(book, [("s1", "student"), ("s2", "student"),
                                                                   ("prof", "staff")])}
    server = Server(root, workers=1).start()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield {"url": server.url, "codes": codes, "browser": browser, "root": root, "pages": {}}
        browser.close()
    server.stop()


def signed_in(site: dict, account: str):
    context = site["browser"].new_context()
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{site['url']}/signin")
    page.get_by_label("Your ID").fill(account)
    page.get_by_label("Sign-in code").fill(site["codes"][account])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site['url']}/{'staff' if account == 'prof' else 'home'}")
    return page


def test_student_loop_dashboard_and_isolation(site: dict) -> None:
    url = site["url"]
    student = signed_in(site, "s1")
    site["pages"]["home"] = student.url
    student.get_by_role("link", name="Clipping").click()
    site["pages"]["assignment"] = student.url
    student.get_by_label("Your clipping.py or clipping.ipynb").set_input_files(str(SAMPLES / "ben" / "clipping.py"))
    student.get_by_role("button", name="Upload and grade").click()
    student.wait_for_url(f"{url}/s/*")
    buggy_url = student.url
    # queued -> grading -> graded without the student reloading: the feedback appears by itself
    student.locator(".check .pill.zero").first.wait_for()
    assert "failed" in student.locator(".check .pill.zero").first.inner_text()
    message = student.locator(".check pre.msg").first.inner_text()
    assert len(message) > 20  # the teaching message
    site["pages"]["feedback"] = buggy_url

    staff = signed_in(site, "prof")
    row = staff.locator("#class-table tbody tr", has_text="s1")
    before = row.inner_text()
    assert "100" not in before.split("s1", 1)[1]

    student.goto(f"{url}/a/clipping")
    student.get_by_label("Your clipping.py or clipping.ipynb").set_input_files(str(SOLUTIONS / "clipping.py"))
    student.get_by_role("button", name="Upload and grade").click()
    student.wait_for_url(f"{url}/s/*")
    student.get_by_text("100 / 100").first.wait_for()
    # the instructor's dashboard shows the change without a reload
    staff.locator("#class-table tbody tr", has_text="s1").locator("td", has_text="100").first.wait_for()

    intruder = signed_in(site, "s2")
    intruder.goto(buggy_url)
    assert intruder.get_by_role("heading", name="Not found.").is_visible()
    assert message not in intruder.content()
    intruder.goto(f"{url}/staff")
    assert intruder.get_by_role("heading", name="This page is for course staff.").is_visible()
    intruder.goto(f"{url}/staff/students/s1")
    assert "clipping" not in intruder.content().lower().split("</nav>")[1]
    for page in (student, staff, intruder):
        page.context.close()


def _violations(page) -> list[str]:
    results = axe_module.Axe().run(page, options={"runOnly": {"type": "tag", "values": AXE_TAGS}})
    bad = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    return [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}" for v in bad]


def test_every_service_page_passes_axe(site: dict) -> None:
    url = site["url"]
    student = signed_in(site, "s1")
    sub_pages = ["/signin", "/home", "/a/clipping", "/a/activations", "/s/1", "/s/999999"]
    problems = {}
    anon = site["browser"].new_context().new_page()
    anon.goto(f"{url}/signin")
    problems["/signin"] = _violations(anon)
    for path in sub_pages[1:]:
        student.goto(url + path)
        problems[path] = _violations(student)
    staff = signed_in(site, "prof")
    for path in ["/staff", "/staff/students/s1", "/staff/report", "/s/1"]:
        staff.goto(url + path)
        problems["staff " + path] = _violations(staff)
    assert {k: v for k, v in problems.items() if v} == {}


def test_quiz_pages_pass_axe(site: dict, tmp_path: Path) -> None:
    from quizzes.demo import run_quiz_demo

    run_quiz_demo(tmp_path)
    pages = sorted(tmp_path.rglob("*.html"))
    assert pages
    page = site["browser"].new_context().new_page()
    problems = {}
    for html in pages[:6]:  # the quiz, its answer key and the quiz report (per-student copies look alike)
        page.goto(html.as_uri())
        problems[str(html.relative_to(tmp_path))] = _violations(page)
    assert {k: v for k, v in problems.items() if v} == {}


def test_a_file_dropped_on_the_upload_zone_is_chosen(site: dict) -> None:
    page = signed_in(site, "s1")
    page.goto(f"{site['url']}/a/clipping")
    chosen = page.evaluate("""() => {
        const zone = document.querySelector('[data-drop]');
        const dt = new DataTransfer();
        dt.items.add(new File(['x = 1\\n'], 'clipping.py', {type: 'text/x-python'}));
        zone.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
        return Array.from(document.getElementById('file').files).map(f => f.name);
    }""")
    assert chosen == ["clipping.py"]
    page.context.close()


def _violations_with_tables_open(page) -> list[str]:
    """axe on the page with every <details> opened: the tables of numbers behind the plots are checked too."""
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    return _violations(page)


def test_override_from_the_student_page_and_the_plot_tables_pass_axe(site: dict, tmp_path: Path) -> None:
    url = site["url"]
    course = load_course(site["root"])
    with Gradebook.open(course.db_path) as book:
        if not book.current(topic="clipping", student_id="s1"):  # run alone: nothing graded yet
            book.set_override("s1", "clipping", 50, 100, "placeholder", "staff:prof")
    staff = signed_in(site, "prof")
    staff.goto(f"{url}/staff/students/s1")
    row = staff.get_by_role("row").filter(has_text="Clipping")
    row.get_by_label("Score").fill("42")
    row.get_by_label("Reason").fill("checked by hand: the grader timed out")
    row.get_by_role("button", name="Set score").click()
    staff.wait_for_url(lambda u: "/staff/students/s1?m=" in u)
    assert "checked by hand: the grader timed out" in staff.content()
    problems = {"staff student page with an override": _violations(staff)}
    staff.goto(f"{url}/staff")
    assert "checked by hand" in staff.locator("body").inner_text()  # the audit log
    staff.goto(f"{url}/staff/report")
    problems["staff report, tables open"] = _violations_with_tables_open(staff)
    student = signed_in(site, "s1")
    for path in ("/home", "/a/clipping"):
        student.goto(url + path)
        assert "set by staff" in student.content() and "42 / 100" in student.content(), path
        problems[path] = _violations(student)
    with Gradebook.open(course.db_path) as book:
        subs = [g.submission_id for g in book.current(topic="clipping", student_id="s1")]
    if subs:
        student.goto(f"{url}/s/{subs[0]}")
        problems["feedback, tables open"] = _violations_with_tables_open(student)

    from quizzes.demo import run_quiz_demo

    run_quiz_demo(tmp_path)
    page = site["browser"].new_context().new_page()
    for report in tmp_path.rglob("report.html"):
        page.goto(report.as_uri())
        problems[report.name + ", tables open"] = _violations_with_tables_open(page)
    staff.goto(f"{url}/staff/students/s1")
    staff.get_by_role("button", name="Clear override").click()
    staff.wait_for_url(lambda u: "/staff/students/s1?m=" in u)
    student.goto(f"{url}/home")
    assert "set by staff" not in student.content()
    assert {k: v for k, v in problems.items() if v} == {}
