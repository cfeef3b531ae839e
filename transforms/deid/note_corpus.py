"""Labelled synthetic clinic notes with planted identifiers, to measure the notes scrubber."""

from __future__ import annotations

import base64
import datetime as dt
import html
import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from transforms.synth import people

from .dates import age_in_years
from .notes import PatientDictionary, decode_attachment, scrub_note

OWN = "own"
"""Label kind: one of the patient's own identifiers, present in the structured data."""
PATTERN = "pattern"
"""Label kind: an identifier the dictionary cannot know (a provider's phone, a URL, an IP)."""
DIGIT_CATEGORIES = frozenset({"PHONE", "SSN", "MRN", "ZIP", "ID"})
"""Categories whose digit sequence must not survive in any formatting."""
CONTENT_TYPES = ("text/plain", "text/html", "text/rtf")

_MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_TITLES = frozenset({"mr", "mrs", "ms", "dr", "jr", "sr", "iii", "md", "rn", "do", "np"})


@dataclass(frozen=True)
class Label:
    """One planted identifier.

    Attributes:
        category: NAME, MRN, PHONE, EMAIL, ADDRESS, CITY, ZIP, DOB, SSN, ID, URL, IP, AGE, DATE.
        kind: ``own`` (in the patient's structured data) or ``pattern``.
        start, end: span in ``LabelledNote.text`` (the raw document: HTML and RTF escapes
            included).
        value: the planted string as it reads once decoded.
        probes: strings none of which may survive (the value, and for names and street
            lines the words that identify on their own).
        digits: for digit-based categories, the digit sequence that may not survive.
    """

    category: str
    kind: str
    start: int
    end: int
    value: str
    probes: tuple[str, ...]
    digits: str | None


@dataclass(frozen=True)
class PlantedDate:
    """A full date (or a month and day) in the note, with its expected shifted form."""

    start: int
    end: int
    original: str
    shifted: str


@dataclass(frozen=True)
class Clinical:
    """Clinical content that must survive scrubbing unchanged (a dose, a lab value)."""

    start: int
    end: int
    value: str


@dataclass(frozen=True)
class LabelledNote:
    """A synthetic note with everything planted in it.

    Attributes:
        template: which kind of note (progress, telephone, referral, ...).
        content_type: text/plain, text/html or text/rtf (utf-8).
        patient: the FHIR Patient the note belongs to (builds the dictionary).
        offset_days: the patient's date shift the expected dates assume.
        text: the document as stored in the attachment.
        plain: the same note as plain text (what it reads once decoded).
        labels: planted identifiers.
        dates: planted full and yearless dates.
        clinical: strings that must survive.
    """

    template: str
    content_type: str
    patient: dict
    offset_days: int
    text: str
    plain: str
    labels: tuple[Label, ...]
    dates: tuple[PlantedDate, ...]
    clinical: tuple[Clinical, ...]

    @property
    def data_base64(self) -> str:
        """The attachment data as a FHIR DocumentReference carries it."""
        return base64.b64encode(self.text.encode("utf-8")).decode("ascii")


@dataclass(frozen=True)
class Evaluation:
    """Scrubber quality on a corpus (numbers only: no planted value is ever kept here).

    Attributes:
        own_recall, pattern_recall: fraction of labels caught, per category.
        own_overall, pattern_overall: fraction of all labels of that kind caught.
        clinical_retention: fraction of clinical strings found unchanged in the output.
        date_shift_accuracy: fraction of planted dates found in their expected shifted form
            and no longer in their original form (``_dates_shifted``).
        label_counts: number of labels per ``kind:CATEGORY``.
        notes: number of notes evaluated.
    """

    own_recall: dict[str, float]
    pattern_recall: dict[str, float]
    own_overall: float
    pattern_overall: float
    clinical_retention: float
    date_shift_accuracy: float
    label_counts: dict[str, int]
    notes: int


# ============================================================================ date writing


def _ordinal(day: int) -> str:
    return "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


# Written forms of full dates; the corpus computes every expected shifted form with these,
# independently of the scrubber's parser.
_FULL_STYLES: dict[str, Callable[[dt.date], str]] = {
    "iso": lambda d: d.isoformat(),
    "us": lambda d: f"{d.month:02d}/{d.day:02d}/{d.year}",
    "us_short": lambda d: f"{d.month}/{d.day}/{d.year}",
    "us_2y": lambda d: f"{d.month}/{d.day}/{d.year % 100:02d}",
    "long": lambda d: f"{_MONTHS[d.month - 1]} {d.day}, {d.year}",
    "abbr": lambda d: f"{_MONTHS[d.month - 1][:3]} {d.day}, {d.year}",
    "dmy": lambda d: f"{d.day} {_MONTHS[d.month - 1][:3]} {d.year}",
    "dmy_dash": lambda d: f"{d.day:02d}-{_MONTHS[d.month - 1][:3]}-{d.year}",
    "weekday": lambda d: f"{_WEEKDAYS[d.weekday()]}, {_MONTHS[d.month - 1]} {d.day}, {d.year}",
    "ordinal": lambda d: f"{_MONTHS[d.month - 1]} {d.day}{_ordinal(d.day)}, {d.year}",
}
_YEARLESS_STYLES: dict[str, Callable[[dt.date], str]] = {
    "md": lambda d: f"{d.month}/{d.day}",
    "month_day": lambda d: f"{_MONTHS[d.month - 1]} {d.day}",
    "day_month": lambda d: f"{d.day} {_MONTHS[d.month - 1]}",
}
# Writing that leaves the style open: "11/17/2021" does not show whether a later "5" is padded,
# and "May" is both a name and an abbreviation. Such dates are written in an unambiguous style.
_NEEDS_SMALL_NUMBER = frozenset({"us_short", "us_2y", "md"})
_ABBREVIATED = frozenset({"abbr", "dmy", "dmy_dash"})


