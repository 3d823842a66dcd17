"""Template-level rules that hold for every page and message."""
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def test_every_email_has_a_plain_text_and_an_html_version():
    emails = TEMPLATES / "email"
    text = {p.stem for p in emails.glob("*.txt")}
    html = {p.stem for p in emails.glob("*.html")}
    assert text, "no email templates found"
    assert text == html, f"missing halves: text only {text - html}, html only {html - text}"


def test_no_template_uses_inline_script_or_style():
    """The CSP forbids inline script and style: anything inline would silently not work."""
    offenders = []
    for path in TEMPLATES.rglob("*.html"):
        if path.parent.name == "email":
            continue  # mail clients need inline styles; CSP does not apply to mail
        source = path.read_text(encoding="utf-8")
        if "<script>" in source or " style=" in source or "<style" in source or "onclick=" in source:
            offenders.append(str(path.relative_to(TEMPLATES)))
    assert offenders == []
