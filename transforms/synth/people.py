"""Fake identities: names, addresses, contacts and identifiers that look real and are not.

Everything here is PHI-shaped on purpose, so that de-identification has something to remove:
phone numbers are in the fictional 555-01xx block, e-mail domains are `.invalid`, SSNs start with
666 or 9 (never issued), MRNs are unique per export. Addresses use real city/ZIP pairs, including
ZIP3 prefixes that Safe Harbor restricts (deid.md section 5), and some ZIP+4 codes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import NamedTuple

from . import codes


class Place(NamedTuple):
    """A real US city with one of its ZIP codes, county, telephone area code and state FIPS."""

    city: str
    state: str
    zip5: str
    county: str
    area_code: str
    fips: str


PLACES = (
    Place("Boston", "MA", "02118", "Suffolk County", "617", "25"),
    Place("Cambridge", "MA", "02139", "Middlesex County", "617", "25"),
    Place("Worcester", "MA", "01602", "Worcester County", "508", "25"),
    Place("New York", "NY", "10025", "New York County", "212", "36"),
    Place("Chicago", "IL", "60614", "Cook County", "312", "17"),
    Place("Houston", "TX", "77005", "Harris County", "713", "48"),
    Place("San Francisco", "CA", "94110", "San Francisco County", "415", "06"),
    Place("Seattle", "WA", "98103", "King County", "206", "53"),
    Place("Atlanta", "GA", "30307", "DeKalb County", "404", "13"),
    Place("Minneapolis", "MN", "55414", "Hennepin County", "612", "27"),
    Place("Rochester", "MN", "55905", "Olmsted County", "507", "27"),
    Place("Denver", "CO", "80205", "Denver County", "303", "08"),
    Place("Phoenix", "AZ", "85004", "Maricopa County", "602", "04"),
    Place("Philadelphia", "PA", "19104", "Philadelphia County", "215", "42"),
    Place("Nashville", "TN", "37203", "Davidson County", "615", "47"),
    Place("Chapel Hill", "NC", "27514", "Orange County", "919", "37"),
    Place("Cleveland", "OH", "44106", "Cuyahoga County", "216", "39"),
    Place("Ann Arbor", "MI", "48104", "Washtenaw County", "734", "26"),
    Place("Madison", "WI", "53703", "Dane County", "608", "55"),
    Place("Portland", "OR", "97214", "Multnomah County", "503", "41"),
    Place("Salt Lake City", "UT", "84102", "Salt Lake County", "801", "49"),
    Place("Indianapolis", "IN", "46202", "Marion County", "317", "18"),
    Place("Baltimore", "MD", "21205", "Baltimore City", "410", "24"),
    Place("Miami", "FL", "33136", "Miami-Dade County", "305", "12"),
    Place("New Orleans", "LA", "70112", "Orleans Parish", "504", "22"),
    Place("Birmingham", "AL", "35294", "Jefferson County", "205", "01"),
)
"""Ordinary addresses."""

RESTRICTED_PLACES = (
    Place("Charlestown", "NH", "03603", "Sullivan County", "603", "33"),
    Place("Norton", "VT", "05907", "Essex County", "802", "50"),
    Place("New London", "CT", "06320", "New London County", "860", "09"),
    Place("New York", "NY", "10282", "New York County", "212", "36"),
    Place("Washington", "DC", "20319", "District of Columbia", "202", "11"),
    Place("Grand Marais", "MN", "55604", "Cook County", "218", "27"),
    Place("Valentine", "NE", "69201", "Cherry County", "402", "31"),
    Place("Yellowstone National Park", "WY", "82190", "Park County", "307", "56"),
    Place("Socorro", "NM", "87801", "Socorro County", "575", "35"),
    Place("Ely", "NV", "89301", "White Pine County", "775", "32"),
)
"""Addresses whose ZIP3 is on the Safe Harbor restricted list (036 059 063 102 203 556 692 821
878 893): de-identification must turn these into '000'."""

FEMALE_GIVEN = (
    "Emily", "Hannah", "Olivia", "Sophia", "Madison", "Abigail", "Chloe", "Grace", "Natalie",
    "Samantha", "Lauren", "Rachel", "Megan", "Jessica", "Ashley", "Brianna", "Kayla", "Alyssa",
    "Maria", "Guadalupe", "Sofia", "Valentina", "Camila", "Aaliyah", "Imani", "Destiny", "Mei",
    "Priya", "Ananya", "Fatima", "Aisha", "Leah", "Miriam", "Naomi", "Ruth", "Margaret", "Dorothy",
    "Helen", "Frances", "Evelyn", "Katherine", "Elizabeth", "Caroline", "Julia", "Victoria",
    "Zoe", "Nora", "Ingrid", "Siobhan", "Yesenia",
)  # fmt: skip
MALE_GIVEN = (
    "James", "Michael", "Robert", "David", "William", "Joseph", "Thomas", "Daniel", "Matthew",
    "Andrew", "Joshua", "Christopher", "Ryan", "Tyler", "Brandon", "Jose", "Luis", "Carlos",
    "Miguel", "Juan", "Malik", "Darnell", "Jamal", "Wei", "Hiroshi", "Arjun", "Rahul", "Omar",
    "Yusuf", "Samuel", "Benjamin", "Nathan", "Aaron", "Isaac", "George", "Harold", "Walter",
    "Eugene", "Raymond", "Francis", "Patrick", "Sean", "Liam", "Noah", "Ethan", "Mason", "Owen",
    "Henrik", "Mateo", "Dmitri",
)  # fmt: skip
FAMILY = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall",
    "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Okafor", "Adeyemi", "Kowalski",
    "Novak", "Haddad", "Nakamura", "Tanaka", "Chen", "Wang", "Patel", "Shah", "Kim", "Park",
    "O'Brien", "McCarthy", "Lindqvist", "Johansson", "Rossi", "Bianchi", "Schmidt", "Weber",
    "Dubois", "Moreau", "Cohen", "Goldberg", "Kaplan", "Yazzie", "Begay", "Kealoha", "Fonoti",
)  # fmt: skip
STREETS = (
    "Maple", "Oak", "Cedar", "Elm", "Washington", "Lake", "Hill", "Park", "Pine", "Main",
    "Church", "Highland", "Sunset", "River", "Meadow", "Willow", "Spring", "Cherry", "Walnut",
    "Chestnut", "Lincoln", "Jefferson", "Franklin", "Adams", "Madison", "Prospect", "Orchard",
    "Summit", "Harbor", "Forest",
)  # fmt: skip
STREET_TYPES = ("St", "Ave", "Rd", "Ln", "Dr", "Ct", "Way", "Pl", "Blvd", "Ter")

RACES = {
    "white": ("2106-3", "White"),
    "black": ("2054-5", "Black or African American"),
    "asian": ("2028-9", "Asian"),
    "native": ("1002-5", "American Indian or Alaska Native"),
    "hawaiian": ("2076-8", "Native Hawaiian or Other Pacific Islander"),
    "other": ("2131-1", "Other Race"),
}
"""CSV race label to US Core OMB category (csv-layout.md)."""
_RACE_LABELS = ("white", "black", "asian", "native", "hawaiian", "other")
_RACE_WEIGHTS = (62, 13, 7, 2, 1, 15)
ETHNICITIES = {
    "hispanic": ("2135-2", "Hispanic or Latino"),
    "nonhispanic": ("2186-5", "Not Hispanic or Latino"),
}
MARITAL = {"M": "Married", "S": "Never Married", "D": "Divorced", "W": "Widowed"}

# Large odd multiplier, coprime with 9*10**7: makes MRNs unique per patient index yet scattered.
_MRN_STRIDE = 7_368_787


@dataclass(frozen=True)
class Identity:
    """One fake person: PHI-shaped fields of the Patient resource; notes repeat the identifiers.

    Attributes:
        given, family, prefix, suffix: the official name; suffix may be empty.
        maiden: family name before marriage, empty unless married or widowed and female.
        gender: FHIR administrative gender (`female` or `male`).
        birth_date: date of birth.
        race, ethnicity: CSV labels (keys of RACES and ETHNICITIES).
        marital: v3 MaritalStatus code (M, S, D, W).
        line, city, state, postal_code, county: the home address (country is always US).
        birthplace: city and state of birth.
        phone, email: contact points.
        mrn, ssn, drivers_license, passport: identifiers (passport may be empty).
        fips: state FIPS code of the address (drivers-licence OID).
    """

    given: str
    family: str
    prefix: str
    suffix: str
    maiden: str
    gender: str
    birth_date: date
    race: str
    ethnicity: str
    marital: str
    line: str
    city: str
    state: str
    postal_code: str
    county: str
    birthplace: tuple[str, str]
    phone: str
    email: str
    mrn: str
    ssn: str
    drivers_license: str
    passport: str
    fips: str

    @property
    def full_name(self) -> str:
        """Given and family name, as a note would write them."""
        return f"{self.given} {self.family}"


def medical_record_number(index: int, seed: int) -> str:
    """The MRN of the patient at `index`: unique within an export, different across seeds."""
    return str(10_000_000 + (index * _MRN_STRIDE + seed * 7919) % 90_000_000)


def make_identity(
    rng: random.Random,
    mrn: str,
    *,
    gender: str,
    birth_date: date,
    restricted_zip: int | None = None,
) -> Identity:
    """Draw a fake person.

    Args:
        rng: the patient's random generator.
        mrn: the medical record number (medical_record_number()).
        gender: `female` or `male`.
        birth_date: date of birth (chosen by the clinical model, which knows the age it needs).
        restricted_zip: index into RESTRICTED_PLACES to live in a restricted ZIP3 area; None for
            an ordinary address.

    Returns:
        The identity.
    """
    female = gender == "female"
    given = rng.choice(FEMALE_GIVEN if female else MALE_GIVEN)
    family = rng.choice(FAMILY)
    age_at_2025 = 2025 - birth_date.year
    if age_at_2025 < 30:
        marital = rng.choice("SSSM")
    elif age_at_2025 < 80:
        marital = rng.choice("MMMSD")
    else:
        marital = rng.choice("MWWD")
    maiden = rng.choice(FAMILY) if female and marital in "MW" else ""
    prefix = ("Mrs." if marital in "MW" else "Ms.") if female else "Mr."
    if rng.random() < 0.04:
        prefix = "Dr."
    suffix = rng.choice(("Jr.", "Sr.", "III")) if not female and rng.random() < 0.05 else ""
    place = (
        RESTRICTED_PLACES[restricted_zip % len(RESTRICTED_PLACES)]
        if restricted_zip is not None
        else rng.choice(PLACES)
    )
    postal_code = place.zip5
    if rng.random() < 0.15:
        postal_code = f"{postal_code}-{rng.randrange(1, 9999):04d}"
    line = f"{rng.randrange(1, 9999)} {rng.choice(STREETS)} {rng.choice(STREET_TYPES)}"
    if rng.random() < 0.2:
        line += f" Apt {rng.randrange(1, 40)}{rng.choice('ABCD')}"
    born_in = rng.choice(PLACES)
    race = rng.choices(_RACE_LABELS, weights=_RACE_WEIGHTS)[0]
    hispanic_rate = 0.6 if race == "other" else 0.08
    area = "666" if rng.random() < 0.7 else f"9{rng.randrange(0, 100):02d}"
    ssn = f"{area}-{rng.randrange(1, 100):02d}-{rng.randrange(1, 10000):04d}"
    handle = f"{given}.{family}".lower().replace("'", "")
    return Identity(
        given=given,
        family=family,
        prefix=prefix,
        suffix=suffix,
        maiden=maiden,
        gender=gender,
        birth_date=birth_date,
        race=race,
        ethnicity="hispanic" if rng.random() < hispanic_rate else "nonhispanic",
        marital=marital,
        line=line,
        city=place.city,
        state=place.state,
        postal_code=postal_code,
        county=place.county,
        birthplace=(born_in.city, born_in.state),
        phone=f"{place.area_code}-555-01{rng.randrange(0, 100):02d}",
        email=f"{handle}{rng.randrange(1, 100)}@example.invalid",
        mrn=mrn,
        ssn=ssn,
        drivers_license=f"S{rng.randrange(10_000_000, 100_000_000)}",
        passport=f"X{rng.randrange(10_000_000, 100_000_000)}X" if rng.random() < 0.3 else "",
        fips=place.fips,
    )


def birth_date_for_age(rng: random.Random, age_low: int, age_high: int, on: date) -> date:
    """A birth date giving an age in [age_low, age_high] (whole years) on the given date."""
    age = rng.randint(age_low, age_high)
    latest = date(on.year - age, on.month, min(on.day, 28))
    return latest - timedelta(days=rng.randrange(0, 365))


def patient_resource(identity: Identity, patient_id: str, deceased: date | None) -> dict:
    """The FHIR R4 Patient (US Core shape) of an identity.

    Args:
        identity: the person.
        patient_id: the resource id.
        deceased: date of death, or None.

    Returns:
        The Patient resource as a dict.
    """
    race_code, race_display = RACES[identity.race]
    ethnicity_code, ethnicity_display = ETHNICITIES[identity.ethnicity]
    official = {
        "use": "official",
        "family": identity.family,
        "given": [identity.given],
        "prefix": [identity.prefix],
    }
    if identity.suffix:
        official["suffix"] = [identity.suffix]
    names = [official]
    if identity.maiden:
        names.append({"use": "maiden", "family": identity.maiden, "given": [identity.given]})
    identifiers = [
        _identifier("MR", "Medical Record Number", codes.MRN_SYSTEM, identity.mrn),
        _identifier("SS", "Social Security Number", codes.SSN_SYSTEM, identity.ssn),
        _identifier(
            "DL",
            "Driver's license number",
            codes.DRIVERS_LICENSE_ROOT + identity.fips,
            identity.drivers_license,
        ),
    ]
    if identity.passport:
        identifiers.append(
            _identifier("PPN", "Passport Number", codes.PASSPORT_SYSTEM, identity.passport)
        )
    resource = {
        "resourceType": "Patient",
        "id": patient_id,
        "extension": [
            _omb_extension(codes.US_CORE_RACE, race_code, race_display),
            _omb_extension(codes.US_CORE_ETHNICITY, ethnicity_code, ethnicity_display),
            {
                "url": codes.BIRTH_PLACE,
                "valueAddress": {
                    "city": identity.birthplace[0],
                    "state": identity.birthplace[1],
                    "country": "US",
                },
            },
        ],
        "identifier": identifiers,
        "name": names,
        "telecom": [
            {"system": "phone", "value": identity.phone, "use": "home"},
            {"system": "email", "value": identity.email},
        ],
        "gender": identity.gender,
        "birthDate": identity.birth_date.isoformat(),
        "address": [
            {
                "use": "home",
                "line": [identity.line],
                "city": identity.city,
                "district": identity.county,
                "state": identity.state,
                "postalCode": identity.postal_code,
                "country": "US",
            }
        ],
        "maritalStatus": {
            "coding": [
                {
                    "system": codes.MARITAL_STATUS,
                    "code": identity.marital,
                    "display": MARITAL[identity.marital],
                }
            ]
        },
    }
    if deceased is not None:
        # Date precision only: the CSV layout carries DEATHDATE as YYYY-MM-DD.
        resource["deceasedDateTime"] = deceased.isoformat()
    return resource


def _identifier(type_code: str, type_display: str, system: str, value: str) -> dict:
    return {
        "type": {
            "coding": [
                {"system": codes.IDENTIFIER_TYPE, "code": type_code, "display": type_display}
            ],
            "text": type_display,
        },
        "system": system,
        "value": value,
    }


def _omb_extension(url: str, code: str, display: str) -> dict:
    return {
        "url": url,
        "extension": [
            {
                "url": "ombCategory",
                "valueCoding": {
                    "system": codes.OMB_RACE_ETHNICITY,
                    "code": code,
                    "display": display,
                },
            },
            {"url": "text", "valueString": display},
        ],
    }