def _style_for(date: dt.date, style: str) -> str:
    if style in _NEEDS_SMALL_NUMBER and date.month >= 10 and date.day >= 10:
        return "month_day" if style == "md" else "us"
    if style in _ABBREVIATED and date.month == 5:
        return "long"
    return style


# ============================================================================= note writing

_CLINICAL = (
    "Reports lightheadedness on standing and palpitations; {HR 112} standing vs {HR 74} supine.",
    "Taking {metoprolol 25 mg twice daily} and {fludrocortisone 0.1 mg daily}.",
    "Started {naltrexone 1.5 mg at bedtime}, titrating by {1.5 mg every 2 weeks} to "
    "{4.5 mg daily}.",
    "Vitals: {BP 118/76}, {HR 96}, {SpO2 98%}, {Temp 98.6 °F}, {weight 61.4 kg}.",
    "Labs: {Na 138}, {K 4.1}, {Hgb 13.2 g/dL}, {TSH 2.1 mIU/L}, {ferritin 18 ng/mL}, {A1c 5.4%}.",
    "{CK 12500 U/L} after exertion; {platelets 245000}; {creatinine 0.9 mg/dL}.",
    "Pain {3/10} today; strength {5/5} in all extremities.",
    "Tilt table test: {HR increase of ≥30 bpm} within {10 minutes}, no orthostatic hypotension.",
    "{COMPASS-31 score 42}, down from 51 at intake.",
    "Increase fluids to {2-3 L/day} and salt to {6-10 g/day}; compression {20-30 mmHg}.",
    "Continue {propranolol 10 mg} as needed, at most {3 times daily}.",
    "{Vitamin D 32 ng/mL}; {B12 420 pg/mL}; {glucose 98 mg/dL}.",
    "Midodrine {5 mg three times daily}; hold if supine {BP above 150/90}.",
    "ECG: {PR 160 ms}, {QRS 92 ms}, {QTc 410 ms}, sinus rhythm.",
    "Skin biopsy: epidermal nerve fiber density {4.1 fibers/mm}, below the 5th percentile.",
    "Ivabradine {5 mg twice daily} was tolerated; {LDL 112 mg/dL}.",
    "Diagnosis: postural orthostatic tachycardia syndrome ({ICD-10 G90.A}).",
)


@dataclass(frozen=True)
class _Piece:
    """A run of the note: text, heading, label, date or clinical."""

    kind: str
    value: str
    # labels: category, kind, probes, digits
    label: tuple[str, str, tuple[str, ...], str | None] | None = None
    shifted: str | None = None


def _name_probes(value: str) -> tuple[str, ...]:
    words = [
        word
        for word in re.findall(r"[A-Za-z][A-Za-z'\-]*", value)
        if sum(c.isalpha() for c in word) >= 3 and word.lower() not in _TITLES
    ]
    return (value, *words)


