"""The application factory: configuration, extensions, blueprints, CLI and error handlers. Wiring only."""
import os

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from config import CONFIGS, ProductionConfig


def create_app(config_name: str | None = None, overrides: dict | None = None) -> Flask:
    """Build the app. `config_name` defaults to $PORTAL_ENV (development, testing, production)."""
    app = Flask(
        __name__,
        template_folder="../templates",
        static_folder="../static",
        instance_relative_config=True,
    )
    config_name = config_name or os.environ.get("PORTAL_ENV", "development")
    app.config.from_object(CONFIGS[config_name])
    if overrides:
        app.config.from_mapping(overrides)
    if config_name == "production":
        ProductionConfig.check(app.config)
    proxies = int(app.config.get("TRUSTED_PROXY_COUNT") or 0)
    if proxies > 0:  # only when the operator says so: without a proxy, X-Forwarded-* is whatever the client sent
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)

    from portal.extensions import bootstrap, csrf, db, limiter, login_manager, mail, migrate

    db.init_app(app)
    # Batch mode lets Alembic alter SQLite tables; compare_type catches column type drift.
    migrate.init_app(
        app, db, directory=os.path.join(os.path.dirname(__file__), "..", "migrations"),
        render_as_batch=True, compare_type=True,
    )
    login_manager.init_app(app)
    mail.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    bootstrap.init_app(app)

    from portal import access, links, navigation, paging, security_headers, web_errors

    access.init_app(app)
    navigation.init_app(app)
    links.init_app(app)
    paging.init_app(app)
    security_headers.init_app(app)
    web_errors.init_app(app)

    from portal.admin.views import bp as admin_bp
    from portal.audit.views import bp as audit_bp
    from portal.auth.views import bp as auth_bp
    from portal.browse.views import bp as browse_bp
    from portal.main.views import bp as main_bp
    from portal.matches.views import bp as matches_bp
    from portal.offers.views import bp as offers_bp
    from portal.organisations.views import bp as organisations_bp
    from portal.pupils.views import bp as pupils_bp
    from portal.school_requests.views import bp as school_requests_bp
    from portal.signup.views import bp as signup_bp
    from portal.verification.views import bp as verification_bp

    for blueprint in (main_bp, auth_bp, signup_bp, organisations_bp, verification_bp, audit_bp, admin_bp,
                      offers_bp, school_requests_bp, browse_bp, matches_bp):
        app.register_blueprint(blueprint)
    app.register_blueprint(pupils_bp)

    from portal.progress.views import bp as progress_bp
    from portal.reports.views import bp as reports_bp

    app.register_blueprint(progress_bp)
    app.register_blueprint(reports_bp)

    from portal.registers.views import bp as registers_bp

    app.register_blueprint(registers_bp)

    from portal.internships.views import bp as internships_bp

    app.register_blueprint(internships_bp)

    from portal.feedback.views import bp as feedback_bp
    from portal.internship_followup.views import bp as internship_followup_bp

    app.register_blueprint(internship_followup_bp)
    app.register_blueprint(feedback_bp)

    from portal.kits.views import bp as kits_bp

    app.register_blueprint(kits_bp)

    from portal.levy.views import bp as levy_bp

    app.register_blueprint(levy_bp)

    from portal.pledges.views import bp as pledges_bp

    app.register_blueprint(pledges_bp)

    from portal import cli

    cli.init_app(app)
    return app
