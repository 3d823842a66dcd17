"""Queueing mail through the transactional outbox.

`queue_mail` renders both the plain-text and HTML template and adds the message to the current
transaction: if the change that caused it rolls back, nothing is sent. `flask outbox send`
(services.outbox) delivers what is pending.

A mail is rendered from what it is given alone, without the request's template context (Flask's context
processors: the page navigation, the request, the session): it reads the same whether a web request or a CLI job
queued it, and a decision that mails both sides does not work out the signed-in user's navigation while it holds
the write lock.
"""
from flask import current_app

from portal.extensions import db
from portal.models import OutboxMessage


def queue_mail(recipient: str, subject: str, template: str, **context) -> OutboxMessage:
    """Render templates/email/<template>.txt and .html and store the message for sending."""
    context.setdefault("subject", subject)
    message = OutboxMessage(
        recipient=recipient,
        subject=subject,
        template=template,
        body_text=_render(f"email/{template}.txt", context),
        body_html=_render(f"email/{template}.html", context),
    )
    db.session.add(message)
    return message


def _render(name: str, context: dict) -> str:
    return current_app.jinja_env.get_template(name).render(context)


def link(endpoint: str, **values) -> str:
    """An absolute URL for a link in mail, built without a request (the outbox runs from the CLI)."""
    from urllib.parse import urlsplit

    base = urlsplit(current_app.config["PUBLIC_BASE_URL"])
    adapter = current_app.url_map.bind(base.netloc, script_name=base.path or "/", url_scheme=base.scheme or "http")
    return adapter.build(endpoint, values, force_external=True)