class _Writer:
    """Builds one note from pieces; every planted identifier, date and dose is a piece."""

    def __init__(self, rng: random.Random, person: people.Identity, offset: int, visit: dt.date):
        self.rng = rng
        self.person = person
        self.offset = offset
        self.visit = visit
        self.pieces: list[_Piece] = []
        self.last_full_date = visit
        # words other people's names and addresses must not share with the patient's
        identifying = " ".join(
            (person.given, person.family, person.maiden, person.city, person.line, person.county)
        )
        identifying += " " + person.birthplace[0]
        self._taken = {word.lower() for word in re.findall(r"[A-Za-z]+", identifying)}
        self._taken_digits = {re.sub(r"\D", "", person.phone), person.postal_code[:5]}

    # ------------------------------------------------------------------------ plain pieces

    def text(self, value: str) -> None:
        self.pieces.append(_Piece("text", value))

    def heading(self, value: str) -> None:
        self.pieces.append(_Piece("heading", value))

    def clinical(self, markup: str) -> None:
        """Text in which ``{...}`` marks clinical strings that must survive."""
        for index, part in enumerate(re.split(r"\{([^}]*)\}", markup)):
            if part:
                self.pieces.append(_Piece("clinical" if index % 2 else "text", part))

    def clinical_lines(self, count: int) -> None:
        for sentence in self.rng.sample(_CLINICAL, count):
            self.clinical(sentence + "\n")

    def plant(
        self,
        category: str,
        kind: str,
        value: str,
        probes: tuple[str, ...] | None = None,
    ) -> None:
        digits = re.sub(r"\D", "", value) if category in DIGIT_CATEGORIES else None
        if category == "PHONE":
            digits = re.sub(r"\D", "", re.split(r"(?i)\s*(?:x|ext)", value)[0])[-10:]
        self.pieces.append(_Piece("label", value, (category, kind, probes or (value,), digits)))

    # --------------------------------------------------------------------------------- dates

    def date(self, date: dt.date, style: str | None = None) -> None:
        style = _style_for(date, style or self.rng.choice(list(_FULL_STYLES)))
        write = _FULL_STYLES[style]
        shifted = write(date + dt.timedelta(days=self.offset))
        self.pieces.append(_Piece("date", write(date), shifted=shifted))
        self.last_full_date = date

    def yearless(self, days: int, style: str | None = None, lead: str = "on ") -> None:
        """A month and day near the last full date, in the same year (the scrubber takes the
        year from it); ``lead`` is the word a numeric month/day needs before it."""
        anchor = self.last_full_date
        date = anchor + dt.timedelta(days=days)
        if date.year != anchor.year:
            date = anchor - dt.timedelta(days=days)
        style = _style_for(date, style or self.rng.choice(list(_YEARLESS_STYLES)))
        write = _YEARLESS_STYLES[style]
        if style == "md":
            self.text(lead)
        self.pieces.append(
            _Piece("date", write(date), shifted=write(date + dt.timedelta(days=self.offset)))
        )

    def partial_date(self) -> None:
        date = self.visit - dt.timedelta(days=self.rng.randint(60, 900))
        month = _MONTHS[date.month - 1]
        value = self.rng.choice(
            (f"{month} {date.year}", f"{month[:3]} {date.year}", f"{date.month:02d}/{date.year}")
        )
        self.plant("DATE", PATTERN, value)

    # ------------------------------------------------------------- the patient's identifiers

    def own_name(self, style: str | None = None) -> None:
        p = self.person
        forms = {
            "full": f"{p.given} {p.family}",
            "reversed": f"{p.family}, {p.given}",
            "titled": f"{p.prefix} {p.family}",
            "titled_full": f"{p.prefix} {p.given} {p.family}",
            "upper": f"{p.given.upper()} {p.family.upper()}",
            "upper_reversed": f"{p.family.upper()}, {p.given.upper()}",
            "given": p.given,
            "family": p.family,
            "lower": f"{p.given.lower()} {p.family.lower()}",  # typed by the patient
            "initial": f"{p.given[0]}. {p.family}",
            "middle_initial": f"{p.given} {self.rng.choice('ABCDEJKLMRST')}. {p.family}",
        }
        if p.suffix:
            forms["suffixed"] = f"{p.given} {p.family} {p.suffix}"
        value = forms[style] if style else self.rng.choice(list(forms.values()))
        self.plant("NAME", OWN, value, _name_probes(value))

    def own_phone(self) -> None:
        area, exchange, line = self.person.phone.split("-")
        value = self.rng.choice(
            (
                f"{area}-{exchange}-{line}",
                f"({area}) {exchange}-{line}",
                f"{area}.{exchange}.{line}",
                f"{area}{exchange}{line}",
                f"+1 {area} {exchange} {line}",
                f"1-{area}-{exchange}-{line}",
                f"{area} {exchange} {line}",
                f"({area}){exchange}-{line}",
                f"{area}/{exchange}-{line}",
                f"{area} - {exchange} - {line}",
            )
        )
        self.plant("PHONE", OWN, value)

    def own_dob(self) -> None:
        d = self.person.birth_date
        value = self.rng.choice(
            (
                d.isoformat(),
                f"{d.month:02d}/{d.day:02d}/{d.year}",
                f"{d.month}/{d.day}/{d.year}",
                f"{_MONTHS[d.month - 1]} {d.day}, {d.year}",
                f"{d.day} {_MONTHS[d.month - 1][:3]} {d.year}",
                f"{_MONTHS[d.month - 1][:3]} {d.day}, {d.year}",
                f"{d.month:02d}-{d.day:02d}-{d.year}",
                f"{d.day}{_ordinal(d.day)} {_MONTHS[d.month - 1]} {d.year}",
                f"{_MONTHS[d.month - 1]} {d.day}{_ordinal(d.day)}, {d.year}",
                f"{d.month}/{d.day}/{d.year % 100:02d}",
                f"{d.day:02d}-{_MONTHS[d.month - 1][:3].upper()}-{d.year}",
            )
        )
        self.plant("DOB", OWN, value)

    def own_mrn(self) -> None:
        mrn = self.person.mrn
        value = self.rng.choice(
            (mrn, mrn, f"{mrn[:4]}-{mrn[4:]}", f"{mrn[:2]} {mrn[2:5]} {mrn[5:]}", f"MR-{mrn}")
        )
        self.plant("MRN", OWN, value)

    def own_email(self) -> None:
        email = self.person.email
        handle, domain = email.split("@")
        capitalised = ".".join(part.capitalize() for part in handle.split(".")) + "@" + domain
        self.plant("EMAIL", OWN, self.rng.choice((email, email, email.upper(), capitalised)))

    def own_street(self) -> None:
        line = self.person.line
        expanded = re.sub(r"\bSt\b", "Street", re.sub(r"\bAve\b", "Avenue", line))
        expanded = re.sub(r"\bApt\b", "Apartment", re.sub(r"\bRd\b", "Road", expanded))
        value = self.rng.choice((line, line, expanded, line.upper(), line.replace(" Apt ", ", #")))
        number, street = value.split()[:2]
        self.plant("ADDRESS", OWN, value, (value, f"{number} {street}"))

    def own_city(self) -> None:
        self.plant("CITY", OWN, self.person.city)

    def own_zip(self) -> None:
        self.plant(
            "ZIP", OWN, self.rng.choice((self.person.postal_code, self.person.postal_code[:5]))
        )

    def own_ssn(self) -> None:
        ssn = self.person.ssn
        value = self.rng.choice((ssn, ssn, ssn.replace("-", " "), ssn.replace("-", "")))
        self.text("SSN: ")
        self.plant("SSN", OWN, value)

    def own_address_block(self) -> None:
        self.own_street()
        self.text(", ")
        self.own_city()
        self.text(f", {self.person.state} ")
        self.own_zip()

    # ------------------------------------------------------------------ other people's data

    def other_name(self) -> tuple[str, str]:
        """A given and family name sharing no word with the patient's identifiers."""
        while True:
            given = self.rng.choice(people.FEMALE_GIVEN + people.MALE_GIVEN)
            family = self.rng.choice(people.FAMILY)
            words = {w.lower() for w in re.findall(r"[A-Za-z]+", f"{given} {family}")}
            if not words & self._taken:
                self._taken |= words
                return given, family

    def titled_name(self, style: str | None = None) -> None:
        given, family = self.other_name()
        styles = {
            "dr": ("Dr. ", family, ""),
            "dr_full": ("Dr. ", f"{given} {family}", ""),
            "nurse": ("Nurse ", f"{given} {family}", ""),
            "md": ("", f"{given} {family}", ", MD"),
            "rn": ("", f"{given} {family}", ", RN"),
            "np": ("", f"{given} {family}", ", NP"),
            "mrs": ("Mrs. ", f"{given} {family}", ""),
            "mr": ("Mr. ", family, ""),
        }
        before, value, after = styles[style or self.rng.choice(list(styles))]
        self.text(before)
        self.plant("NAME", PATTERN, value, _name_probes(value))
        self.text(after)

    def relative(self) -> None:
        given, _ = self.other_name()
        self.text(self.rng.choice(("daughter ", "son ", "wife ", "husband ", "sister ")))
        self.plant("NAME", PATTERN, given, _name_probes(given))

    def other_phone(self, extension: bool | None = None) -> None:
        while True:
            area = self.rng.choice(people.PLACES).area_code
            line = f"01{self.rng.randrange(0, 100):02d}"
            if f"{area}555{line}" not in self._taken_digits:
                self._taken_digits.add(f"{area}555{line}")
                break
        value = self.rng.choice(
            (
                f"{area}-555-{line}",
                f"({area}) 555-{line}",
                f"{area}.555.{line}",
                f"({area})555-{line}",
                f"+1 {area} 555 {line}",
                f"1-{area}-555-{line}",
                f"{area} 555 {line}",
            )
        )
        if extension or (extension is None and self.rng.random() < 0.3):
            value += self.rng.choice((" x", " ext. ", " ext ", " extension ")) + str(
                self.rng.randint(10, 9999)
            )
        self.plant("PHONE", PATTERN, value)

    def other_email(self) -> None:
        given, family = self.other_name()
        handle = self.rng.choice(
            (f"{given}.{family}", f"{given[0]}{family}", "referrals", f"{given}+notes")
        )
        domain = self.rng.choice(("cardio.example.org", "example.com", "clinic.example.net"))
        value = f"{handle.lower().replace(chr(39), '')}@{domain}"
        self.plant("EMAIL", PATTERN, value)

    def url(self) -> None:
        n = self.rng.randint(1000, 99999)
        value = self.rng.choice(
            (
                f"https://portal.example.org/messages/{n}",
                f"http://www.example.com/records?id={n}&view=full",
                f"www.example.org/clinic/{n}",
                f"https://192.0.2.{n % 250 + 1}/pacs/study/{n}",
                f"https://portal.example.org:8443/viewer/{n}?tab=notes",
            )
        )
        self.plant("URL", PATTERN, value)

    def ip(self) -> None:
        n = self.rng.randint(1, 254)
        value = self.rng.choice(
            (
                f"192.0.2.{n}",
                f"198.51.100.{n}",
                f"203.0.113.{n}",
                f"2001:db8::{n:x}:{self.rng.randint(1, 65535):x}",
                f"2001:db8:85a3::8a2e:370:{self.rng.randint(1, 65535):x}",
                f"2001:0db8:0000:0000:0000:ff00:0042:{n:04x}",
            )
        )
        self.plant("IP", PATTERN, value)

    def other_record_number(self) -> None:
        digits = str(self.rng.randint(1_000_000, 99_999_999))
        context, value = self.rng.choice(
            (
                ("outside hospital MRN: ", digits),
                ("Acct #: ", digits),
                ("chart # ", f"A{digits[:7]}"),
                ("medical record number ", digits),
                ("MR# ", digits[:6]),
                ("accession # ", f"LAB-{digits[:6]}"),
            )
        )
        self.text(context)
        self.plant("MRN", PATTERN, value)

    def other_ssn(self) -> None:
        ssn = f"666-{self.rng.randint(10, 99)}-{self.rng.randint(1000, 9999)}"
        if self.rng.random() < 0.5:
            self.text("guarantor SSN ")
            self.plant("SSN", PATTERN, ssn.replace("-", ""))
        else:
            self.text("spouse's social security number ")
            self.plant("SSN", PATTERN, ssn)

    def other_id(self) -> None:
        context, value = self.rng.choice(
            (
                ("insurance member ID ", f"XJH{self.rng.randint(100000000, 999999999)}"),
                ("driver's license ", f"S{self.rng.randint(10_000_000, 99_999_999)}"),
                ("pump serial number ", f"SN-{self.rng.randint(100000, 999999)}"),
            )
        )
        self.text(context)
        self.plant("ID", PATTERN, value)

    def other_address(self) -> None:
        """A street address with city, state and ZIP sharing no word with planted names."""
        while True:
            street = self.rng.choice(people.STREETS)
            place = self.rng.choice(people.PLACES)
            words = {w.lower() for w in re.findall(r"[A-Za-z]+", f"{street} {place.city}")}
            if not words & self._taken and place.zip5 not in self._taken_digits:
                self._taken |= words
                break
        line = f"{self.rng.randint(1, 4999)} {street} {self.rng.choice(people.STREET_TYPES)}"
        if self.rng.random() < 0.4:
            line += self.rng.choice((" Suite ", " Apt ", " Unit ", " #")) + str(
                self.rng.randint(2, 400)
            )
        number, name = line.split()[:2]
        self.plant("ADDRESS", PATTERN, line, (line, f"{number} {name}"))
        self.text(f", {place.city}, {place.state} ")
        zip_code = place.zip5
        if self.rng.random() < 0.3:
            zip_code += f"-{self.rng.randint(1000, 9999)}"
        self.plant("ZIP", PATTERN, zip_code)

    def old_age(self) -> None:
        age = self.rng.randint(90, 104)
        value = self.rng.choice(
            (
                f"{age}-year-old",
                f"age {age}",
                f"aged {age}",
                f"{age} y/o",
                f"{age} years old",
                f"{age} yo",
                f"{age}-yr-old",
                f"age: {age}",
            )
        )
        self.plant("AGE", PATTERN, value)

    def patient_age(self) -> None:
        """The patient's age at the visit: grouped at 90 and over, clinical content below."""
        p = self.person
        age = age_in_years(p.birth_date, self.visit)
        value = f"{age}-year-old"
        if age >= 90:
            self.plant("AGE", PATTERN, value)
        else:
            self.pieces.append(_Piece("clinical", value))
        self.text(" woman" if p.gender == "female" else " man")

    # ---------------------------------------------------------------------------- rendering

    def finish(self, template: str, content_type: str, patient: dict) -> LabelledNote:
        renderer = _RENDERERS[content_type]
        plain = "".join(p.value + "\n" if p.kind == "heading" else p.value for p in self.pieces)
        parts = [renderer.prefix]
        position = len(renderer.prefix)
        labels, dates, clinical = [], [], []
        for piece in self.pieces:
            if piece.kind == "text":
                raw = renderer.text(piece.value)
            elif piece.kind == "heading":
                raw = renderer.heading(piece.value)
            else:
                raw = renderer.value(piece.value)
            start, end = position, position + len(raw)
            if piece.kind == "label":
                category, kind, probes, digits = piece.label
                labels.append(Label(category, kind, start, end, piece.value, probes, digits))
            elif piece.kind == "date":
                dates.append(PlantedDate(start, end, piece.value, piece.shifted))
            elif piece.kind == "clinical":
                clinical.append(Clinical(start, end, piece.value))
            parts.append(raw)
            position = end
        parts.append(renderer.suffix)
        return LabelledNote(
            template=template,
            content_type=content_type,
            patient=patient,
            offset_days=self.offset,
            text="".join(parts),
            plain=plain,
            labels=tuple(labels),
            dates=tuple(dates),
            clinical=tuple(clinical),
        )


