"""The case register under load: the triage queue, search, the case page and case creation served by
gunicorn on PostgreSQL, at 10k cases (the baseline) and at 1M cases with 10M timeline entries, driven
by wrk at 1, 16 and 64 connections.

Run: ``python -m bench cases [-- --quick] [-- --duration 10] [-- --cases 1000000 --timeline 10000000]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask

from bench.common import env_for, postgres_database, print_table, stop_processes

ROOT = Path(__file__).resolve().parent.parent
BASELINE_CASES = 10_000
OPEN_BACKLOG = 3_000  # the newest cases, half of them still open: a centre's backlog, not its history
POOL_PEOPLE = 4_000  # distinct people whose sealed values and hashes are cycled through the register
CLIENTS = (1, 16, 64)
YEARS = 10  # the register spans ten years (the default retention of a closed case)
PASSWORD = "bench-pass-2026"  # noqa: S105 — a throwaway account in a throwaway database

SURNAMES = [("张", "ZHANG"), ("王", "WANG"), ("李", "LI"), ("刘", "LIU"), ("陈", "CHEN"), ("杨", "YANG"),
            ("黄", "HUANG"), ("赵", "ZHAO"), ("吴", "WU"), ("周", "ZHOU"), ("徐", "XU"), ("孙", "SUN"),
            ("马", "MA"), ("朱", "ZHU"), ("胡", "HU"), ("郭", "GUO"), ("何", "HE"), ("林", "LIN"),
            ("罗", "LUO"), ("郑", "ZHENG"), ("梁", "LIANG"), ("谢", "XIE"), ("叶", "YE"), ("潘", "PAN"),
            ("金", "JIN"), ("池", "CHI"), ("季", "JI"), ("麻", "MA"), ("瞿", "QU"), ("缪", "MIAO")]
GIVEN = [("伟", "WEI"), ("芳", "FANG"), ("娜", "NA"), ("敏", "MIN"), ("静", "JING"), ("丽", "LI"),
         ("强", "QIANG"), ("磊", "LEI"), ("军", "JUN"), ("洋", "YANG"), ("勇", "YONG"), ("艳", "YAN"),
         ("杰", "JIE"), ("涛", "TAO"), ("明", "MING"), ("超", "CHAO"), ("秀", "XIU"), ("霞", "XIA"),
         ("平", "PING"), ("刚", "GANG"), ("桂", "GUI"), ("英", "YING"), ("华", "HUA"), ("建", "JIAN"),
         ("文", "WEN"), ("斌", "BIN"), ("海", "HAI"), ("燕", "YAN"), ("国", "GUO"), ("红", "HONG"),
         ("晓", "XIAO"), ("东", "DONG"), ("小", "XIAO"), ("飞", "FEI"), ("鹏", "PENG"), ("宇", "YU")]
# (country, city, zone): the spread of the city's people abroad, Italy and Spain first.
PLACES = [("IT", "Prato", "Europe/Rome"), ("IT", "Milano", "Europe/Rome"), ("IT", "Roma", "Europe/Rome"),
          ("ES", "Madrid", "Europe/Madrid"), ("FR", "Paris", "Europe/Paris"),
          ("NL", "Amsterdam", "Europe/Amsterdam"), ("DE", "Frankfurt", "Europe/Berlin"),
          ("US", "New York", "America/New_York"), ("BR", "São Paulo", "America/Sao_Paulo"),
          ("AE", "Dubai", "Asia/Dubai"), ("JP", "Tokyo", "Asia/Tokyo"), ("TH", "Bangkok", "Asia/Bangkok")]
SUMMARIES = ["护照在火车站被盗", "家属联系不上，已失联三天", "工地受伤住院", "因签证问题被拘留",
             "劳务纠纷，工资被拖欠", "突发疾病需要就医", "遭遇电信诈骗", "航班取消滞留机场",
             "车祸受伤", "未成年人无人陪伴", "店铺被盗", "咨询回国手续"]
CATEGORIES = ["lost_documents", "missing", "injured", "detained", "labour_business_dispute", "ill",
              "fraud_theft", "stranded", "injured", "unaccompanied_minor", "fraud_theft", "other"]
OPEN = ["new", "triaged", "assigned", "in_progress", "waiting_external"]
# The planted person searched for: in no pool, so each search below finds exactly one case.
TARGET = {"name_zh": "欧阳明轩", "pinyin": "ouyang mingxuan", "name_latin": "AU-YEUNG MING HIN",
          "phone": "+393330001234", "phone_query": "+39 333 000 1234", "id_number": "YB7654321"}


# --- data ---------------------------------------------------------------------------------------


@dataclass
class World:
    """What the load needs to know about the generated register."""

    cases: int
    timeline: int
    token: str = ""
    cookie: str = ""
    reference: str = ""
    case_ids: list[int] = field(default_factory=list)
    seconds: float = 0.0


def _settings(url: str, instance: Path) -> dict[str, Any]:
    from bench.common import bench_settings

    # Sessions must outlive a whole stage: wrk replays one cookie and never stores a new one.
    return bench_settings(url, instance, SESSION_IDLE_MINUTES=24 * 60, LOG_FORMAT="text")


def _network(app: Flask) -> tuple[list[int], dict[str, int], int]:
    """A small network: a centre, 20 liaison points, one station per country of PLACES, a
    coordinator. Returns point ids, station id by country, the coordinator's id."""
    from consular.auth.models import Role
    from consular.auth.operations import create_user
    from consular.db import db
    from consular.network.models import (
        CoordinationCentre,
        Division,
        DivisionLevel,
        HostKind,
        LiaisonPoint,
        ServiceStation,
    )

    with app.app_context():
        db.session.add(CoordinationCentre(name="协调中心", name_en="Centre", city="温州", address="市府路",
                                          phone="+8657788880000", hotline_24h="+8657712345678",
                                          timezone="Asia/Shanghai"))
        county = Division(code="330300", name="测试县", name_en="County", level=DivisionLevel.county)
        db.session.add(county)
        db.session.flush()
        points = []
        for i in range(20):
            town = Division(code=f"330300{i:03d}", name=f"测试镇{i}", name_en=f"Town {i}",
                            level=DivisionLevel.township, parent_id=county.id)
            db.session.add(town)
            db.session.flush()
            point = LiaisonPoint(name=f"测试镇{i}联络点", name_en=f"Point {i}", division_id=town.id,
                                 address="镇政府", phone=f"+86577888{i:05d}")
            db.session.add(point)
            points.append(point)
        stations: dict[str, ServiceStation] = {}
        for country, city, zone in PLACES:
            if country not in stations:
                stations[country] = ServiceStation(
                    name=f"{city}服务站", name_en=f"{city} station", country_code=country, city=city,
                    host_organisation="华侨华人联谊会", host_kind=HostKind.community_association,
                    timezone=zone, languages="zh", contact_name="志愿者", contact_phone="+390000000000",
                    contact_email="station@example.org")
                db.session.add(stations[country])
        db.session.flush()
        coordinator = create_user(username="bench-coordinator", display_name="基准协调员",
                                  password=PASSWORD, role=Role.coordinator)
        db.session.commit()
        return [p.id for p in points], {c: s.id for c, s in stations.items()}, coordinator.id


