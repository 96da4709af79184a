"""Alembic environment: runs on a connection handed over by data_access.migrate, or on the configured URL."""
from alembic import context

from data_access.engine import make_engine
from data_access.schema import metadata

config = context.config
connection = config.attributes.get("connection")


def _run(conn) -> None:
    context.configure(connection=conn, target_metadata=metadata, render_as_batch=conn.dialect.name == "sqlite",
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    _run(connection)
else:
    with make_engine().connect() as conn:
        _run(conn)
        conn.commit()
