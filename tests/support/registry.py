"""Driving the registry's file import from the tests: upload, the rows it read, confirm."""

from __future__ import annotations

import io
import re


def upload(browser, content: bytes, name: str = "list.csv", **fields):
    data = {"file": (io.BytesIO(content), name), "country_code": "", "language": "zh_Hans",
            "kind": "citizen_abroad", "liaison_point_id": "0", "station_id": "0",
            "consent_note": "普拉托侨团登记表（2025）", "consent_given": "y", **fields}
    return browser.post("/registrants/import", data, content_type="multipart/form-data",
                        headers={"Accept-Language": "en"})


def confirm(browser, preview) -> object:
    match = re.search(r'/registrants/import/(\d+)/confirm', preview.get_data(as_text=True))
    assert match, preview.get_data(as_text=True)[:2000]
    return browser.post(match.group(0))


def rows_of(html: str, testid: str) -> list[list[str]]:
    table = html.split(f'data-testid="{testid}"', 1)[1].split("</table>", 1)[0]
    return [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", table)
            if "<td>" in row]
