"""Alembic environment for Tangent (run through Flask-Migrate, in an app context)."""

import logging

from alembic import context
from flask import current_app
from sqlalchemy import text

config = context.config
logger = logging.getLogger("alembic.env")
# Logging is configured by the app (structured, with request ids); alembic.ini's
# logging sections are deliberately not applied here.

target_db = current_app.extensions["migrate"].db


def get_metadata():
    return target_db.metadata


def run_migrations_offline():
    url = target_db.engine.url.render_as_string(hide_password=False)
    context.configure(url=url, target_metadata=get_metadata(), literal_binds=True,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def _skip_empty_autogenerate(context_, revision, directives):
    if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
        directives[:] = []
        logger.info("No changes in schema detected.")


def run_migrations_online():
    conf_args = dict(current_app.extensions["migrate"].configure_args)
    conf_args.setdefault("process_revision_directives", _skip_empty_autogenerate)
    engine = target_db.engine
    sqlite = engine.dialect.name == "sqlite"

    with engine.connect() as connection:
        if sqlite:
            # Batch mode rebuilds tables; with foreign keys on, dropping the old
            # table would cascade. Turn them off outside the transaction (SQLite
            # ignores the pragma inside one) and check integrity afterwards.
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
        try:
            context.configure(connection=connection, target_metadata=get_metadata(), **conf_args)
            with context.begin_transaction():
                context.run_migrations()
                if sqlite:
                    problems = connection.execute(text("PRAGMA foreign_key_check")).all()
                    if problems:
                        raise RuntimeError(f"foreign key violations after migration: {problems}")
            connection.commit()
        finally:
            if sqlite:
                connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