def _pool(app: Flask) -> tuple[list[dict[str, Any]], list[tuple[int, str]], dict[str, Any]]:
    """Sealed values and keyed hashes of POOL_PEOPLE distinct people (and of the planted target),
    computed with the app's own functions."""
    import random

    from consular.cases.names import name_hashes
    from consular.cases.search_keys import id_number_hash
    from consular.db import keyring
    from consular.phones import search_hash as phone_hash

    rng = random.Random(7)
    people: list[dict[str, Any]] = []
    keys: list[tuple[int, str]] = []
    seen: set[tuple[str, str]] = set()
    with app.app_context():
        ring = keyring()
        while len(people) < POOL_PEOPLE:
            (sur_zh, sur), (g1_zh, g1) = rng.choice(SURNAMES), rng.choice(GIVEN)
            g2_zh, g2 = rng.choice(GIVEN) if rng.random() < 0.7 else ("", "")
            name_zh, name_latin = sur_zh + g1_zh + g2_zh, f"{sur} {g1}{g2}"
            phone = f"+393{rng.randrange(10**8, 10**9)}"
            if (name_zh, phone) in seen:
                continue
            seen.add((name_zh, phone))
            id_number = f"E{rng.randrange(10**7, 10**8)}"
            idx = len(people)
            people.append({"idx": idx, "name_zh": ring.seal(name_zh, "case_person", "name_zh"),
                           "name_latin": ring.seal(name_latin, "case_person", "name_latin"),
                           "gender": rng.choice(["female", "male"]),
                           "birth_year": rng.randrange(1950, 2010),
                           "id_number": ring.seal(id_number, "case_person", "id_number"),
                           "id_number_hash": id_number_hash(id_number),
                           "phone": ring.seal(phone, "case_person", "phone"),
                           "phone_hash": phone_hash(phone)})
            keys += [(idx, h) for h in name_hashes(name_zh, name_latin)]
        target = {"name_zh": ring.seal(TARGET["name_zh"], "case_person", "name_zh"),
                  "name_latin": ring.seal(TARGET["name_latin"], "case_person", "name_latin"),
                  "id_number": ring.seal(TARGET["id_number"], "case_person", "id_number"),
                  "id_number_hash": id_number_hash(TARGET["id_number"]),
                  "phone": ring.seal(TARGET["phone"], "case_person", "phone"),
                  "phone_hash": phone_hash(TARGET["phone"]),
                  "keys": sorted(name_hashes(TARGET["name_zh"], TARGET["name_latin"])),
                  "narratives": [ring.seal(f"家属来电，情况说明第{i}版：需要联系当地警方并通知使馆。",
                                           "case_file", "narrative")
                                 for i in range(40)],
                  "notes": [ring.seal(f"已电话联系家属（第{i}次），对方表示会提供护照复印件。",
                                      "timeline_entry", "text")
                            for i in range(40)]}
    return people, keys, target


