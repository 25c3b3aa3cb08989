"""The notifications table's migrations: an Alembic branch labelled ``bastion_notifications``
that ``bastion db upgrade`` applies with the app's own (see
``SQLAlchemyPlugin.include_migrations``).
"""
