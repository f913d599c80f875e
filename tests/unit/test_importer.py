"""Client import: parsing and validation of rows, and the file-level import into a sink."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import phonenumbers
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from dialer.config.loader import load_config
from dialer.config.models import DialerConfig
from dialer.domain import ClientRecord, Stage
from dialer.importer import (
    ZONE_OVERRIDES,
    ImportFileError,
    RowError,
    import_clients,
    parse_row,
    rejected_path_for,
)
from dialer.importer.rows import parser_for
from dialer.importer.zones import countries_of_zones
from tests.support.importing import BAD_CLIENTS, FakeSink
from tests.support.paths import EXAMPLE_CLIENTS, EXAMPLE_CONFIG

CONFIG = load_config(EXAMPLE_CONFIG)
EXAMPLE = EXAMPLE_CLIENTS
BAD = BAD_CLIENTS
CENTER_ZONE = CONFIG.center.timezone  # Europe/Samara: no schedule/campaign zone in the example


def row(**cells: str) -> dict[str, str]:
    base = {"id": "c1", "name": "Иванов Иван", "phone": "+7 912 345 67 89"}
    base.update(cells)
    return base


def parse(config: DialerConfig = CONFIG, **cells: str) -> ClientRecord:
    return parse_row(row(**cells), 2, config)


def reason(**cells: str) -> str:
    with pytest.raises(RowError) as info:
        parse_row(row(**cells), 2, CONFIG)
    return info.value.reason


def write(tmp_path: Path, text: str, name: str = "clients.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def balanced(summary) -> bool:  # type: ignore[no-untyped-def]
    return summary.rows == summary.imported + summary.updated + summary.rejected


# ---------------------------------------------------------------- phones


@pytest.mark.parametrize(
    "raw",
    [
        "8 (912) 345-67-89",
        "+7 912 345 67 89",
        "+7(912)345-67-89",
        "89123456789",
        "79123456789",
        "9123456789",
        "8-912-345-67-89",
        " +7 912 345-67-89 ",
        "8 912 345 67 89",
        "+7 (912) 345.67.89",
    ],
)
def test_phone_normalized_to_e164(raw: str) -> None:
    assert parse(phone=raw).phone == "+79123456789"


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("8 (4012) 55-66-77", "+74012556677"),
        ("8 (495) 555-01-01", "+74955550101"),
        ("8 800 555-35-35", "+78005553535"),  # toll-free: valid, national prefix 8 stripped
        ("+44 20 7946 0958", "+442079460958"),
        ("+7 701 555 12 34", "+77015551234"),  # Kazakhstan shares +7
    ],
)
def test_other_numbers(raw: str, e164: str) -> None:
    assert parse(phone=raw).phone == e164


def test_invalid_phones_name_the_column_and_region() -> None:
    assert reason(phone="123") == "phone: '123' is not a valid number for region RU"
    assert reason(phone="+7 123 456 78 90") == "phone: '+7 123 456 78 90' is not a valid phone number"
    assert reason(phone="звонить вечером").startswith("phone: 'звонить вечером' is not a phone number")
    assert reason(phone="") == "phone: empty"
    assert "scientific notation" in reason(phone="7,91235E+10")


def test_country_from_number_column_or_center() -> None:
    assert parse(phone="+7 912 345 67 89").country == "RU"
    assert parse(phone="+7 701 555 12 34").country == "KZ"
    assert parse(phone="+44 20 7946 0958").country == "GB"
    assert parse(country="kz").country == "KZ"
    assert "country: 'XX'" in reason(country="XX")


_digits = st.text(alphabet="0123456789", min_size=10, max_size=10)


@settings(max_examples=400, deadline=None)
@given(national=_digits, prefix=st.sampled_from(["+7", "8", "7", "", "+7 ", "8 (", "+8", "810"]))
def test_russian_shortcut_agrees_with_phonenumbers(national: str, prefix: str) -> None:
    """The fast path for +7/8/7 + 10 digits gives exactly what parse + is_valid_number give."""
    raw = prefix + national
    parser = parser_for(CONFIG)
    errors: list[str] = []
    number, _, e164, _ = parser.phones.read(raw, errors)
    try:
        reference = phonenumbers.parse(raw, "RU")
        valid = phonenumbers.is_valid_number(reference)
    except phonenumbers.NumberParseException:
        valid = False
    if valid:
        assert number is not None and not errors
        assert e164 == phonenumbers.format_number(reference, phonenumbers.PhoneNumberFormat.E164)
    else:
        assert number is None and len(errors) == 1


def test_russian_shortcut_is_active() -> None:
    """The shortcut checks itself against phonenumbers and switches off on any disagreement;
    this fails when a phonenumbers upgrade switched it off (imports get ~2x slower)."""
    assert parser_for(CONFIG).phones.shortcut is not None


def test_number_type_unknown_iff_invalid() -> None:
    """The importer uses number_type(...) != UNKNOWN as the validity test."""
    samples = ["+79123456789", "+74012556677", "+71234567890", "+78005553535", "+77015551234", "+442079460958"]
    samples += ["+7930008604" + d for d in "0123456789"]
    for s in samples:
        n = phonenumbers.parse(s)
        assert (phonenumbers.number_type(n) != phonenumbers.PhoneNumberType.UNKNOWN) == phonenumbers.is_valid_number(n)


# ---------------------------------------------------------------- time zones


@pytest.mark.parametrize(
    ("phone", "zone"),
    [
        ("8 (4012) 55-66-77", "Europe/Kaliningrad"),  # phonenumbers says Europe/Bucharest: corrected
        ("+7 4152 55-50-10", "Asia/Kamchatka"),
        ("8 (3812) 55-50-10", "Asia/Omsk"),
        ("8 (3952) 55-50-10", "Asia/Irkutsk"),
        ("8 (4132) 55-50-10", "Asia/Magadan"),
        ("8 (8452) 55-50-10", "Europe/Saratov"),  # phonenumbers says Moscow; Saratov is UTC+4
        ("8 (495) 555-01-01", "Europe/Moscow"),
        ("+44 20 7946 0958", "Europe/London"),
    ],
)
def test_zone_inferred_from_landline(phone: str, zone: str) -> None:
    assert parse(phone=phone).timezone == zone


def reference_zone(e164: str) -> str | None:
    """Zone inference spelled out without the importer's caches."""
    n = phonenumbers.parse(e164)
    ntype = phonenumbers.number_type(n)
    if phonenumbers.is_number_type_geographical(ntype, n.country_code or 0):
        for prefix, zone in ZONE_OVERRIDES.items():
            if e164.startswith(prefix):
                return zone
    zones = phonenumbers.timezone.time_zones_for_number(n)
    if len(zones) != 1 or zones[0] == "Etc/Unknown":
        return None
    region = phonenumbers.region_code_for_number(n)
    countries = countries_of_zones().get(zones[0])
    return None if countries and region not in countries else zones[0]


