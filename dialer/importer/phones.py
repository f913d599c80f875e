"""Phone cells -> valid numbers in E.164, or the reason they are not one.

Most numbers of a Russian call center take `RussianShortcut`, an exact and much faster
equivalent of phonenumbers for them; everything else goes through phonenumbers.
"""

from __future__ import annotations

import re
from typing import Any

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from dialer.importer.messages import clip

# Punctuation people put into phone numbers; removing it before phonenumbers.parse gives
# the same result and saves ~25% of the parse time (the library normalises character by
# character).
_PHONE_PUNCT = str.maketrans("", "", " ()-.\u00a0\u2009\u202f\u2010\u2011\u2012\u2013\u2014\t")
_PLAIN_PHONE = re.compile(r"\+?[0-9]{1,30}")
# Shapes of Russian numbers the shortcut takes (see RussianShortcut).
_RU_SHAPE = re.compile(r"(?:\+7|[78])?([3-9][0-9]{9})")
_PLUS7_SHAPE = re.compile(r"\+7([3-9][0-9]{9})")
_EXCEL_SCIENTIFIC = re.compile(r"\d[.,]\d+E\+\d+", re.IGNORECASE)
_EXCEL_HINT = "phone: {raw} was shortened by Excel to scientific notation; format the column as text and export again"


class RussianShortcut:
    """A faster, equivalent path for the common case: Russian numbers.

    phonenumbers.parse() + number_type() cost ~27 us of a ~35 us row, mostly generic
    machinery. For ``+7`` + 10 digits, and with default region RU also ``8``/``7`` + 10
    digits or the 10 digits alone, where the 10 digits start with 3, 4, 8 or 9, parse()
    yields country code 7 with exactly those digits whenever they form a valid Russian
    number (RU metadata: national prefix 8, international prefix 810, every valid national
    number has 10 digits, region RU for leading digits [3489]). The shortcut builds that
    number directly and classifies it with the RU metadata's own patterns, in the order
    phonenumbers' number_type() tries them; it answers only for valid numbers, everything
    else goes through phonenumbers.

    `build` checks every assumption against the installed phonenumbers (parse() and
    number_type() on a spread of numbers) and returns None, i.e. no shortcut, if any fails.
    """

    def __init__(self, shape: re.Pattern[str], metadata: Any):
        self.shape = shape
        self.leading = re.compile(metadata.leading_digits)

        def desc(d: Any) -> tuple[re.Pattern[str], frozenset[int]] | None:
            if d is None or not d.national_number_pattern:
                return None
            return re.compile(d.national_number_pattern), frozenset(d.possible_length or ())

        self.general = desc(metadata.general_desc)
        T = PhoneNumberType
        special = [
            (T.PREMIUM_RATE, metadata.premium_rate),
            (T.TOLL_FREE, metadata.toll_free),
            (T.SHARED_COST, metadata.shared_cost),
            (T.VOIP, metadata.voip),
            (T.PERSONAL_NUMBER, metadata.personal_number),
            (T.PAGER, metadata.pager),
            (T.UAN, metadata.uan),
            (T.VOICEMAIL, metadata.voicemail),
        ]
        self.special = [(t, d) for t, raw in special if (d := desc(raw)) is not None]
        self.fixed = desc(metadata.fixed_line)
        self.mobile = desc(metadata.mobile)
        self.same_fixed_mobile = bool(metadata.same_mobile_and_fixed_line_pattern)

    @staticmethod
    def _matches(desc: tuple[re.Pattern[str], frozenset[int]] | None, nsn: str) -> bool:
        if desc is None:
            return False
        pattern, lengths = desc
        return (not lengths or len(nsn) in lengths) and pattern.fullmatch(nsn) is not None

    def number_type(self, nsn: str) -> int:
        T = PhoneNumberType
        matches = self._matches
        if not matches(self.general, nsn):
            return T.UNKNOWN
        for t, desc in self.special:
            if matches(desc, nsn):
                return t
        if matches(self.fixed, nsn):
            if self.same_fixed_mobile or matches(self.mobile, nsn):
                return T.FIXED_LINE_OR_MOBILE
            return T.FIXED_LINE
        if not self.same_fixed_mobile and matches(self.mobile, nsn):
            return T.MOBILE
        return T.UNKNOWN

    def match(self, cleaned: str) -> tuple[phonenumbers.PhoneNumber, int, str, str] | None:
        m = self.shape.fullmatch(cleaned)
        if m is None:
            return None
        nsn = m.group(1)
        if self.leading.match(nsn) is None:
            return None
        ntype = self.number_type(nsn)
        if ntype == PhoneNumberType.UNKNOWN:
            return None
        return phonenumbers.PhoneNumber(country_code=7, national_number=int(nsn)), ntype, "+7" + nsn, "RU"

    @classmethod
    def build(cls, default_region: str) -> RussianShortcut | None:
        try:
            metadata = phonenumbers.PhoneMetadata.metadata_for_region("RU")
            if metadata is None or metadata.country_code != 7 or not metadata.leading_digits:
                return None
            if phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(7, ())[:1] != ("RU",):
                return None
            shape = _RU_SHAPE if default_region == "RU" else _PLUS7_SHAPE
            shortcut = cls(shape, metadata)
            return shortcut if shortcut._agrees(default_region) else None
        except Exception:  # pragma: no cover - an unexpected phonenumbers: go the long way
            return None

    def _agrees(self, default_region: str) -> bool:
        import random

        rng = random.Random(7)
        nationals = [
            "9123456789", "9501234567", "9991234567", "9300051234", "9301234567", "3412123456",
            "4012123456", "4152123456", "8123456789", "8005553535", "8452123456", "3362212345",
            "4951234567", "8612345678", "3022123456", "8800123456", "8091234567", "8101234567",
        ]  # fmt: skip
        nationals += [rng.choice("3489") + f"{rng.randrange(10**9):09d}" for _ in range(150)]
        prefixes = ("+7", "8", "7", "")
        for i, nsn in enumerate(nationals):
            reference = phonenumbers.PhoneNumber(country_code=7, national_number=int(nsn))
            ntype = phonenumbers.number_type(reference)
            if self.number_type(nsn) != ntype:
                return False
            if ntype == PhoneNumberType.UNKNOWN:
                continue
            if phonenumbers.region_code_for_number(reference) != "RU":
                return False
            for prefix in prefixes if i < 18 else prefixes[i % 4 : i % 4 + 1]:
                text = prefix + nsn
                hit = self.match(text)
                if hit is None:
                    continue
                try:
                    parsed = phonenumbers.parse(text, default_region)
                except phonenumbers.NumberParseException:
                    return False
                if parsed != hit[0] or phonenumbers.format_number(parsed, PhoneNumberFormat.E164) != hit[2]:
                    return False
        return True


