"""Marshmallow schemas of the account API (who am I, revoke this token): they dump its answers and
describe them in the OpenAPI document (``consular.api_docs``)."""

from __future__ import annotations

from marshmallow import Schema, fields

from consular.auth.models import Role


class MeOut(Schema):
    """The caller, as the API sees them."""

    id = fields.Integer(required=True)
    username = fields.String(required=True)
    display_name = fields.String(required=True)
    role = fields.String(required=True, metadata={"enum": [r.value for r in Role]})
    liaison_point_id = fields.Integer(required=True, allow_none=True,
                                      metadata={"description": "A liaison officer's point."})
    station_id = fields.Integer(required=True, allow_none=True,
                                metadata={"description": "A station volunteer's station."})
    via_token = fields.Boolean(required=True, metadata={
        "description": "true: by a bearer token; false: by the session cookie."})


class TokenRevokedOut(Schema):
    revoked = fields.Boolean(required=True)
    prefix = fields.String(required=True, metadata={
        "description": "The first characters of the revoked token, as the account page lists it."})
