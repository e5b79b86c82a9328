"""PLACEHOLDER — to be replaced by the network JSON API."""

from flask import Blueprint

bp = Blueprint("network_api", __name__, url_prefix="/api/v1")