@settings(max_examples=150, deadline=None)
@given(
    code=st.sampled_from(["+74012", "+73412", "+78452", "+7495", "+74152", "+73812", "+74242", "+78442", "+7391",
                          "+7912", "+7800", "+7701", "+7727", "+44207", "+4420", "+1212", "+4930", "+33"]),
    rest=st.text(alphabet="0123456789", min_size=6, max_size=9),
)  # fmt: skip
def test_inferred_zone_cache_agrees_with_phonenumbers(code: str, rest: str) -> None:
    e164 = code + rest
    number = phonenumbers.parse(e164)
    assume(phonenumbers.is_valid_number(number))
    assert parse(phone=e164).timezone == (reference_zone(e164) or CENTER_ZONE)


def test_zone_column_wins_and_is_validated() -> None:
    assert parse(phone="8 (4012) 55-66-77", timezone="Asia/Yakutsk").timezone == "Asia/Yakutsk"
    assert parse(timezone="asia/kamchatka").timezone == "Asia/Kamchatka"
    assert reason(timezone="Mars/Olympus") == (
        "timezone: unknown time zone 'Mars/Olympus' (use an IANA name such as Asia/Kamchatka)"
    )


def test_mobile_zone_defaults_schedule_then_campaign_then_center() -> None:
    # A Russian mobile number spans eleven zones: never inferred.
    assert parse(phone="+7 914 555 01 01").timezone == CENTER_ZONE
    schedules = dict(CONFIG.schedules)
    schedules["shop"] = schedules["shop"].model_copy(update={"timezone": "Asia/Omsk"})
    campaigns = [c.model_copy(update={"timezone": "Asia/Irkutsk"}) if c.name == "warm" else c for c in CONFIG.campaigns]
    config = CONFIG.model_copy(update={"schedules": schedules, "campaigns": campaigns})
    assert parse(config, schedule="shop").timezone == "Asia/Omsk"
    assert parse(config, schedule="shop", stage="hot").timezone == "Asia/Omsk"
    assert parse(config, stage="hot").timezone == "Asia/Irkutsk"  # warm works hot clients
    assert parse(config, campaign="warm").timezone == "Asia/Irkutsk"  # pinned
    assert parse(config, stage="customer").timezone == CENTER_ZONE
    # ...and a landline still wins over the defaults.
    assert parse(config, schedule="shop", phone="+7 4152 55-50-10").timezone == "Asia/Kamchatka"