@contextmanager
def _without_indexes(conn: sa.Connection, tables: Sequence[str]) -> Iterator[None]:
    """Drop the plain indexes of ``tables`` for a bulk load and build them again afterwards (as a
    restore would); primary keys and unique constraints stay."""
    rows = conn.execute(sa.text(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = ANY(:t) "
        "AND indexname NOT IN (SELECT conname FROM pg_constraint)"), {"t": list(tables)}).all()
    # The names come from the catalog, not from input.
    for name, _definition in rows:
        conn.execute(sa.text(f'DROP INDEX "{name}"'))  # noqa: S608
    yield
    for _name, definition in rows:
        conn.execute(sa.text(definition))


def generate(app: Flask, url: str, cases: int, timeline: int) -> World:
    """The register at ``cases`` cases and ``timeline`` entries, set-based on PostgreSQL."""
    from consular.auth.models import User
    from consular.auth.operations import create_api_token
    from consular.db import db
    from consular.registry.places import normalise_place

    started = time.perf_counter()
    points, stations, coordinator_id = _network(app)
    people, keys, target = _pool(app)
    countries = [p[0] for p in PLACES]
    engine = sa.create_engine(sa.make_url(url).set(drivername="postgresql+psycopg"))
    params: dict[str, Any] = {
        "n": cases, "t": timeline, "recent": min(OPEN_BACKLOG, cases), "pool": POOL_PEOPLE,
        "countries": countries, "cities": [p[1] for p in PLACES],
        "city_keys": [normalise_place(p[1])[:120] for p in PLACES], "zones": [p[2] for p in PLACES],
        "station_ids": [stations[c] for c in countries], "points": points, "coordinator": coordinator_id,
        "summaries": SUMMARIES, "categories": CATEGORIES, "open": OPEN, "years": YEARS,
        "narratives": target["narratives"], "notes": target["notes"],
    }
    with engine.begin() as conn:
        # A bench database: skip the foreign-key triggers during the load (the values are built
        # consistent), like a restore.
        conn.execute(sa.text("SET session_replication_role = replica"))
        conn.execute(sa.text("SET LOCAL work_mem = '256MB'"))
        conn.execute(sa.text("CREATE TABLE bench_pool (idx int PRIMARY KEY, name_zh text, "
                             "name_latin text, gender text, birth_year int, id_number text, "
                             "id_number_hash text, phone text, phone_hash text)"))
        conn.execute(sa.text("INSERT INTO bench_pool VALUES (:idx, :name_zh, :name_latin, :gender, "
                             ":birth_year, :id_number, :id_number_hash, :phone, :phone_hash)"), people)
        conn.execute(sa.text("CREATE TABLE bench_pool_key (idx int, key_hash text)"))
        conn.execute(sa.text("INSERT INTO bench_pool_key VALUES (:idx, :key_hash)"),
                     [{"idx": i, "key_hash": h} for i, h in keys])
        conn.execute(sa.text("CREATE INDEX ON bench_pool_key (idx)"))
        with _without_indexes(conn, ["case_file", "case_person", "person_name_key", "timeline_entry"]):
            conn.execute(sa.text(CASES_SQL), params)
            conn.execute(sa.text(PERSONS_SQL), params)
            conn.execute(sa.text(NAME_KEYS_SQL), params)
            conn.execute(sa.text(TIMELINE_SQL), params)
        planted = cases // 2
        person_id = conn.execute(sa.text(
            "INSERT INTO case_person (case_id, role, name_zh, name_latin, gender, birth_date, nationality, "
            "id_kind, id_number, id_number_hash, phone, phone_hash, relationship_to_involved, created_at) "
            "VALUES (:c, 'involved', :name_zh, :name_latin, 'male', DATE '1990-05-01', 'CN', 'passport', "
            ":id_number, :id_number_hash, :phone, :phone_hash, '', now()) RETURNING id"),
            {"c": planted, **{k: target[k] for k in ("name_zh", "name_latin", "id_number",
                                                     "id_number_hash", "phone", "phone_hash")}}).scalar_one()
        conn.execute(sa.text("INSERT INTO person_name_key (person_id, case_id, key_hash) "
                             "VALUES (:p, :c, :h)"),
                     [{"p": person_id, "c": planted, "h": h} for h in target["keys"]])
        conn.execute(sa.text(
            "INSERT INTO case_sequence (year, last) SELECT split_part(reference, '-', 1)::int, "
            "max(split_part(reference, '-', 2)::int) FROM case_file GROUP BY 1"))
        conn.execute(sa.text("SELECT setval(pg_get_serial_sequence('case_file', 'id'), :n)"), params)
        conn.execute(sa.text("DROP TABLE bench_pool, bench_pool_key"))
        reference = conn.execute(sa.text("SELECT reference FROM case_file WHERE id = :i"),
                                 {"i": cases // 3}).scalar_one()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
    engine.dispose()
    with app.app_context():
        user = db.session.get(User, coordinator_id)
        assert user is not None
        _token, secret = create_api_token(user, "bench")
        db.session.commit()
    step = max(1, cases // 997)
    return World(cases=cases, timeline=timeline, token=secret, reference=reference,
                 case_ids=list(range(1, cases + 1, step))[:997], seconds=time.perf_counter() - started)


# A pseudo-random 0..999 per case from its id (Knuth's multiplicative hash), for the spreads.
CASES_SQL = """
WITH s AS (
  SELECT g, now() - ((:n - g)::float8 / :n) * (:years * interval '365 days') - interval '10 minutes' AS at,
         (((g::bigint * 2654435761) % 4294967296) % 1000) AS h,
         (((g::bigint * 40503) % 4294967296) % 1000) AS h2, g > :n - :recent AS recent
  FROM generate_series(1, :n) g
), t AS (
  SELECT s.*, extract(year FROM at)::int AS year,
         CASE WHEN recent AND g % 2 = 0 THEN (CAST(:open AS text[]))[1 + (g / 2) % 5]
              WHEN h2 < 30 THEN 'resolved' ELSE 'closed' END AS status,
         CASE WHEN h < 50 THEN 'P1' WHEN h < 250 THEN 'P2' WHEN h < 750 THEN 'P3' ELSE 'P4' END AS priority,
         CASE WHEN h2 < 400 THEN 0 WHEN h2 < 550 THEN 1 WHEN h2 < 650 THEN 2 WHEN h2 < 800 THEN 3
              ELSE 4 + h2 % 8 END AS place
  FROM s
), d AS (
  SELECT t.*, CASE priority WHEN 'P1' THEN interval '30 minutes' WHEN 'P2' THEN interval '2 hours'
                            WHEN 'P3' THEN interval '8 hours' ELSE interval '24 hours' END AS first_due,
              CASE priority WHEN 'P1' THEN interval '2 hours' WHEN 'P2' THEN interval '8 hours'
                            WHEN 'P3' THEN interval '24 hours' ELSE interval '72 hours' END AS assign_due
  FROM t
)
INSERT INTO case_file (id, reference, kind, category, priority, status, summary, narrative, country_code,
  city, city_key, place, timezone, occurred_at, reported_at, channel, tags, liaison_point_id, station_id,
  coordinator_id, created_by_id, first_response_due_at, assignment_due_at, first_response_at, triaged_at,
  assigned_at, resolved_at, closed_at, last_activity_at, outcome, legal_hold, version, created_at, updated_at)
SELECT g, year || '-' || lpad((row_number() OVER (PARTITION BY year ORDER BY g))::text, 6, '0'), 'abroad',
  (CAST(:categories AS text[]))[1 + h % 12], priority, status, (CAST(:summaries AS text[]))[1 + h2 % 12],
  (CAST(:narratives AS text[]))[1 + g % 40], (CAST(:countries AS text[]))[1 + place],
  (CAST(:cities AS text[]))[1 + place], (CAST(:city_keys AS text[]))[1 + place], '',
  (CAST(:zones AS text[]))[1 + place], at - interval '1 day', at,
  CASE WHEN h % 3 = 0 THEN 'phone' ELSE 'walk_in' END, '',
  (CAST(:points AS int[]))[1 + g % cardinality(CAST(:points AS int[]))],
  CASE WHEN status NOT IN ('new', 'triaged') THEN (CAST(:station_ids AS int[]))[1 + place] END,
  :coordinator, :coordinator, at + first_due, at + assign_due,
  CASE WHEN status <> 'new' OR g % 4 = 0 THEN at + interval '20 minutes' END,
  CASE WHEN status <> 'new' THEN at + interval '25 minutes' END,
  CASE WHEN status NOT IN ('new', 'triaged') THEN at + interval '1 hour' END,
  CASE WHEN status IN ('resolved', 'closed') THEN at + interval '5 days' END,
  CASE WHEN status = 'closed' THEN at + interval '6 days' END,
  at + CASE WHEN status IN ('resolved', 'closed') THEN interval '6 days' ELSE interval '1 hour' END,
  CASE WHEN status IN ('resolved', 'closed') THEN 'assisted' END, false, 1, at, at
FROM d
"""
PERSONS_SQL = """
INSERT INTO case_person (case_id, role, name_zh, name_latin, gender, birth_date, nationality, id_kind,
  id_number, id_number_hash, phone, phone_hash, relationship_to_involved, created_at)
SELECT c.id, r.role, p.name_zh, p.name_latin, p.gender, make_date(p.birth_year, 1 + c.id % 12, 1 + c.id % 28),
  'CN', 'passport', p.id_number, p.id_number_hash, p.phone, p.phone_hash, r.relationship, c.reported_at
FROM case_file c
CROSS JOIN LATERAL (VALUES ('involved', '', 0), ('family', '父亲', 1)) AS r(role, relationship, shift)
JOIN bench_pool p ON p.idx = ((c.id::bigint * 40503 + r.shift * 7919) % :pool)
WHERE r.shift = 0 OR c.id % 5 = 0
"""
NAME_KEYS_SQL = """
INSERT INTO person_name_key (person_id, case_id, key_hash)
SELECT cp.id, cp.case_id, k.key_hash
FROM case_person cp
JOIN bench_pool_key k
  ON k.idx = ((cp.case_id::bigint * 40503 + CASE cp.role WHEN 'family' THEN 7919 ELSE 0 END) % :pool)
"""
TIMELINE_SQL = """
INSERT INTO timeline_entry (case_id, at, actor_id, kind, action, from_status, to_status, text, detail)
SELECT c, now() - ((:n - c)::float8 / :n) * (:years * interval '365 days') + k * interval '2 hours',
  :coordinator,
  CASE WHEN k = 0 THEN 'created'
       ELSE (ARRAY['status', 'note', 'assignment', 'note', 'referral'])[1 + k % 5] END,
  CASE WHEN k = 0 THEN 'create' ELSE (ARRAY['triage', 'note', 'assign', 'note', 'refer'])[1 + k % 5] END,
  NULL, NULL, CASE WHEN k % 5 IN (2, 4) THEN (CAST(:notes AS text[]))[1 + t % 40] END,
  CASE WHEN k = 0 THEN '{"channel": "walk_in", "persons": 1}' ELSE '{}' END::json
FROM (SELECT t, 1 + (t - 1) % :n AS c, (t - 1) / :n AS k FROM generate_series(1, :t) t) s
"""


# --- serving and load ---------------------------------------------------------------------------


def wsgi() -> Flask:
    """The app as gunicorn serves it (settings from the environment), plus a bare ``SELECT 1``
    endpoint: the floor of a request through the same stack."""
    from consular.app import create_app
    from consular.db import db

    app = create_app()

    @app.get("/bench/select1")
    def select1() -> str:
        return str(db.session.execute(sa.text("SELECT 1")).scalar())

    return app


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def gunicorn(settings: dict[str, Any], workers: int, threads: int) -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(  # noqa: S603 — our own interpreter and arguments
        [sys.executable, "-m", "gunicorn", "-w", str(workers), "--threads", str(threads), "-k", "gthread",
         "-b", f"127.0.0.1:{port}", "--log-level", "warning", "--keep-alive", "30", "bench.cases:wsgi()"],
        cwd=ROOT, env=env_for(settings))
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2):  # noqa: S310 — loopback
                    break
            except OSError:  # refused, reset or timed out while the workers boot
                if process.poll() is not None:
                    raise RuntimeError("gunicorn exited at start-up") from None
                time.sleep(0.2)
        else:
            raise RuntimeError("gunicorn did not answer within a minute")
        yield base
    finally:
        stop_processes(process)


def login_cookie(base: str) -> str:
    """A coordinator's session cookie, by logging in through the served app."""
    import http.cookiejar
    import re

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base}/login", timeout=10).read().decode()
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or \
        re.search(r'value="([^"]+)"[^>]*name="csrf_token"', page)
    if match is None:
        raise RuntimeError("no CSRF token on the login page")
    body = urllib.parse.urlencode({"csrf_token": match[1], "username": "bench-coordinator",
                                   "password": PASSWORD}).encode()
    opener.open(f"{base}/login", data=body, timeout=30).read()
    for cookie in jar:
        if cookie.name == "consular_session":
            return f"consular_session={cookie.value}"
    raise RuntimeError("login did not set a session cookie")


@dataclass(frozen=True)
class Endpoint:
    name: str
    paths: tuple[str, ...]
    auth: str  # "token" or "cookie"
    method: str = "GET"


def endpoints(world: World) -> list[Endpoint]:
    def search(q: str) -> tuple[str, ...]:
        return ("/api/v1/cases?" + urllib.parse.urlencode({"q": q, "limit": 20}),)

    return [
        Endpoint("floor: SELECT 1", ("/bench/select1",), "token"),
        Endpoint("triage queue (page)", ("/cases/queue?page=1",), "cookie"),
        Endpoint("triage queue (API, open)", ("/api/v1/cases?open=true&limit=50",), "token"),
        Endpoint("search: reference", search(world.reference), "token"),
        Endpoint("search: name 汉字", search(TARGET["name_zh"]), "token"),
        Endpoint("search: pinyin", search(TARGET["pinyin"]), "token"),
        Endpoint("search: passport spelling", search(TARGET["name_latin"]), "token"),
        Endpoint("search: phone", search(TARGET["phone_query"]), "token"),
        Endpoint("search: ID number", search(TARGET["id_number"]), "token"),
        Endpoint("case page", tuple(f"/cases/{i}" for i in world.case_ids), "cookie"),
        Endpoint("case creation (API)", ("/api/v1/cases",), "token", "POST"),
    ]


LUA = r"""
local paths = {%(paths)s}
local headers = {%(headers)s}
local method = "%(method)s"
local counter = 0
function setup(thread)
  thread:set("id", (#threads or 0) + 1)
  table.insert(threads, thread)
end
threads = {}
function init(args)
  math.randomseed(os.time() * 1000 + (id or 1) * 7919)
  counter = (id or 1) * 104729
end
local letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
local function word(n)
  local out = {}
  for i = 1, n do
    local k = math.random(1, #letters)
    out[i] = letters:sub(k, k)
  end
  return table.concat(out)
end
function request()
  counter = counter + 1
  local path = paths[(counter %% #paths) + 1]
  if method == "POST" then
    -- +39 333: an allocated mobile range, so every number is valid (a 422 would be timed instead)
    local body = string.format('{"summary": "护照在火车站被盗", "category": "lost_documents", '
      .. '"priority": "P3", '
      .. '"country_code": "IT", "city": "Prato", "persons": [{"name_latin": "%%s %%s", '
      .. '"phone": "+39 333 %%07d", "id_number": "X%%08d"}]}', word(5), word(7), math.random(0, 9999999),
      math.random(0, 99999999))
    return wrk.format("POST", path, headers, body)
  end
  return wrk.format("GET", path, headers)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCHJSON {"requests": %%d, "duration_us": %%d, "p50": %%d, "p95": %%d, '
    .. '"p99": %%d, "errors": %%d}\n', summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(95), latency:percentile(99), e.connect + e.read + e.write + e.status + e.timeout))
end
"""


def _lua_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _headers(endpoint: Endpoint, world: World) -> dict[str, str]:
    headers = {"Accept-Language": "zh-Hans"}
    if endpoint.auth == "token":
        headers["Authorization"] = f"Bearer {world.token}"
    else:
        headers["Cookie"] = world.cookie
    if endpoint.method == "POST":
        headers["Content-Type"] = "application/json"
    return headers


def check(base: str, endpoint: Endpoint, world: World) -> None:
    """One request by hand first: the load must measure answers, not redirects or refusals."""
    headers = _headers(endpoint, world)
    data = None
    if endpoint.method == "POST":
        data = json.dumps({"summary": "护照在火车站被盗", "category": "lost_documents", "country_code": "IT",
                           "persons": [{"name_latin": "CHECK FIRSTONE",
                                        "phone": "+39 333 999 0000"}]}).encode()
    request = urllib.request.Request(base + endpoint.paths[0], data=data, headers=headers,  # noqa: S310
                                     method=endpoint.method)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    try:
        with urllib.request.build_opener(NoRedirect).open(request, timeout=60) as response:
            body = response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"{endpoint.name}: {exc.code} {exc.read()[:300]!r}") from None
    if status not in (200, 201):
        raise RuntimeError(f"{endpoint.name}: status {status}")
    if endpoint.name.startswith("search"):
        found = json.loads(body)
        if found["total"] != 1:
            raise RuntimeError(f"{endpoint.name}: found {found['total']} cases, expected the planted one")


