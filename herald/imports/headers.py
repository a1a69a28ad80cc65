"""Common spellings of CSV column names and the built-in field each one means.

A column maps to a field by default when its name, ignoring case, spaces and punctuation, is the
field's own name or one of the spellings below ("E-mail", "Email Address", "Phone Number",
"First Name", "Postal code", ...). web/src/features/imports/csvHeader.ts holds the same table,
so the import form shows what the server will do.
"""

from __future__ import annotations

import re

HEADER_SPELLINGS: dict[str, tuple[str, ...]] = {
    "email": ("email", "e-mail", "email address", "e-mail address", "mail", "email_address"),
    "phone": (
        "phone",
        "phone number",
        "phone no",
        "telephone",
        "tel",
        "mobile",
        "mobile number",
        "mobile phone",
        "cell",
        "cell phone",
    ),
    "external_id": ("external id", "customer id", "user id", "customer number"),
    "first_name": ("first name", "firstname", "given name", "forename", "fname"),
    "last_name": ("last name", "lastname", "surname", "family name", "lname"),
    "timezone": ("timezone", "time zone", "tz"),
    "address1": ("address", "address 1", "address line 1", "street", "street address"),
    "address2": ("address 2", "address line 2"),
    "city": ("city", "town"),
    "region": ("region", "state", "province", "county", "state/province"),
    "country": ("country", "country code", "country name"),
    "zip": ("zip", "zip code", "zipcode", "postal code", "postcode", "post code"),
}


def header_key(name: str) -> str:
    """A column name as lower-case letters and digits: "E-mail Address" -> "emailaddress"."""
    return re.sub(r"[^0-9a-z]+", "", name.casefold())


_FIELD_BY_KEY = {
    header_key(spelling): field
    for field, spellings in HEADER_SPELLINGS.items()
    for spelling in (field, *spellings)
}


def field_for_header(name: str) -> str | None:
    """The built-in field a column of this name feeds by default, or None."""
    return _FIELD_BY_KEY.get(header_key(name))