class PhoneReader:
    """Reads phone cells for one default region (the center's)."""

    def __init__(self, region: str):
        self.region = region
        self.shortcut = RussianShortcut.build(region)

    def read(self, raw: str, errors: list[str]) -> tuple[phonenumbers.PhoneNumber | None, int, str, str | None]:
        """(number, its type, E.164, region or None if not yet known), or
        (None, UNKNOWN, "", None) with the reason in `errors`."""
        cleaned = raw.translate(_PHONE_PUNCT)
        shortcut = self.shortcut
        if shortcut is not None:
            hit = shortcut.match(cleaned)
            if hit is not None:
                return hit
            # Anything else, invalid ones included, goes to phonenumbers itself.
        text = cleaned if _PLAIN_PHONE.fullmatch(cleaned) else raw
        try:
            number = phonenumbers.parse(text, self.region)
        except phonenumbers.NumberParseException as exc:
            if _EXCEL_SCIENTIFIC.fullmatch(raw):
                errors.append(_EXCEL_HINT.format(raw=clip(raw)))
            else:
                errors.append(f"phone: {clip(raw)} is not a phone number ({_parse_problem(exc)})")
            return None, PhoneNumberType.UNKNOWN, "", None
        # number_type is UNKNOWN exactly when is_valid_number is false (both classify the
        # national number against the region's patterns); the type is needed anyway to
        # tell geographic numbers (landlines) from the rest, so it is computed once.
        ntype = phonenumbers.number_type(number)
        if ntype == PhoneNumberType.UNKNOWN:
            if _EXCEL_SCIENTIFIC.fullmatch(raw):
                errors.append(_EXCEL_HINT.format(raw=clip(raw)))
            elif text.startswith("+"):
                errors.append(f"phone: {clip(raw)} is not a valid phone number")
            else:
                errors.append(f"phone: {clip(raw)} is not a valid number for region {self.region}")
            return None, ntype, "", None
        return number, ntype, phonenumbers.format_number(number, PhoneNumberFormat.E164), None


def _parse_problem(exc: phonenumbers.NumberParseException) -> str:
    return {
        phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
        phonenumbers.NumberParseException.NOT_A_NUMBER: "no number in it",
        phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
        phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
        phonenumbers.NumberParseException.TOO_LONG: "too long",
    }.get(exc.error_type, str(exc))
