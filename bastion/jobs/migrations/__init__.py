"""The jobs tables' migrations: an Alembic branch labelled ``bastion_jobs`` that
``bastion db upgrade`` applies with the app's own (see ``SQLAlchemyPlugin.include_migrations``).
"""