class _Renderer(NamedTuple):
    """How one content type writes planted values, plain text and headings."""

    value: Callable[[str], str]
    text: Callable[[str], str]
    heading: Callable[[str], str]
    prefix: str
    suffix: str


def _html_text(value: str) -> str:
    return html.escape(value).replace("\n", "<br>\n")


def _rtf_escape(value: str) -> str:
    out = []
    for char in value:
        if char in "\\{}":
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\par\n")
        elif char == "\t":
            out.append("\\tab ")
        elif ord(char) < 128:
            out.append(char)
        else:
            try:
                out.append(f"\\'{char.encode('cp1252')[0]:02x}")
            except UnicodeEncodeError:
                out.append(f"\\u{ord(char)}?")
    return "".join(out)


_HTML_PREFIX = (
    '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Clinic note</title>\n'
    "<style>body { font-family: sans-serif; } .hdr { font-weight: bold; }</style>\n"
    '<script>window.noteViewer = { version: "2.4" };</script></head>\n<body><div class="note">\n'
)
_RTF_PREFIX = (
    "{\\rtf1\\ansi\\ansicpg1252\\deff0{\\fonttbl{\\f0\\fswiss Arial;}{\\f1\\fmodern Courier New;}}"
    "{\\colortbl;\\red0\\green0\\blue0;\\red200\\green0\\blue0;}"
    "{\\*\\generator chartetl-synth 1.0;}{\\info{\\title Clinic note}{\\author Clinic EHR}}\n"
    "\\viewkind4\\uc1\\pard\\f0\\fs20 "
)
_RENDERERS = {
    "text/plain": _Renderer(str, str, lambda v: v + "\n", "", ""),
    "text/html": _Renderer(
        html.escape,
        _html_text,
        lambda v: f'<h2 class="hdr">{html.escape(v)}</h2>\n',
        _HTML_PREFIX,
        "</div></body></html>\n",
    ),
    "text/rtf": _Renderer(
        _rtf_escape,
        _rtf_escape,
        lambda v: "{\\b\\fs24 " + _rtf_escape(v) + "}\\par\n",
        _RTF_PREFIX,
        "\\par\n}",
    ),
}