# ---------------------------------------------------------------- other cells


@pytest.mark.parametrize(
    ("cell", "value"),
    [("1", True), ("0", False), ("true", True), ("False", False), ("YES", True), ("no", False), ("y", True),
     ("n", False), ("да", True), ("Нет", False), (" 1 ", True), ("", None), ("  ", None)],
)  # fmt: skip
def test_booleans(cell: str, value: bool | None) -> None:
    r = parse(complaint=cell, do_not_call=cell)
    assert r.complaint is value and r.do_not_call is value


def test_bad_values_name_their_column() -> None:
    assert reason(complaint="maybe").startswith("complaint: expected 1/0")
    assert reason(do_not_call="2").startswith("do_not_call: expected 1/0")
    assert reason(stage="lead").startswith("stage: unknown stage 'lead'")
    assert "do_not_call column" in reason(stage="dnc")
    assert reason(schedule="dacha") == "schedule: unknown schedule 'dacha' (defined: office, shop, home)"
    assert reason(campaign="x") == "campaign: unknown campaign 'x' (defined: cold, warm, care)"
    assert reason(id=" ") == "id: empty"
    assert reason(name="") == "name: empty"
    assert reason(next_contact="завтра").startswith("next_contact: expected a date")


def test_every_problem_of_a_row_is_reported_at_once() -> None:
    text = reason(name="", phone="1", timezone="X/Y", stage="lead")
    for column in ("name:", "phone:", "timezone:", "stage:"):
        assert column in text


def test_stage_schedule_campaign() -> None:
    r = parse(stage="HOT", schedule="Office", campaign="care")
    assert (r.stage, r.schedule, r.campaign) == (Stage.HOT, "office", "care")
    r = parse()
    assert (r.stage, r.schedule, r.campaign, r.next_contact, r.complaint, r.do_not_call) == (None,) * 6


def test_next_contact_forms() -> None:
    kamchatka = "+7 4152 55-50-10"  # UTC+12
    # A date: local midnight in the client's zone.
    assert parse(phone=kamchatka, next_contact="2026-12-01").next_contact == datetime(2026, 11, 30, 12, tzinfo=UTC)
    assert parse(phone=kamchatka, next_contact="01.12.2026").next_contact == datetime(2026, 11, 30, 12, tzinfo=UTC)
    # A naive date-time: the client's wall clock.
    assert parse(phone=kamchatka, next_contact="2026-12-01T10:00").next_contact == datetime(
        2026, 11, 30, 22, tzinfo=UTC
    )
    assert parse(timezone="Europe/Moscow", next_contact="2026-12-01 10:00").next_contact == datetime(
        2026, 12, 1, 7, tzinfo=UTC
    )
    # With an offset: that instant.
    assert parse(phone=kamchatka, next_contact="2026-12-01T10:00:00+03:00").next_contact == datetime(
        2026, 12, 1, 7, tzinfo=UTC
    )
    assert parse(next_contact="2026-12-01T07:00Z").next_contact == datetime(2026, 12, 1, 7, tzinfo=UTC)
    assert reason(next_contact="2026-13-01").startswith("next_contact:")
    assert "out of range" in reason(timezone="Asia/Kamchatka", next_contact="0001-01-01")
    # Many CRMs write 9999-12-31 for "never": a row with a reason, not a traceback later.
    assert "out of range" in reason(timezone="Asia/Kamchatka", next_contact="9999-12-31")
    assert "out of range" in reason(timezone="Europe/Kaliningrad", next_contact="31.12.9999")


