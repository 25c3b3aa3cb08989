"""Alembic environment written by `bastion db init`: Bastion hands it the connection and the
models' metadata, so the app's settings decide the database (no URL in any file)."""

from alembic import context

config = context.config
connection = config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=config.attributes["metadata"],
    render_as_batch=connection.dialect.name == "sqlite",  # ALTER TABLE via copy on SQLite
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