# ================================================================================ templates


def _progress(w: _Writer) -> None:
    w.heading("Autonomic Clinic - Progress Note")
    w.text("Patient: ")
    w.own_name("titled_full")
    w.text("    MRN: ")
    w.own_mrn()
    w.text("    DOB: ")
    w.own_dob()
    w.text("\nPhone: ")
    w.own_phone()
    w.text("    Email: ")
    w.own_email()
    w.text("\nAddress: ")
    w.own_address_block()
    w.text("\nVisit date: ")
    w.date(w.visit)
    w.text("\n\nHPI: ")
    w.own_name("given")
    w.text(" is a ")
    w.patient_age()
    w.text(" seen for follow-up of orthostatic intolerance. Symptoms began in ")
    w.partial_date()
    w.text(". Labs were drawn ")
    w.yearless(-w.rng.randint(3, 20), "md", w.rng.choice(("on ", "")))
    w.text(".\n")
    w.clinical_lines(3)
    w.text("Assessment and plan: improving. Return visit ")
    w.date(w.visit + dt.timedelta(days=w.rng.randint(60, 120)))
    w.text(".\nElectronically signed by ")
    w.titled_name(w.rng.choice(("md", "dr_full", "np")))
    w.text(" on ")
    w.date(w.visit)
    w.text(".\n")