_ZONES = ["Europe/Kaliningrad", "Europe/Moscow", "Asia/Novosibirsk", "Asia/Kamchatka", "America/Adak"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    moment=st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    zone=st.sampled_from(_ZONES),
    form=st.sampled_from(["date", "dotted", "naive", "offset"]),
)
def test_any_next_contact_is_either_rejected_or_placeable(moment: datetime, zone: str, form: str) -> None:
    """Whatever date a CRM writes, the row is rejected with a reason or it yields an
    instant from which the calendar's look-ahead and the longest configurable period
    can be computed (a date near year 9999 once crashed the whole import)."""
    from datetime import timedelta

    from dialer import calendar
    from dialer.domain import MAX_PERIOD_DAYS

    cell = {
        "date": moment.date().isoformat(),
        "dotted": moment.strftime("%d.%m.") + f"{moment.year:04d}",
        "naive": moment.replace(microsecond=0).isoformat(),
        "offset": moment.replace(microsecond=0).isoformat() + "+14:00",
    }[form]
    try:
        record = parse(timezone=zone, next_contact=cell)
    except RowError as exc:
        assert exc.reason.startswith("next_contact:") and "out of range" in exc.reason
        assert not 1000 <= moment.year <= 8999
        return
    assert record.next_contact is not None and 1000 <= moment.year <= 8999
    rules = calendar.rules_for(CONFIG, CONFIG.campaigns[0], zone, CONFIG.schedules["office"])
    calendar.next_open(rules, record.next_contact)
    calendar.status(rules, record.next_contact)
    record.next_contact + timedelta(days=MAX_PERIOD_DAYS) + calendar.DEFAULT_HORIZON


def test_extra_columns_become_attributes_and_headers_are_case_insensitive() -> None:
    cells = {" ID ": "c9", "Name": " Петров Пётр ", "PHONE": "89123456789"}
    cells |= {"Company": " ООО «Ромашка» ", "city": "", "Сегмент": "vip"}
    r = parse_row(cells, 5, CONFIG)
    assert (r.id, r.name, r.phone) == ("c9", "Петров Пётр", "+79123456789")
    assert r.attributes == {"company": "ООО «Ромашка»", "сегмент": "vip"}


_columns = st.sampled_from(
    ["id", "name", "phone", "timezone", "country", "schedule", "stage", "next_contact", "complaint",
     "do_not_call", "campaign", "Company", " City ", ""]
)  # fmt: skip
_cells = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["8 (912) 345-67-89", "+7 4152 55-50-10", "2026-12-01", "0001-01-01", "9999-12-31T23:59+14:00",
                     "Asia/Kamchatka", "hot", "office", "care", "да", "RU", "+", "8", "７９１２３４５６７８９"]),
    st.from_regex(r"\+?[0-9 ()-]{0,20}", fullmatch=True),
)  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cells=st.dictionaries(_columns, _cells, max_size=14))
def test_junk_never_crashes(cells: dict[str, str]) -> None:
    try:
        r = parse_row(cells, 7, CONFIG)
    except RowError as exc:
        assert exc.reason and exc.line == 7
    else:
        assert isinstance(r, ClientRecord)
        assert r.id and r.name and r.phone.startswith("+") and r.timezone and len(r.country) == 2
        assert r.next_contact is None or r.next_contact.tzinfo is UTC


# ---------------------------------------------------------------- files


HEADER = "id;name;phone;timezone;schedule;stage;next_contact;complaint;do_not_call;company\n"


