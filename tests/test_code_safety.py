"""The code stays clear of known-unsafe patterns: bandit finds nothing of medium severity or above, and nothing
switches off Jinja's escaping (`|safe`, `Markup(`, `render_template_string`, `autoescape false`) outside a list
of uses someone has reviewed.
"""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BANDIT_TARGETS = ("portal", "config.py", "app.py")  # as in the Makefile's lint step

# Ways to emit text unescaped. Every match outside REVIEWED fails the test.
UNESCAPED = re.compile(r"\|\s*safe\b|\bMarkup\s*\(|\brender_template_string\b|\bautoescape\s+false\b")

# Reviewed uses: (path from the repository root, the exact line's text stripped, why it is safe).
# There are none today: every template relies on autoescaping. Add an entry only after checking that nothing a
# user typed can reach the unescaped text.
REVIEWED: list[tuple[str, str, str]] = []


def _bandit(*targets: str, cwd: Path = ROOT) -> list[dict]:
    """Medium and high severity findings of bandit over the targets (any confidence)."""
    done = subprocess.run(
        [sys.executable, "-m", "bandit", "-r", *targets, "--severity-level", "medium", "-f", "json", "-q"],
        cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode in (0, 1), f"bandit did not run: {done.stderr}"
    report = json.loads(done.stdout)
    assert not report["errors"], f"bandit could not read: {report['errors']}"
    return [r for r in report["results"] if r["issue_severity"] in ("MEDIUM", "HIGH")]


def _describe(findings: list[dict]) -> str:
    return "\n".join(f"{f['filename']}:{f['line_number']} {f['test_id']} {f['issue_severity']}: {f['issue_text']}"
                     for f in findings)


def test_bandit_finds_nothing_of_medium_severity_or_above():
    findings = _bandit(*BANDIT_TARGETS)
    assert not findings, "bandit findings (fix them, or `# nosec Bxxx` with a reason if false):\n" + \
        _describe(findings)


def test_bandit_would_see_a_finding(tmp_path):
    """The check above can fail: the same call reports a shell command built from input."""
    (tmp_path / "bad.py").write_text("import subprocess\n\n\ndef run(name):\n"
                                     "    subprocess.call('ls ' + name, shell=True)\n")
    findings = _bandit("bad.py", cwd=tmp_path)
    assert [f["test_id"] for f in findings] == ["B602"]


def _unescaped_uses(root: Path) -> list[tuple[str, str]]:
    """(path, stripped line) of every unescaped-output construct under templates/ and portal/."""
    files = [p for p in sorted((root / "templates").rglob("*")) if p.is_file()]
    files += sorted((root / "portal").rglob("*.py"))
    uses = []
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            if UNESCAPED.search(line):
                uses.append((path.relative_to(root).as_posix(), line.strip()))
    return uses


def test_nothing_is_output_unescaped_outside_the_reviewed_list():
    reviewed = {(path, line) for path, line, _why in REVIEWED}
    unreviewed = [use for use in _unescaped_uses(ROOT) if use not in reviewed]
    assert not unreviewed, "unescaped output; escape it, or review it and add it to REVIEWED with the reason:\n" + \
        "\n".join(f"{path}: {line}" for path, line in unreviewed)


def test_every_reviewed_use_still_exists_and_has_a_reason():
    """A stale entry would let a new use on a line with the same text through unreviewed."""
    uses = set(_unescaped_uses(ROOT))
    for path, line, why in REVIEWED:
        assert (path, line) in uses, f"REVIEWED entry no longer in the code: {path}: {line}"
        assert len(why.split()) >= 4, f"say why it is safe: {path}: {line}"


@pytest.mark.parametrize("line", [
    "<p>{{ offer.description|safe }}</p>",
    "<p>{{ offer.description | safe }}</p>",
    "{% autoescape false %}{{ x }}{% endautoescape %}",
    "    return Markup(f'<b>{name}</b>')",
    "    return render_template_string(source)",
])
def test_the_scan_catches_each_construct(tmp_path, line):
    (tmp_path / "templates").mkdir()
    (tmp_path / "portal").mkdir()
    target = tmp_path / ("templates/page.html" if "{" in line and "Markup" not in line else "portal/view.py")
    target.write_text(f"first line\n{line}\nlast line\n")
    assert _unescaped_uses(tmp_path) == [(target.relative_to(tmp_path).as_posix(), line.strip())]


def test_the_scan_leaves_ordinary_code_alone(tmp_path):
    (tmp_path / "templates").mkdir()
    (tmp_path / "portal").mkdir()
    (tmp_path / "templates/page.html").write_text("{{ 'safe' }} {{ value|e }} {# safeguarding lead #}\n")
    (tmp_path / "portal/view.py").write_text("from flask import render_template\nsafe_next = is_safe_next(url)\n")
    assert _unescaped_uses(tmp_path) == []