def _telephone(w: _Writer) -> None:
    w.heading("TELEPHONE ENCOUNTER")
    w.date(w.visit, "weekday")
    w.text("\nCaller: patient's ")
    w.relative()
    w.text(", calling about ")
    w.own_name("upper_reversed")
    w.text(" (DOB ")
    w.own_dob()
    w.text(", MRN ")
    w.own_mrn()
    w.text(").\nCallback number: ")
    w.own_phone()
    w.text(" (home); alternate ")
    w.other_phone(extension=True)
    w.text(".\nMessage: dizziness since ")
    w.yearless(-w.rng.randint(2, 10), "month_day")
    w.text(", worse in the mornings. ")
    w.clinical_lines(2)
    w.text("Advised by ")
    w.titled_name("nurse")
    w.text(" to keep the appointment on ")
    w.date(w.visit + dt.timedelta(days=w.rng.randint(5, 30)))
    w.text(". Pharmacy phone ")
    w.other_phone(extension=False)
    w.text(", fax ")
    w.other_phone(extension=False)
    w.text(".\n")


def _referral(w: _Writer) -> None:
    w.heading("Autonomic Disorders Clinic")
    w.other_address()
    w.text("\nTel ")
    w.other_phone()
    w.text("   Email ")
    w.other_email()
    w.text("\n")
    w.date(w.visit, w.rng.choice(("long", "ordinal", "abbr")))
    w.text("\n\n")
    w.titled_name("dr_full")
    w.text("\nCardiology Associates\n")
    w.other_address()
    w.text("\n\nDear ")
    w.titled_name("dr")
    w.text(",\n\nRe: ")
    w.own_name("full")
    w.text(", DOB ")
    w.own_dob()
    w.text(", MRN ")
    w.own_mrn()
    w.text("\n\nI am writing to refer ")
    w.own_name("titled")
    w.text(", a ")
    w.patient_age()
    w.text(", for evaluation of postural tachycardia. A tilt table test on ")
    w.date(w.visit - dt.timedelta(days=w.rng.randint(10, 200)))
    w.text(" was abnormal. ")
    w.clinical_lines(2)
    w.text("Please contact the patient at ")
    w.own_phone()
    w.text(" or ")
    w.own_email()
    w.text(", or our office at the number above. Records are available at ")
    w.url()
    w.text(".\n\nSincerely,\n\n")
    w.titled_name("md")
    w.text("\n")


def _portal(w: _Writer) -> None:
    w.heading("Patient Portal Message")
    w.text("From: ")
    w.own_name("full")
    w.text(" <")
    w.own_email()
    w.text(">\nSent: ")
    w.date(w.visit, "iso")
    w.text(" 14:32 from IP address ")
    w.ip()
    w.text(" (session relayed via ")
    w.ip()
    w.text(")\nLink: ")
    w.url()
    w.text("\n\nHello, this is ")
    w.own_name("given")
    w.text(". My heart rate has been high since ")
    w.yearless(-w.rng.randint(2, 14), "month_day")
    w.text(". ")
    w.clinical_lines(1)
    w.text("Please reply to ")
    w.other_email()
    w.text(" (my daughter's address) or call ")
    w.own_phone()
    w.text(".\n\nReply from ")
    w.titled_name("rn")
    w.text(": please keep your visit on ")
    w.date(w.visit + dt.timedelta(days=w.rng.randint(3, 40)))
    w.text(". Upload readings at ")
    w.url()
    w.text(".\n")


def _nursing(w: _Writer) -> None:
    w.heading("Nursing Note")
    w.text("Pt: ")
    w.own_name("upper")
    w.text("   MR# ")
    w.own_mrn()
    w.text("\nDate of service: ")
    w.date(w.visit, w.rng.choice(("us", "us_short", "dmy_dash")))
    w.text("\n")
    w.titled_name("nurse")
    w.text(" verified identity with date of birth ")
    w.own_dob()
    w.text(" and home address ")
    w.own_street()
    w.text(", ")
    w.own_city()
    w.text(". Patient's ")
    w.relative()
    w.text(" at bedside. ")
    w.clinical_lines(2)
    w.text("Orthostatic vitals repeated ")
    w.yearless(w.rng.randint(1, 5), "md")
    w.text(" and ")
    w.yearless(w.rng.randint(6, 9), "md", "again on ")
    w.text(". Spoke with ")
    w.titled_name(w.rng.choice(("dr", "dr_full")))
    w.text(" about results.\nContact on file: ")
    w.own_phone()
    w.text(".\n")


