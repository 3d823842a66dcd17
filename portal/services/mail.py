"""Queueing mail through the transactional outbox.

`queue_mail` renders both the plain-text and HTML template and adds the message to the current
transaction: if the change that caused it rolls back, nothing is sent. `flask outbox send`
(services.outbox) delivers what is pending.
"""
from flask import current_app, render_template

from portal.extensions import db
from portal.models import OutboxMessage


def absolute_url(path: str) -> str:
    """Links in mail are built against PUBLIC_BASE_URL: no request exists when the outbox is sent."""
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + path


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
