"""PLACEHOLDER — to be replaced by the network registry pages."""

from flask import Blueprint, abort

bp = Blueprint("network", __name__, template_folder="templates")


@bp.get("/network/liaison-points")
def liaison_points() -> str:
    abort(404)


@bp.get("/network/liaison-points/<int:point_id>")
def liaison_point(point_id: int) -> str:
    abort(404)


@bp.get("/network/stations")
def stations() -> str:
    abort(404)


@bp.get("/network/stations/<int:station_id>")
def station(station_id: int) -> str:
    abort(404)


@bp.get("/network/missions")
def missions() -> str:
    abort(404)


@bp.get("/network/divisions")
def divisions() -> str:
    abort(404)


@bp.get("/network/coverage")
def coverage() -> str:
    abort(404)
