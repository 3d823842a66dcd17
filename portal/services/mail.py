"""Queueing mail through the transactional outbox.

`queue_mail` renders both the plain-text and HTML template and adds the message to the current
transaction: if the change that caused it rolls back, nothing is sent. `flask outbox send`
(services.outbox) delivers what is pending.
"""
from flask import current_app, render_template

from portal.extensions import db
from portal.models import OutboxMessage


def queue_mail(recipient: str, subject: str, template: str, **context) -> OutboxMessage:
    """Render templates/email/<template>.txt and .html and store the message for sending."""
    context.setdefault("subject", subject)
    message = OutboxMessage(
        recipient=recipient,
        subject=subject,
        template=template,
        body_text=render_template(f"email/{template}.txt", **context),
        body_html=render_template(f"email/{template}.html", **context),
    )
    db.session.add(message)
    return message


def link(endpoint: str, **values) -> str:
    """An absolute URL for a link in mail, built without a request (the outbox runs from the CLI)."""
    from urllib.parse import urlsplit

    base = urlsplit(current_app.config["PUBLIC_BASE_URL"])
    adapter = current_app.url_map.bind(base.netloc, script_name=base.path or "/", url_scheme=base.scheme or "http")
    return adapter.build(endpoint, values, force_external=True)
