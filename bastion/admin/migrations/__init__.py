"""The admin tables' migrations: an Alembic branch labelled ``bastion_admin`` that
``bastion db upgrade`` applies with the app's own (see ``SQLAlchemyPlugin.include_migrations``).
"""
