"""The admin site: pages generated from SQLAlchemy models, for staff users.

    from bastion.admin import Admin, Inline, action

    admin = Admin(user_model=User)
    admin.register(Article, list_display=["title", "author"], search=["title"])
    app = App(plugins=[database, admin])

See docs/admin.md.
"""

from __future__ import annotations

from bastion.admin._access import Staff, grant
from bastion.admin.options import Action, Inline, ModelAdmin, action
from bastion.admin.site import Admin

__all__ = ["Action", "Admin", "Inline", "ModelAdmin", "Staff", "action", "grant"]
