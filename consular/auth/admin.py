"""PLACEHOLDER — to be replaced by the admin's user management pages."""

from flask import abort

from consular.auth.views import bp


@bp.get("/admin/users")
def users() -> str:
    abort(404)