async def test_semicolon_bom_and_counts(tmp_path: Path) -> None:
    text = HEADER + (
        "a1;Иванов Иван;8 (912) 555-01-01;Asia/Omsk;office;hot;2026-12-01;;;ООО «Ромашка»\n"
        "a2;Петров Пётр;8 (4012) 55-50-10;;shop;customer;;1;0;\n"
        "a3;Сидоров Сидор;+7 914 555 02 02;;;;;;;ИП Сидоров\n"
    )
    path = write(tmp_path, text, encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    sink = FakeSink()
    s = await import_clients(CONFIG, path, sink, now=datetime(2026, 12, 2, tzinfo=UTC))
    assert (s.rows, s.imported, s.updated, s.rejected) == (3, 3, 0, 0)
    assert (s.tz_from_row, s.tz_inferred, s.tz_defaulted) == (1, 1, 1)
    assert s.rejected_path is None and s.next_contact_past == 1 and balanced(s)
    assert sink.clients["a1"].attributes == {"company": "ООО «Ромашка»"}
    assert sink.clients["a2"].timezone == "Europe/Kaliningrad"
    assert sink.clients["a2"].complaint is True and sink.clients["a2"].do_not_call is False
    assert sink.clients["a3"].timezone == CENTER_ZONE
    assert any("3 new" in line for line in s.lines())


async def test_comma_file_and_windows_1251(tmp_path: Path) -> None:
    text = 'ID, Name ,Phone,City\nb1,Кузнецова Анна,+7 912 555 03 03,Пермь\nb2,"Орлов, Олег",89125550404,\n'
    for encoding in ("utf-8", "cp1251"):
        sink = FakeSink()
        s = await import_clients(CONFIG, write(tmp_path, text, encoding=encoding), sink)
        assert (s.imported, s.rejected) == (2, 0)
        assert sink.clients["b1"].attributes == {"city": "Пермь"}
        assert sink.clients["b2"].name == "Орлов, Олег" and sink.clients["b2"].attributes == {}


async def test_bad_rows_land_in_the_rejected_file(tmp_path: Path) -> None:
    path = tmp_path / "clients_bad.csv"
    path.write_bytes(BAD.read_bytes())
    sink = FakeSink()
    s = await import_clients(CONFIG, path, sink)
    assert balanced(s)
    assert set(sink.clients) == {"G1", "G2", "G3"}
    assert sink.clients["G1"].phone == "+79125550101"  # the first G1, not the later duplicate
    assert sink.clients["G3"].attributes == {"city": "Москва"}  # after a row with too many cells
    assert sink.clients["G3"].do_not_call is False and sink.clients["G3"].campaign == "care"
    assert s.rejected_path == tmp_path / "clients_bad.rejected.csv"
    with open(s.rejected_path, encoding="utf-8-sig", newline="") as f:
        rejected = list(csv.DictReader(f))
    assert len(rejected) == s.rejected == 12
    original = BAD.read_text(encoding="utf-8").splitlines()
    header = original[0].split(",")
    assert list(rejected[0]) == [*header, "line", "reason"]
    by_id = {r["id"] or f"line {r['line']}": r for r in rejected}
    expect = {
        "B1": "phone: '123' is not a valid number for region RU",
        "B2": "timezone: unknown time zone 'Mars/Olympus'",
        "B3": "schedule: unknown schedule 'dacha'",
        "B4": "campaign: unknown campaign 'telemarketing'",
        "B5": "complaint: expected",
        "B6": "next_contact: expected a date",
        "B7": "name: empty",
        "B8": "stage: unknown stage 'dnc'",
        "B9": "scientific notation",
        "B10": "row has 12 cells but the header has 11",
        "B11": "do_not_call: expected",
    }
    for cid, text in expect.items():
        assert text in by_id[cid]["reason"], (cid, by_id[cid]["reason"])
    dup = [r for r in rejected if r["id"] == "G1"]
    assert dup[0]["reason"] == "duplicate id G1 (first seen on line 2)"
    # Line numbers point at the file's own lines, and the original cells are kept.
    for r in rejected:
        line = original[int(r["line"]) - 1]
        assert line.startswith(r["id"] + ","), (r["line"], line)
    assert by_id["B2"]["timezone"] == "Mars/Olympus" and by_id["B2"]["city"] == "Омск"
    assert s.blank == 2


async def test_reimport_updates_and_clears_stale_rejects(tmp_path: Path) -> None:
    good = "id,name,phone\nr1,Один,+7 912 555 01 01\nr2,Два,+7 912 555 02 02\n"
    path = write(tmp_path, good + "r3,Три,000\n")
    sink = FakeSink()
    first = await import_clients(CONFIG, path, sink)
    assert (first.imported, first.updated, first.rejected) == (2, 0, 1)
    assert first.rejected_path is not None and first.rejected_path.exists()
    write(tmp_path, good + "r3,Три,+7 912 555 03 03\n")
    second = await import_clients(CONFIG, path, sink)
    assert (second.rows, second.imported, second.updated, second.rejected) == (3, 1, 2, 0)
    assert balanced(second) and len(sink.clients) == 3
    assert second.rejected_path is None and not rejected_path_for(path).exists()


async def test_rejected_file_can_be_fixed_and_imported(tmp_path: Path) -> None:
    path = write(tmp_path, "id;name;phone;city\nx1;Один;12;Тула\n")
    s = await import_clients(CONFIG, path, FakeSink())
    assert s.rejected_path is not None
    fixed = s.rejected_path.read_text(encoding="utf-8-sig").replace(";12;", ";+7 912 555 01 01;")
    again = write(tmp_path, fixed, name="fixed.csv")
    sink = FakeSink()
    s2 = await import_clients(CONFIG, again, sink)
    assert (s2.imported, s2.rejected) == (1, 0)
    assert sink.clients["x1"].attributes == {"city": "Тула"}  # line/reason are not attributes


async def test_missing_required_column_imports_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, "id;name;telephone\n1;Иван;+79123456789\n")
    sink = FakeSink()
    with pytest.raises(ImportFileError) as info:
        await import_clients(CONFIG, path, sink)
    message = str(info.value)
    assert str(path) in message and "missing required column phone" in message
    assert sink.clients == {} and not rejected_path_for(path).exists()
    with pytest.raises(ImportFileError, match="appears twice"):
        await import_clients(CONFIG, write(tmp_path, "id,name,phone,Phone\n"), sink)
    with pytest.raises(ImportFileError, match="no header"):
        await import_clients(CONFIG, write(tmp_path, ""), sink)
    with pytest.raises(ImportFileError, match="cannot open"):
        await import_clients(CONFIG, tmp_path / "nope.csv", sink)


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
async def test_excel_unicode_text_is_named_not_taken_for_missing_columns(tmp_path: Path, codec: str) -> None:
    # Excel's "Unicode Text" is UTF-16 with a BOM, tab-separated: it once read as cp1251
    # mojibake and was refused for "missing required columns id, name, phone".
    import codecs

    bom = codecs.BOM_UTF16_LE if codec.endswith("le") else codecs.BOM_UTF16_BE
    path = tmp_path / "unicode.txt"
    path.write_bytes(bom + "id\tname\tphone\n1\tИван\t+79123456789\n".encode(codec))
    sink = FakeSink()
    with pytest.raises(ImportFileError) as info:
        await import_clients(CONFIG, path, sink)
    message = str(info.value)
    assert message.startswith(f"{path}: UTF-16 text") and "CSV UTF-8" in message and "missing" not in message
    assert sink.clients == {} and not rejected_path_for(path).exists()


