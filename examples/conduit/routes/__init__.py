"""The API, one router per resource, all under ``/api``."""

from bastion import Router

from . import articles, comments, notifications, profiles, tags, users


def api() -> Router:
    router = Router("/api")
    for module in (users, profiles, articles, comments, tags, notifications):
        router.include(module.router)
    return router
