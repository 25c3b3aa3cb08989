"""The cache tables' migrations: an Alembic branch labelled ``bastion_cache`` that
``bastion db upgrade`` applies with the app's own (see ``SQLAlchemyPlugin.include_migrations``).
"""
