"""Valid bodies for the network registers' create forms and API (forms and JSON take the same
fields), shared by the network validation and access tests; each test changes what it needs."""

from __future__ import annotations


def station_body(**values: object) -> dict[str, object]:
    """A new service station in Prato; ``values`` replace some of its fields."""
    return {"name": "新服务站", "name_en": "", "country_code": "IT", "city": "Prato",
            "host_organisation": "联谊会", "host_kind": "community_association",
            "timezone": "Europe/Rome", "languages": "zh, it", "contact_name": "",
            "contact_phone": "", "contact_email": "", **values}


def mission_body(**values: object) -> dict[str, object]:
    """A new consulate in Florence; ``values`` replace some of its fields."""
    return {"name": "新领馆", "name_en": "", "kind": "consulate", "country_code": "IT",
            "city": "Firenze", "emergency_phone": "+390550000000", "phone": "", "address": "",
            **values}
