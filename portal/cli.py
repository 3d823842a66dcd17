"""`flask` commands: demo data, staff accounts, the mail outbox."""
import click
from flask import Flask

from portal.errors import PortalError


def _fail(error: PortalError) -> None:
    raise click.ClickException(error.message)


def _moment(now: str | None):
    """A `--now` option: an ISO date and time, kept as naive UTC as the database keeps it (None = the real now)."""
    from datetime import UTC, datetime

    try:
        moment = datetime.fromisoformat(now) if now else None
    except ValueError as error:
        raise click.BadParameter("Give a date and time such as 2026-03-01T09:00.", param_hint="--now") from error
    if moment is not None and moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


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

    jobs_group = click.Group("jobs", help="Jobs the web app queues for a worker (matching runs).")
    app.cli.add_command(jobs_group)

    @jobs_group.command("work")
    @click.option("--once", is_flag=True, help="Run the jobs due now, then stop (for cron and tests).")
    @click.option("--max-jobs", type=click.IntRange(min=1), default=None, help="Stop after this many jobs.")
    def jobs_work_command(once: bool, max_jobs: int | None) -> None:
        """Run queued jobs; without --once, keep running and look for new ones every few seconds."""
        from portal.services import jobs

        if not once:
            click.echo(f"Working on queued jobs, looking every {jobs.POLL_EVERY:g} s. Ctrl+C stops.")
        try:
            result = jobs.work(once=once, max_jobs=max_jobs)
        except KeyboardInterrupt:
            click.echo("Stopped.")
            return
        click.echo(f"done {result.done}, retried {result.retried}, failed {result.failed}")

    @app.cli.command("backup")
    @click.option("--dir", "directory", type=click.Path(file_okay=False), default=None,
                  help="Where to write it (default: instance/backups).")
    def backup_command(directory: str | None) -> None:
        """Back up the database while the app runs (SQLite online backup; pg_dump for PostgreSQL) into
        encounters-<UTC time>.sqlite3 or .pgdump. Run it daily, e.g. cron: `30 1 * * * flask backup --dir /backups`."""
        from pathlib import Path

        from portal.services import backup

        try:
            result = backup.backup(Path(directory) if directory else Path(app.instance_path) / "backups")
        except PortalError as error:
            _fail(error)
        click.echo(result.message)

    @app.cli.command("restore")
    @click.argument("backup_file", type=click.Path(dir_okay=False))
    @click.option("--to", "target", required=True,
                  help="A new database: a SQLite file path, or a postgresql:// URL (created if missing).")
    @click.option("--force", is_flag=True, help="Replace the target's tables even if it is not empty.")
    def restore_command(backup_file: str, target: str, force: bool) -> None:
        """Restore a backup made by `flask backup` into a new database, then check and count it."""
        from pathlib import Path

        from portal.services import backup

        try:
            result = backup.restore(Path(backup_file), target, force=force)
        except PortalError as error:
            _fail(error)
        click.echo(result.message)

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

    reminders = click.Group("reminders", help="Reminders of scheduled sessions.")
    app.cli.add_command(reminders)

    @reminders.command("send")
    @click.option("--now", "now", default=None, help="Send as if it were this moment (ISO, e.g. 2026-03-01T09:00).")
    def reminders_send_command(now: str | None) -> None:
        """Mail the reminders due a week and a day before each session. Run it hourly from a scheduler."""
        from portal.services import match_lifecycle

        moment = _moment(now)
        sent = match_lifecycle.send_reminders(now=moment)
        click.echo(f"Sent {sent} reminder{'' if sent == 1 else 's'}.")

    internships_group = click.Group("internships", help="The NEET internship programme.")
    app.cli.add_command(internships_group)
    internships_feedback = click.Group("feedback", help="The weekly feedback of placements.")
    internships_followups = click.Group("followups", help="EET/NEET follow-ups at 3, 6 and 12 months.")
    internships_group.add_command(internships_feedback)
    internships_group.add_command(internships_followups)


    @internships_feedback.command("send")
    @click.option("--now", "now", default=None, help="Run as if it were this moment (ISO, e.g. 2026-03-01T09:00).")
    def internships_feedback_send_command(now: str | None) -> None:
        """Make the mentor's and intern's feedback links of each placement week that ended (its Friday), once, and
        mail the mentor's to the provider. Run it daily, e.g. cron: `0 17 * * * flask internships feedback send`."""
        from portal.services import internship_followup

        run = internship_followup.send_feedback_requests(now=_moment(now))
        click.echo(f"Made {run.created} feedback link{'' if run.created == 1 else 's'}; "
                   f"mailed {run.mailed} provider contact{'' if run.mailed == 1 else 's'}.")

    @internships_followups.command("remind")
    @click.option("--now", "now", default=None, help="Run as if it were this moment (ISO, e.g. 2026-03-01T09:00).")
    def internships_followups_remind_command(now: str | None) -> None:
        """Mail each area's coordinators, once, about follow-ups that fell due unrecorded.
        Run it daily, e.g. cron: `0 8 * * * flask internships followups remind`."""
        from portal.services import internship_followup

        sent = internship_followup.remind_due_follow_ups(now=_moment(now))
        click.echo(f"Sent {sent} reminder{'' if sent == 1 else 's'}.")

    levy_group = click.Group("levy", help="Levy-paying providers' apprenticeship levy accounts.")
    app.cli.add_command(levy_group)

    @levy_group.command("remind")
    @click.option("--now", "now", default=None, help="Run as if it were this moment (ISO, e.g. 2026-03-01T09:00).")
    def levy_remind_command(now: str | None) -> None:
        """Mail levy-paying providers whose funds expire within 3 months (once per provider and expiring month,
        recorded in the audit log). Run it weekly or monthly, e.g. cron: `0 8 * * 1 flask levy remind`."""
        from portal.services import levy

        moment = _moment(now)
        mailed = levy.send_reminders(now=moment)
        click.echo(f"Reminded {mailed} provider{'' if mailed == 1 else 's'}.")

    pledges_group = click.Group("pledges", help="Levy transfer pledges: auto-approvals due and undecided applications.")
    app.cli.add_command(pledges_group)


    @pledges_group.command("auto-approve")
    @click.option("--now", "now", default=None, help="Run as if it were this moment (ISO, e.g. 2026-03-01T09:00).")
    def pledges_auto_approve_command(now: str | None) -> None:
        """Approve the applications due to approve themselves (they meet every criterion of a pledge that
        auto-approves). Run it every few minutes, e.g. cron: `*/5 * * * * flask pledges auto-approve`."""
        from portal.services import pledges

        summary = pledges.run_due(now=_moment(now))
        click.echo(f"{summary.message}.")
        for application_id, note in summary.stopped:
            click.echo(f"  application {application_id}: {note}")

    @pledges_group.command("expire")
    @click.option("--now", "now", default=None, help="Expire as if it were this moment (ISO, e.g. 2026-03-01T09:00).")
    def pledges_expire_command(now: str | None) -> None:
        """Expire applications still undecided three months after applying. Run it daily, e.g. cron:
        `20 2 * * * flask pledges expire`."""
        from portal.services import pledges

        count = pledges.expire(now=_moment(now))
        click.echo(f"Expired {count} application{'' if count == 1 else 's'}.")

    pupils_group = click.Group("pupils", help="Schools' pupil rosters.")
    app.cli.add_command(pupils_group)

    @pupils_group.command("rollover")
    @click.option("--school", "urn", default=None, help="Only the school with this URN (default: every school).")
    @click.option("--apply", "apply", is_flag=True, help="Do it. Without this flag the command only previews.")
    @click.option("--today", "today", default=None, help="As if today were this date (YYYY-MM-DD).")
    def pupils_rollover_command(urn: str | None, apply: bool, today: str | None) -> None:
        """Year-end rollover: Year N moves to N+1, each school's last year group leaves. Previews unless --apply."""
        from datetime import date

        from portal.services import pupils

        try:
            day = date.fromisoformat(today) if today else None
        except ValueError as error:
            raise click.BadParameter("Give a date such as 2026-07-24.", param_hint="--today") from error
        try:
            school = pupils.school_by_urn(urn) if urn else None
        except PortalError as error:
            _fail(error)
        for line in pupils.rollover(school, apply=apply, today=day).lines():
            click.echo(line)

    retention_group = click.Group("retention", help="Removing leavers' pupil-level rows after the retention period.")
    app.cli.add_command(retention_group)

    @retention_group.command("run")
    @click.option("--today", "today", default=None, help="As if today were this date (YYYY-MM-DD).")
    @click.option("--dry-run", is_flag=True, help="Only print what would be removed.")
    def retention_run_command(today: str | None, dry_run: bool) -> None:
        """Delete the pupil-level rows of leavers past their area's retention period (the area setting; default:
        the end of the academic year after they left). Run it daily, e.g. cron: `40 2 * * * flask retention run`."""
        from datetime import date

        from portal.services import retention

        try:
            day = date.fromisoformat(today) if today else None
        except ValueError as error:
            raise click.BadParameter("Give a date such as 2026-09-01.", param_hint="--today") from error
        for line in retention.run(today=day, dry_run=dry_run).lines():
            click.echo(line)

    match_group = click.Group(
        "match", help="The matching engine: run it on an area, export its input, re-solve; expire old proposals "
                 "and purge replaced ones."
    )
    app.cli.add_command(match_group)

    @match_group.command("run")
    @click.option("--area", "area_names", multiple=True, help="Area name (repeat it for several areas).")
    @click.option("--all", "all_areas", is_flag=True, help="Every area, e.g. a nightly run over the region.")
    @click.option("--dry-run", is_flag=True, help="Solve and report, but store nothing.")
    @click.option("--json", "as_json", is_flag=True, help="Print the engine's result as JSON (one area only).")
    def match_run_command(area_names: tuple[str, ...], all_areas: bool, dry_run: bool, as_json: bool) -> None:
        """Propose matches for one or more areas, replacing their earlier unapproved proposals. Several areas are
        solved side by side (one process per core) and stored in one transaction."""
        from portal.services import matching

        if all_areas == bool(area_names):
            _fail(PortalError("Give --area NAME (one or more) or --all."))
        try:
            areas = matching.all_areas() if all_areas else [matching.area_named(name) for name in area_names]
        except PortalError as error:
            _fail(error)
        if as_json and len(areas) != 1:
            _fail(PortalError("--json prints one area's result: give one --area."))
        outcomes = matching.run_areas(areas, dry_run=dry_run)
        if as_json:
            click.echo(outcomes[0][0].to_json(indent=2))
            return
        for area, (result, stored) in zip(areas, outcomes, strict=True):
            totals = result.totals
            click.echo(f"{area.name}: {len(result.proposals)} proposals, {totals.units_placed} of "
                       f"{totals.units_needed} pupils (places, classes) placed, total value {totals.total_value:g}.")
            click.echo("Dry run: nothing stored." if dry_run else f"Stored {stored} proposals.")
            if result.unmatched:
                click.echo(f"{len(result.unmatched)} requests not placed in full:")
                for unmatched in result.unmatched:
                    click.echo(f"  request {unmatched.request_id}: {unmatched.reasons_text}")

    @match_group.command("expire")
    @click.option("--now", "now", default=None, help="Expire as if it were this moment (ISO, e.g. 2026-03-01T09:00).")
    def match_expire_command(now: str | None) -> None:
        """Expire proposals no coordinator decided on within their area's days. Run it daily from a scheduler.

        E.g. cron: `10 2 * * * flask match expire`.
        """
        from portal.services import proposal_expiry

        moment = _moment(now)
        count = proposal_expiry.expire_proposals(now=moment)
        click.echo(f"Expired {count} proposal{'' if count == 1 else 's'}.")

    @match_group.command("purge")
    @click.option("--days", type=click.IntRange(min=1), default=None,
                  help="Keep replaced proposals this many days after a run replaced them (default 90).")
    @click.option("--now", "now", default=None, help="Run as if it were this moment (ISO, e.g. 2026-03-01T09:00).")
    @click.option("--dry-run", is_flag=True, help="Count what would go, delete nothing.")
    def match_purge_command(days: int | None, now: str | None, dry_run: bool) -> None:
        """Delete the proposals matching runs replaced that nobody acted on, some days after (with their history),
        so the matches table does not grow with every run. Run it daily, e.g. cron: `50 2 * * * flask match purge`.
        """
        from portal.services import proposal_purge

        days = proposal_purge.PURGE_AFTER_DAYS if days is None else days
        click.echo(proposal_purge.purge_replaced(now=_moment(now), days=days, dry_run=dry_run).message)

    @match_group.command("auto-approve")
    @click.option("--now", "now", default=None, help="Run as if it were this moment (ISO, e.g. 2026-03-01T09:00).")
    def match_auto_approve_command(now: str | None) -> None:
        """Approve the proposals due to approve themselves (their offer opted in and they meet every criterion).
        Run it every few minutes from a scheduler, e.g. cron: `*/5 * * * * flask match auto-approve`.
        """
        from portal.services import auto_approval

        moment = _moment(now)
        summary = auto_approval.run_due(now=moment)
        click.echo(f"{summary.message}.")
        for match_id, note in summary.stopped:
            click.echo(f"  match {match_id}: {note}")

    @match_group.command("export")
    @click.option("--area", "area_name", required=True, help="Area name.")
    def match_export_command(area_name: str) -> None:
        """Print the engine's exact input for an area as JSON (docs/matching.md, "The instance format")."""
        from portal.services import matching

        try:
            area = matching.area_named(area_name)
        except PortalError as error:
            _fail(error)
        click.echo(matching.build_instance(area).to_json(indent=2))

    @match_group.command("solve")
    @click.argument("path", type=click.Path(exists=True, dir_okay=False))
    @click.option("--json", "as_json", is_flag=True, help="Print the engine's result as JSON.")
    def match_solve_command(path: str, as_json: bool) -> None:
        """Solve an exported instance file again, offline (nothing is read from or stored in the database)."""
        from pathlib import Path

        from portal.matching import Instance, InstanceError, solve

        try:
            result = solve(Instance.from_json(Path(path).read_text(encoding="utf-8")))
        except InstanceError as error:
            raise click.ClickException(str(error)) from error
        if as_json:
            click.echo(result.to_json(indent=2))
            return
        totals = result.totals
        click.echo(f"{len(result.proposals)} proposals, {totals.units_placed} of {totals.units_needed} units placed, "
                   f"total value {totals.total_value:g}.")
        for proposal in result.proposals:
            click.echo(f"  request {proposal.request_id} ← offer {proposal.offer_id}: {proposal.allocation}, "
                       f"value {proposal.value:g}: {proposal.reasons_text}")
        for unmatched in result.unmatched:
            click.echo(f"  request {unmatched.request_id} not placed in full: {unmatched.reasons_text}")
