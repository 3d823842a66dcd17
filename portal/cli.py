"""`flask` commands: demo data, staff accounts, the mail outbox."""
import click
from flask import Flask

from portal.errors import PortalError


def _fail(error: PortalError) -> None:
    raise click.ClickException(error.message)


def init_app(app: Flask) -> None:
    @app.cli.command("seed-demo")
    @click.option("--if-empty", is_flag=True, help="Only seed a database that has no areas yet.")
    def seed_demo_command(if_empty: bool) -> None:
        """Load the fictional demo area (idempotent: running it twice changes nothing)."""
        from portal.services import demo

        created = demo.seed_demo(only_if_empty=if_empty)
        click.echo("Demo data loaded." if created else "Demo data already present; nothing changed.")

    @app.cli.command("demo-logins")
    @click.option("--port", default=5000, show_default=True)
    def demo_logins_command(port: int) -> None:
        """Print the portal's address and the demo logins."""
        from portal.services import demo

        click.echo(f"\n  Encounters is starting on http://127.0.0.1:{port}\n")
        click.echo(f"  Demo logins (password for all: {demo.DEMO_PASSWORD}):")
        role_width = max(len(role) for role, _, _ in demo.DEMO_LOGINS)
        email_width = max(len(email) for _, email, _ in demo.DEMO_LOGINS)
        for role, email, note in demo.DEMO_LOGINS:
            click.echo(f"    {role:<{role_width}}  {email:<{email_width}}  {note}")
        click.echo("")

    @app.cli.command("create-admin")
    @click.option("--email", required=True)
    @click.option("--name", required=True)
    @click.password_option()
    def create_admin_command(email: str, name: str, password: str) -> None:
        """Create an administrator (two-step sign-in is set up at first sign-in)."""
        from portal.services import accounts
        from portal.vocab import Role

        try:
            accounts.create_staff_user(role=Role.ADMIN, email=email, name=name, password=password)
        except PortalError as error:
            _fail(error)
        click.echo(f"Administrator {email.strip().lower()} created.")

    @app.cli.command("create-coordinator")
    @click.option("--email", required=True)
    @click.option("--name", required=True)
    @click.option("--area", "areas", multiple=True, required=True, help="Area name; repeat for several.")
    @click.password_option()
    def create_coordinator_command(email: str, name: str, areas: tuple[str, ...], password: str) -> None:
        """Create a coordinator for one or more areas."""
        from portal.services import accounts
        from portal.vocab import Role

        try:
            accounts.create_staff_user(
                role=Role.COORDINATOR, email=email, name=name, password=password, area_names=list(areas)
            )
        except PortalError as error:
            _fail(error)
        click.echo(f"Coordinator {email.strip().lower()} created for {', '.join(areas)}.")

    outbox = click.Group("outbox", help="The mail outbox.")
    app.cli.add_command(outbox)

    @outbox.command("send")
    @click.option("--limit", default=200, show_default=True, help="At most this many messages per run.")
    def outbox_send_command(limit: int) -> None:
        """Deliver pending mail, retrying failures with backoff. Run it every minute from a scheduler."""
        from portal.services import outbox as outbox_service

        result = outbox_service.send_pending(limit=limit)
        click.echo(f"sent {result.sent}, failed {result.failed}, gave up {result.gave_up}")

    requests_group = click.Group("requests", help="Schools' requests for encounters.")
    app.cli.add_command(requests_group)

    @requests_group.command("expire")
    def requests_expire_command() -> None:
        """Expire open requests whose last date has passed, and the proposals waiting on them.

        Run it once a day from a scheduler (e.g. cron: `5 0 * * * flask requests expire`).
        """
        from portal.services import school_requests

        count = school_requests.expire_requests()
        click.echo(f"Expired {count} request{'' if count == 1 else 's'}.")

    digest = click.Group("digest", help="The careers leads' weekly digest of new offers.")
    app.cli.add_command(digest)

    @digest.command("send")
    @click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
                  help="Send as if today were this date (YYYY-MM-DD); default: today.")
    def digest_send_command(today) -> None:
        """Queue this week's digest for every careers lead who switched it on. Run it weekly from a scheduler."""
        from portal.services import digest as digest_service

        sent = digest_service.send_weekly_digests(today=today.date() if today else None)
        click.echo(f"Sent {sent} digest{'' if sent == 1 else 's'}.")
