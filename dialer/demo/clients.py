"""The demo's clients: time zones where it is daytime now, and a client list in them.

The demo must dial at any hour of any day, so the zones are chosen from the moment it
starts: among zones one hour apart around the globe (Russia's first, then the rest of
the world), those where the local time is well inside the clients' 09:00-19:00 window
and the 08:00-21:00 legal window. With offsets from UTC-11 to UTC+14 there are always
several (the unit tests check every quarter hour of a year).
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

# A client's local time must lie in [EARLIEST, LATEST] for its zone to be chosen: the
# window (09:00-19:00 in config/demo.yaml) then stays open for hours.
EARLIEST = time(9, 30)
LATEST = time(15, 30)
PREFERRED = time(11, 0)

# (zone, city as the client list shows it). Russia first: the center is Russian.
ZONES: tuple[tuple[str, str], ...] = (
    ("Europe/Kaliningrad", "Калининград"),
    ("Europe/Moscow", "Москва"),
    ("Europe/Samara", "Самара"),
    ("Asia/Yekaterinburg", "Екатеринбург"),
    ("Asia/Omsk", "Омск"),
    ("Asia/Krasnoyarsk", "Красноярск"),
    ("Asia/Irkutsk", "Иркутск"),
    ("Asia/Yakutsk", "Якутск"),
    ("Asia/Vladivostok", "Владивосток"),
    ("Asia/Magadan", "Магадан"),
    ("Asia/Kamchatka", "Петропавловск-Камчатский"),
    # The rest of the world, for the hours when all of Russia is asleep.
    ("Pacific/Auckland", "Окленд"),
    ("Pacific/Tongatapu", "Нукуалофа"),
    ("Pacific/Kiritimati", "Киритимати"),
    ("Atlantic/Azores", "Понта-Делгада"),
    ("Europe/London", "Лондон"),
    ("America/Noronha", "Фернанду-ди-Норонья"),
    ("America/Sao_Paulo", "Сан-Паулу"),
    ("America/Halifax", "Галифакс"),
    ("America/New_York", "Нью-Йорк"),
    ("America/Chicago", "Чикаго"),
    ("America/Denver", "Денвер"),
    ("America/Los_Angeles", "Лос-Анджелес"),
    ("America/Anchorage", "Анкоридж"),
    ("Pacific/Honolulu", "Гонолулу"),
    ("Pacific/Pago_Pago", "Паго-Паго"),
)
RUSSIAN = 11  # the first RUSSIAN entries of ZONES are Russia's


@dataclass(frozen=True)
class DemoZone:
    zone: str
    city: str
    local: datetime  # the local time when chosen


def _minutes(t: time) -> int:
    return t.hour * 60 + t.minute


def daytime_zones(now: datetime, count: int = 3) -> list[DemoZone]:
    """Up to `count` zones where it is daytime at `now`: Russian ones first, then those
    closest to late morning. Never empty (see the module note)."""
    found: list[tuple[int, int, DemoZone]] = []
    for order, (zone, city) in enumerate(ZONES):
        local = now.astimezone(ZoneInfo(zone))
        minute = local.hour * 60 + local.minute
        if _minutes(EARLIEST) <= minute <= _minutes(LATEST):
            found.append((0 if order < RUSSIAN else 1, abs(minute - _minutes(PREFERRED)), DemoZone(zone, city, local)))
    found.sort(key=lambda item: (item[0], item[1]))
    zones = [z for _, _, z in found[:count]]
    if not zones:
        raise RuntimeError(f"no demo zone has daytime at {now.isoformat()}")  # the unit test rules this out
    return zones


_MALE = ("Иванов", "Смирнов", "Кузнецов", "Попов", "Васильев", "Соколов", "Михайлов", "Новиков", "Фёдоров", "Морозов")
_FEMALE = tuple(s + "а" for s in _MALE)
_MALE_FIRST = ("Алексей", "Андрей", "Дмитрий", "Сергей", "Олег", "Роман", "Игорь", "Павел")
_FEMALE_FIRST = ("Анна", "Елена", "Ольга", "Мария", "Татьяна", "Наталья", "Ирина", "Екатерина")
_PATRONYMIC = ("Александров", "Николаев", "Петров", "Викторов", "Сергеев", "Юрьев")
_COMPANIES = ("Вектор", "Приморье Агро", "Кама Мебель", "СтройИнвест", "Северный Ветер", "Техносфера", "Уралсталь")
_FORMS = ("ООО", "АО", "ИП")
_SEGMENTS = ("малый бизнес", "средний бизнес", "частное лицо", "госсектор")

HEADER = ("id", "name", "phone", "timezone", "schedule", "stage", "complaint", "company", "city", "segment")
# How many clients of each stage the demo calls (complaints: customers with an open one).
STAGES = (("prospect", 40), ("hot", 20), ("customer", 12))
COMPLAINTS = 4


def _person(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return f"{rng.choice(_MALE)} {rng.choice(_MALE_FIRST)} {rng.choice(_PATRONYMIC)}ич"
    return f"{rng.choice(_FEMALE)} {rng.choice(_FEMALE_FIRST)} {rng.choice(_PATRONYMIC)}на"


def client_rows(zones: list[DemoZone], seed: int = 12) -> list[dict[str, str]]:
    """The demo's client list: every client due now, in one of `zones`."""
    rng = random.Random(seed)
    rows: list[dict[str, str]] = []
    phones: set[str] = set()
    for stage, count in STAGES:
        for i in range(count):
            zone = zones[len(rows) % len(zones)]
            phone = ""
            while not phone or phone in phones:
                phone = f"+7 9{rng.randint(10, 99)} 555-{rng.randint(10, 99)}-{rng.randint(10, 99)}"
            phones.add(phone)
            company = "" if rng.random() < 0.3 else f"{rng.choice(_FORMS)} «{rng.choice(_COMPANIES)}»"
            rows.append(
                {
                    "id": f"D{len(rows) + 1:03d}",
                    "name": _person(rng),
                    "phone": phone,
                    "timezone": zone.zone,
                    "schedule": "demo",
                    "stage": stage,
                    "complaint": "1" if stage == "customer" and i < COMPLAINTS else "",
                    "company": company,
                    "city": zone.city,
                    "segment": "частное лицо" if not company else rng.choice(_SEGMENTS[:2] + _SEGMENTS[3:]),
                }
            )
    return rows


def write_clients(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=HEADER)
        writer.writeheader()
        writer.writerows(rows)


__all__ = ["DemoZone", "client_rows", "daytime_zones", "write_clients"]