def _labs(w: _Writer) -> None:
    w.heading("Outside Records Review")
    w.text("Patient ")
    w.own_name("reversed")
    w.text(", DOB ")
    w.own_dob()
    w.text(", local MRN ")
    w.own_mrn()
    w.text(".\nRecords received ")
    w.date(w.visit, w.rng.choice(("dmy", "us_2y", "long")))
    w.text(" from Lakeside Regional Hospital, ")
    w.other_record_number()
    w.text("; ")
    w.other_record_number()
    w.text(".\n")
    w.clinical_lines(4)
    w.text("Prior testing ")
    w.date(w.visit - dt.timedelta(days=w.rng.randint(200, 700)), "iso")
    w.text(" at an outside lab (")
    w.other_id()
    w.text(").\nSymptoms first noted ")
    w.partial_date()
    w.text(". Reviewed with ")
    w.titled_name("dr")
    w.text(".\n")


def _discharge(w: _Writer) -> None:
    w.heading("Discharge Summary")
    w.text("Name: ")
    w.own_name("full")
    w.text("   ")
    w.own_ssn()
    w.text("\nAdmitted ")
    w.date(w.visit - dt.timedelta(days=w.rng.randint(2, 6)), "us")
    w.text(", discharged ")
    w.date(w.visit, "us")
    w.text(".\nThe patient is a ")
    w.patient_age()
    w.text(" living with a ")
    w.relative()
    w.text(". A grandparent, ")
    w.old_age()
    w.text(", lives nearby; the neighbor is ")
    w.old_age()
    w.text(". ")
    w.clinical_lines(2)
    w.text("Billing: ")
    w.other_ssn()
    w.text(", ")
    w.other_id()
    w.text(".\nFollow up with ")
    w.titled_name("dr_full")
    w.text(" at ")
    w.other_address()
    w.text(", phone ")
    w.other_phone()
    w.text(".\nHome address: ")
    w.own_address_block()
    w.text("\n")


def _social(w: _Writer) -> None:
    w.heading("Social Work Note")
    w.date(w.visit, w.rng.choice(("weekday", "long", "ordinal")))
    w.text("\nMet with ")
    w.own_name(w.rng.choice(("titled", "full", "titled_full")))
    w.text(" and ")
    w.relative()
    w.text(". Their grandmother, ")
    w.old_age()
    w.text(", also lives in the household. The family moved on ")
    w.yearless(w.rng.randint(1, 20), "day_month")
    w.text(" to ")
    w.other_address()
    w.text(". New phone ")
    w.other_phone()
    w.text("; previous address ")
    w.own_address_block()
    w.text(", phone ")
    w.own_phone()
    w.text(".\nEmergency contact: ")
    w.titled_name("mrs")
    w.text(", ")
    w.other_phone()
    w.text(". Portal account reset from ")
    w.ip()
    w.text(".\n")
    w.clinical_lines(1)


_TEMPLATES: dict[str, Callable[[_Writer], None]] = {
    "progress": _progress,
    "telephone": _telephone,
    "referral": _referral,
    "portal": _portal,
    "nursing": _nursing,
    "labs": _labs,
    "discharge": _discharge,
    "social": _social,
}


def generate_corpus(n: int, seed: int) -> list[LabelledNote]:
    """Synthetic notes of fake patients, every identifier, date and dose labelled.

    Identities come from ``transforms.synth.people`` (555-01xx phones, ``.invalid`` e-mails,
    666/9xx SSNs); other people's names are common first and last names. Each template is used
    in turn, as plain text (half), HTML or RTF.

    Args:
        n: number of notes.
        seed: everything is drawn from it; the same seed gives the same corpus.

    Returns:
        The notes.
    """
    notes = []
    names = list(_TEMPLATES)
    for index in range(n):
        rng = random.Random(f"note-corpus/{seed}/{index}")
        visit = dt.date(2018, 1, 1) + dt.timedelta(days=rng.randrange(0, 8 * 365))
        if rng.random() < 0.15:
            birth = people.birth_date_for_age(rng, 90, 99, visit)
        else:
            birth = people.birth_date_for_age(rng, 18, 89, visit)
        identity = people.make_identity(
            rng,
            people.medical_record_number(index, seed),
            gender=rng.choice(("female", "male")),
            birth_date=birth,
        )
        patient = people.patient_resource(identity, f"note-patient-{index}", None)
        offset = rng.choice((-1, 1)) * rng.randint(1, 365)
        writer = _Writer(rng, identity, offset, visit)
        template = names[index % len(names)]
        _TEMPLATES[template](writer)
        content_type = rng.choice(("text/plain", "text/plain", "text/html", "text/rtf"))
        notes.append(writer.finish(template, content_type, patient))
    return notes


# =============================================================================== evaluation

Scrubber = Callable[[LabelledNote], str]
"""Turns a labelled note (its attachment, patient and offset) into scrubbed text."""


def notes_mode_scrubber(note: LabelledNote) -> str:
    """The pipeline's notes mode: decode the attachment, build the dictionary, scrub."""
    text = decode_attachment(note.content_type, note.data_base64)
    if text is None:
        return ""
    dictionary = PatientDictionary.from_patient(note.patient)
    return scrub_note(text, dictionary, note.offset_days).text