async def test_batches_progress_and_sink_contract(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = "".join(f"p{i},Клиент {i},+7 912 555 {i // 100:02d} {i % 100:02d}\n" for i in range(1050))
    path = write(tmp_path, "id,name,phone\n" + lines)
    sink = FakeSink()
    s = await import_clients(CONFIG, path, sink, batch_size=400, progress=True)
    assert sink.batches == [400, 400, 250] and s.imported == 1050
    assert list(sink.clients)[:3] == ["p0", "p1", "p2"]
    assert "clients.csv" in capsys.readouterr().err

    class Lossy(FakeSink):
        async def upsert_clients(self, records: Sequence[ClientRecord]) -> tuple[int, int]:
            return 0, 0

    with pytest.raises(RuntimeError, match="lost"):
        await import_clients(CONFIG, path, Lossy())


async def test_example_clients_file() -> None:
    sink = FakeSink()
    s = await import_clients(CONFIG, EXAMPLE, sink, now=datetime(2026, 12, 1, tzinfo=UTC))
    assert s.rejected == 0 and s.rejected_path is None and balanced(s)
    assert 100 <= s.imported <= 150
    assert s.tz_from_row and s.tz_inferred and s.tz_defaulted
    clients = list(sink.clients.values())
    zones = {c.timezone for c in clients}
    for zone in ("Europe/Kaliningrad", "Europe/Moscow", "Europe/Samara", "Asia/Yekaterinburg", "Asia/Omsk",
                 "Asia/Novosibirsk", "Asia/Krasnoyarsk", "Asia/Irkutsk", "Asia/Yakutsk", "Asia/Vladivostok",
                 "Asia/Magadan", "Asia/Kamchatka"):  # fmt: skip
        assert zone in zones, zone
    stages = [c.stage for c in clients]
    assert 10 <= stages.count(Stage.HOT) <= 20 and 20 <= stages.count(Stage.CUSTOMER) <= 30
    assert sum(bool(c.complaint) for c in clients) >= 3
    assert 2 <= sum(bool(c.do_not_call) for c in clients) <= 3
    assert {c.schedule for c in clients} >= {"office", "shop", "home"}
    last = datetime(2026, 12, 2, tzinfo=UTC)
    assert all(c.next_contact is None or c.next_contact < last for c in clients)
    assert all({"company", "city", "segment"} >= set(c.attributes) for c in clients)
    assert all(phonenumbers.is_valid_number(phonenumbers.parse(c.phone)) for c in clients)
