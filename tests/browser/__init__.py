"""Browser tests: Playwright drives a headless /usr/bin/chromium against the app served on loopback.

Every module here sets `pytestmark = pytest.mark.browser`; fixtures are in conftest.py.
"""

# axe-core impacts that fail a test; "minor" and "moderate" findings are left to review.
BLOCKING_IMPACTS = frozenset({"serious", "critical"})


def axe_check(page) -> None:
    """Fail if axe-core finds a serious or critical accessibility violation on the current page."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    blocking = [v for v in results.response["violations"] if v.get("impact") in BLOCKING_IMPACTS]
    report = "\n".join(
        f"- {v['id']} ({v['impact']}): {v['help']}\n    "
        + "\n    ".join(" ".join(map(str, node["target"])) for node in v["nodes"])
        for v in blocking
    )
    assert not blocking, f"axe found serious or critical violations on {page.url}:\n{report}"