_TAG = re.compile(r"\[(?:[A-Z]+|AGE 90\+)\]")


def _token_present(token: str, text: str) -> bool:
    pattern = rf"(?<![^\W_]){re.escape(token)}(?![^\W_])"
    return re.search(pattern, text, re.IGNORECASE) is not None


# a day number or a weekday before a written date makes it part of a longer one
_DAY_BEFORE = re.compile(r"(?:\d{1,2}(?:st|nd|rd|th)?(?:\s+of)?[\s\-]+|[A-Za-z]+day,?\s+)$")


def _date_count(date: str, text: str) -> int:
    """Occurrences of a whole written date: "3/7" is not inside "3/7/2021" nor "4/3/7",
    "July 25" is not inside "July 25, 2018", "May 2019" not inside "28 May 2019" and
    "May 7, 2019" not inside "Tuesday, May 7, 2019"."""
    pattern = rf"(?<![\w/\-.]){re.escape(date)}(?![\w/\-]|\.\d|,?\s*\d{{4}}(?!\d))"
    return sum(
        _DAY_BEFORE.search(text, max(0, match.start() - 12), match.start()) is None
        for match in re.finditer(pattern, text)
    )


def _without_planted_dates(note: LabelledNote) -> str:
    """The plain note with each planted date blanked, in order of appearance."""
    plain, position = note.plain, 0
    for date in note.dates:
        start = plain.find(date.original, position)
        plain = plain[:start] + "\x00" * len(date.original) + plain[start + len(date.original) :]
        position = start + len(date.original)
    return plain


def _dates_shifted(note: LabelledNote, output: str) -> int:
    """How many planted dates are shifted correctly.

    A date is when its expected form occurs in the output at least as often as it must (once
    per planted date shifted onto it, plus its occurrences elsewhere in the note) and its
    original form no more often than it may (its occurrences elsewhere in the note, e.g. a
    strength "5/5" beside a planted "5/5", plus planted dates shifted onto it).
    """
    shifted = Counter(date.shifted for date in note.dates)
    rest = _without_planted_dates(note)

    def elsewhere(written: str) -> int:
        return _date_count(written, rest)

    return sum(
        _date_count(date.shifted, output) >= shifted[date.shifted] + elsewhere(date.shifted)
        and _date_count(date.original, output) <= elsewhere(date.original) + shifted[date.original]
        for date in note.dates
    )


def _digit_projection(text: str) -> str:
    """Digits with the separators between them removed: "617) 555-01 23" -> "6175550123"."""
    return re.sub(r"(?<=\d)[\s().\-/]+(?=\d)", "", text)


def label_caught(label: Label, output: str, projection: str | None = None) -> bool:
    """Whether a planted identifier is gone from the scrubbed output.

    Caught when none of its probes (the planted string; for names also each word of three or
    more letters; for street lines also the house number and street name) occurs in the output
    as a whole token, case-insensitively, and, for digit-based categories, its digit sequence
    is not a whole digit run of the output once separators between digits are removed.
    Replacement tags ("[NAME]", "[AGE 90+]") are not part of the output for this test.

    Args:
        label: the planted identifier.
        output: the scrubbed text.
        projection: ``_digit_projection(output)``, when already computed.
    """
    output = _TAG.sub("\x00", output)
    if label.category == "DATE":
        return not any(_date_count(probe, output) for probe in label.probes)
    if any(_token_present(probe, output) for probe in label.probes):
        return False
    if label.digits:
        projection = _digit_projection(output) if projection is None else projection
        if re.search(rf"(?<!\d){label.digits}(?!\d)", projection):
            return False
    return True


def evaluate(notes: list[LabelledNote], scrubber: Scrubber = notes_mode_scrubber) -> Evaluation:
    """Recall per category, clinical retention and date-shift accuracy of a scrubber.

    Args:
        notes: the corpus (``generate_corpus``).
        scrubber: note -> scrubbed text.

    Returns:
        The numbers.
    """
    totals: Counter[str] = Counter()
    caught: Counter[str] = Counter()
    kept = clinical_total = shifted_right = date_total = 0
    for note in notes:
        output = scrubber(note)
        projection = _digit_projection(_TAG.sub("\x00", output))
        for label in note.labels:
            key = f"{label.kind}:{label.category}"
            totals[key] += 1
            caught[key] += label_caught(label, output, projection)
        for item in note.clinical:
            clinical_total += 1
            kept += item.value in output
        date_total += len(note.dates)
        shifted_right += _dates_shifted(note, output)

    def recall(kind: str) -> tuple[dict[str, float], float]:
        keys = sorted(key for key in totals if key.startswith(f"{kind}:"))
        per_category = {key.split(":", 1)[1]: caught[key] / totals[key] for key in keys}
        total = sum(totals[key] for key in keys)
        return per_category, (sum(caught[key] for key in keys) / total if total else 1.0)

    own, own_overall = recall(OWN)
    pattern, pattern_overall = recall(PATTERN)
    return Evaluation(
        own_recall=own,
        pattern_recall=pattern,
        own_overall=own_overall,
        pattern_overall=pattern_overall,
        clinical_retention=kept / clinical_total if clinical_total else 1.0,
        date_shift_accuracy=shifted_right / date_total if date_total else 1.0,
        label_counts=dict(sorted(totals.items())),
        notes=len(notes),
    )