def wrk(base: str, endpoint: Endpoint, world: World, clients: int, seconds: int) -> dict[str, float]:
    headers = _headers(endpoint, world)
    script = LUA % {"paths": ", ".join(_lua_string(p) for p in endpoint.paths),
                    "headers": ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}"
                                         for k, v in headers.items()),
                    "method": endpoint.method}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False, encoding="utf-8") as f:
        f.write(script)
    try:
        threads = 1 if clients == 1 else 2
        out = subprocess.run(  # noqa: S603
            ["wrk", "-t", str(threads), "-c", str(clients), "-d", f"{seconds}s", "--timeout", "30s",  # noqa: S607
             "-s", f.name, base + endpoint.paths[0]], capture_output=True, text=True, check=True,
            timeout=seconds + 120).stdout
    finally:
        os.unlink(f.name)
    line = next(x for x in out.splitlines() if x.startswith("BENCHJSON "))
    raw = json.loads(line.removeprefix("BENCHJSON "))
    return {"p50": raw["p50"] / 1000, "p95": raw["p95"] / 1000, "p99": raw["p99"] / 1000,
            "rps": raw["requests"] / (raw["duration_us"] / 1e6), "errors": raw["errors"]}


def stage(cases: int, timeline: int, seconds: int, workers: int, threads: int,
          only: Sequence[str]) -> tuple[World, dict[tuple[str, int], dict[str, float]]]:
    """One scale: generate, serve, load every endpoint at each client count."""
    from consular.app import create_app
    from consular.db import db

    results: dict[tuple[str, int], dict[str, float]] = {}
    with postgres_database("cases") as url, tempfile.TemporaryDirectory(prefix="consular-bench-") as folder:
        settings = _settings(url, Path(folder))
        app = create_app(settings)
        with app.app_context():
            db.create_all()
        print(f"cases: generating {cases:,} cases and {timeline:,} timeline entries…", flush=True)
        world = generate(app, url, cases, timeline)
        print(f"cases: generated in {world.seconds:.0f} s; serving with gunicorn", flush=True)
        with app.app_context():
            db.engine.dispose()
        with gunicorn(settings, workers, threads) as base:
            world.cookie = login_cookie(base)
            for endpoint in endpoints(world):
                if only and not any(o in endpoint.name for o in only):
                    continue
                check(base, endpoint, world)
                for clients in CLIENTS:
                    figures = wrk(base, endpoint, world, clients, seconds)
                    results[(endpoint.name, clients)] = figures
                    print(f"  {cases:>9,} {endpoint.name:<28} c={clients:<3} "
                          f"p50 {figures['p50']:8.1f} ms  "
                          f"p95 {figures['p95']:8.1f} ms  p99 {figures['p99']:8.1f} ms  "
                          f"{figures['rps']:7.1f} req/s  errors {figures['errors']:.0f}", flush=True)
    return world, results


def _scale(n: int) -> str:
    return f"{n / 1e6:g}M" if n >= 1_000_000 else f"{n / 1e3:g}k"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench cases", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10k vs 100k cases (1M timeline), 3 s per run")
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--timeline", type=int, default=10_000_000)
    parser.add_argument("--duration", type=int, default=15, help="seconds per endpoint and client count")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--only", nargs="*", default=[], help="endpoints whose name contains one of these")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("bench cases: wrk is not installed (Debian/Ubuntu: apt-get install -y wrk); skipped",
              file=sys.stderr)
        return 1
    if args.quick:
        args.cases, args.timeline, args.duration = 100_000, 1_000_000, 3
    small_timeline = args.timeline * BASELINE_CASES // args.cases
    load = (args.duration, args.workers, args.threads, args.only)
    base_world, base = stage(BASELINE_CASES, small_timeline, *load)
    big_world, big = stage(args.cases, args.timeline, *load)
    small_label, big_label = _scale(BASELINE_CASES), _scale(args.cases)
    headers = ["endpoint", "clients"] + [f"{s} {m}" for s in (small_label, big_label)
                                         for m in ("p50 ms", "p95 ms", "p99 ms", "req/s")] + \
        [f"p95 {big_label}/{small_label}", "errors"]
    rows: list[list[Any]] = []
    for (name, clients), small in base.items():
        large = big.get((name, clients))
        if large is None:
            continue
        rows.append([name, clients, small["p50"], small["p95"], small["p99"], small["rps"],
                     large["p50"], large["p95"], large["p99"], large["rps"], large["p95"] / small["p95"],
                     int(small["errors"] + large["errors"])])
    notes = [
        f"Register: {small_label} cases ({base_world.timeline:,} timeline entries, generated in "
        f"{base_world.seconds:.0f} s) and {big_label} cases ({big_world.timeline:,} entries, "
        f"{big_world.seconds:.0f} s); the same open backlog ({OPEN_BACKLOG // 2:,} open cases) at both "
        f"scales; {POOL_PEOPLE:,} distinct people cycled through the persons. gunicorn {args.workers} "
        f"workers × {args.threads} threads; wrk {args.duration} s per row. Target: queue and search p95 ≤ "
        f"50 ms at 1 client and ≤ 1.5× the {small_label} figure.",
    ]
    print_table("cases", f"Case register under load ({small_label} vs {big_label} cases, PostgreSQL, "
                "gunicorn)",
                headers, rows, notes, extra={"cases": [BASELINE_CASES, args.cases],
                                             "timeline": [base_world.timeline, big_world.timeline],
                                             "duration": args.duration})
    return 0
