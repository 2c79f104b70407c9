"""Field names are evidence: which entity type a JSON key says its value is.

A path is classified once per payload shape (list indices collapsed), from its last keys: `email`,
`customer.name`, `billing_address.city`. Business parents (`product.name`, `company_name`) are not
people. Keys that only describe a value (`email_verified`, `phone_count`) do not make it sensitive.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

PERSON, LOCATION, DATE_OF_BIRTH = "PERSON", "LOCATION", "DATE_OF_BIRTH"
# Keys that say where something happens, not whose address it is: a calendar event's `location`
# holds "Room 4.12" as often as "Hauptstraße 5". Their text is scanned, and the value is withheld
# whole (as LOCATION) only when it holds a place: a street, a postcode, a known town or region.
PLACE = "PLACE"
# ... unless the key says it is a person's own whereabouts: `home_location`, `current_location`,
# or a `location` inside a person (`customer.location`).
_PERSONAL_PLACE = frozenset(
    ["home", "current", "last", "live", "gps", "device", "user", "my", "birth", "residence", "personal"]
)

_SPLIT = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")

# Phrases (tokens joined by "_"), longest first when matching.
_TYPED: dict[str, str] = {
    "email": "EMAIL_ADDRESS",
    "e_mail": "EMAIL_ADDRESS",
    "email_address": "EMAIL_ADDRESS",
    "mail": "EMAIL_ADDRESS",
    "phone": "PHONE_NUMBER",
    "telephone": "PHONE_NUMBER",
    "tel": "PHONE_NUMBER",
    "mobile": "PHONE_NUMBER",
    "cell": "PHONE_NUMBER",
    "fax": "PHONE_NUMBER",
    "msisdn": "PHONE_NUMBER",
    "phone_number": "PHONE_NUMBER",
    "mobile_number": "PHONE_NUMBER",
    "ssn": "US_SSN",
    "social_security": "US_SSN",
    "social_security_number": "US_SSN",
    "dob": DATE_OF_BIRTH,
    "birthdate": DATE_OF_BIRTH,
    "birthday": DATE_OF_BIRTH,
    "birth_date": DATE_OF_BIRTH,
    "date_of_birth": DATE_OF_BIRTH,
    "born": DATE_OF_BIRTH,
    "name": PERSON,
    "fullname": PERSON,
    "full_name": PERSON,
    "firstname": PERSON,
    "first_name": PERSON,
    "lastname": PERSON,
    "last_name": PERSON,
    "surname": PERSON,
    "forename": PERSON,
    "given_name": PERSON,
    "family_name": PERSON,
    "middle_name": PERSON,
    "maiden_name": PERSON,
    "nickname": PERSON,
    "username": PERSON,
    "user_name": PERSON,
    "customer": PERSON,
    "patient": PERSON,
    "contact": PERSON,
    "recipient": PERSON,
    "sender": PERSON,
    "cardholder": PERSON,
    "card_holder": PERSON,
    "account_holder": PERSON,
    "holder_name": PERSON,
    "display_name": PERSON,
    "displayname": PERSON,
    "display": PERSON,
    "traveler": PERSON,
    "traveller": PERSON,
    "travelers": PERSON,
    "travellers": PERSON,
    "passenger": PERSON,
    "passengers": PERSON,
    "guest": PERSON,
    "guests": PERSON,
    "attendee": PERSON,
    "attendees": PERSON,
    "participant": PERSON,
    "participants": PERSON,
    "invitee": PERSON,
    "invitees": PERSON,
    "member": PERSON,
    "members": PERSON,
    "companion": PERSON,
    "companions": PERSON,
    "organizer": PERSON,
    "organiser": PERSON,
    "requester": PERSON,
    "requestor": PERSON,
    "reporter": PERSON,
    "assignee": PERSON,
    "assigned_to": PERSON,
    "owner": PERSON,
    "author": PERSON,
    "reviewer": PERSON,
    "approver": PERSON,
    "approved_by": PERSON,
    "created_by": PERSON,
    "employee": PERSON,
    "employees": PERSON,
    "staff": PERSON,
    "manager": PERSON,
    "supervisor": PERSON,
    "reports_to": PERSON,
    "spouse": PERSON,
    "beneficiary": PERSON,
    "payee": PERSON,
    "payer": PERSON,
    "signatory": PERSON,
    "tenant": PERSON,
    "landlord": PERSON,
    "next_of_kin": PERSON,
    "emergency_contact": PERSON,
    "witness": PERSON,
    "student": PERSON,
    "teacher": PERSON,
    "doctor": PERSON,
    "physician": PERSON,
    "nurse": PERSON,
    "person": PERSON,
    "people": PERSON,
    # More roles a person is named by in forms, contracts, logistics and logs.
    "applicant": PERSON,
    "applicants": PERSON,
    "claimant": PERSON,
    "guarantor": PERSON,
    "cosigner": PERSON,
    "co_signer": PERSON,
    "borrower": PERSON,
    "policyholder": PERSON,
    "policy_holder": PERSON,
    "insured": PERSON,
    "subscriber": PERSON,
    "consignee": PERSON,
    "addressee": PERSON,
    "driver": PERSON,
    "pax": PERSON,
    "occupant": PERSON,
    "resident": PERSON,
    "visitor": PERSON,
    "visitors": PERSON,
    "candidate": PERSON,
    "interviewee": PERSON,
    "guardian": PERSON,
    "dependant": PERSON,
    "dependent": PERSON,
    "donor": PERSON,
    "speaker": PERSON,
    "presenter": PERSON,
    "actor": PERSON,
    "who": PERSON,
    "authorised_users": PERSON,
    "authorized_users": PERSON,
    "user": PERSON,
    "users": PERSON,
    "address": LOCATION,
    "addr": LOCATION,
    "street": LOCATION,
    "street_address": LOCATION,
    "address_line": LOCATION,
    "line1": LOCATION,
    "line2": LOCATION,
    "city": LOCATION,
    "town": LOCATION,
    "zip": LOCATION,
    "zipcode": LOCATION,
    "zip_code": LOCATION,
    "postcode": LOCATION,
    "postal_code": LOCATION,
    "home": LOCATION,
    "residence": LOCATION,
    "location": PLACE,
    "venue": PLACE,
    "place": PLACE,
    "meeting_place": PLACE,
    "meeting_location": PLACE,
    "geo": LOCATION,
    "coordinates": LOCATION,
    "latitude": LOCATION,
    "longitude": LOCATION,
    "lat": LOCATION,
    "lng": LOCATION,
    "iban": "IBAN_CODE",
    "bank_account": "IBAN_CODE",
    "account_number": "IBAN_CODE",
    "card": "CREDIT_CARD",
    "card_number": "CREDIT_CARD",
    "credit_card": "CREDIT_CARD",
    "cc_number": "CREDIT_CARD",
    "pan": "CREDIT_CARD",
    "ip": "IP_ADDRESS",
    "ip_address": "IP_ADDRESS",
    "ipv4": "IP_ADDRESS",
    "ipv6": "IP_ADDRESS",
    "passport": "US_PASSPORT",
    "passport_number": "US_PASSPORT",
    "passport_no": "US_PASSPORT",
    "driver_license": "US_DRIVER_LICENSE",
    "drivers_license": "US_DRIVER_LICENSE",
    "driving_licence": "US_DRIVER_LICENSE",
    "driving_license": "US_DRIVER_LICENSE",
    "licence_number": "US_DRIVER_LICENSE",
    "license_number": "US_DRIVER_LICENSE",
    "nhs": "UK_NHS",
    "nhs_number": "UK_NHS",
    "nhs_no": "UK_NHS",
    "nino": "UK_NINO",
    "ni_number": "UK_NINO",
    "national_insurance": "UK_NINO",
    "national_insurance_number": "UK_NINO",
    "national_id": "NATIONAL_ID",
    "national_id_number": "NATIONAL_ID",
    "id_number": "NATIONAL_ID",
    "tax_id": "NATIONAL_ID",
    "tax_number": "NATIONAL_ID",
    "tin": "NATIONAL_ID",
    "nif": "ES_NIF",
    "nie": "ES_NIE",
    "dni": "ES_NIF",
    "pesel": "PL_PESEL",
    "codice_fiscale": "IT_FISCAL_CODE",
    "fiscal_code": "IT_FISCAL_CODE",
    "aadhaar": "IN_AADHAAR",
    "pan_number": "IN_PAN",
    "nric": "SG_NRIC_FIN",
    "personnummer": "SE_PERSONNUMMER",
    "hetu": "FI_PERSONAL_IDENTITY_CODE",
    "sin": "CA_SIN",
    "tfn": "AU_TFN",
    "medicare": "AU_MEDICARE",
    "bsn": "NATIONAL_ID",
}
# A key ending in one of these describes a value rather than being it: `email_verified`, `phone_type`.
_DESCRIPTIVE = frozenset(
    [
        "verified",
        "confirmed",
        "count",
        "type",
        "status",
        "enabled",
        "valid",
        "validated",
        "format",
        "consent",
        "optin",
        "opt",
        "in",
        "out",
        "present",
        "known",
        "visible",
        "public",
        "private",
        "primary",
        "preferred",
        "kind",
        "provider",
        "domain",
        "country",
        "region",
        "code",
        "id",
        "ids",
        "uuid",
        "hash",
        "length",
        "flag",
        "flags",
        "bounced",
        "changed",
        "updated",
        "created",
        "at",
        "on",
        "sent",
    ]
)
# Keys whose values are business data: names under them are products and firms, not people.
BUSINESS = frozenset(
    [
        "product",
        "products",
        "item",
        "items",
        "sku",
        "company",
        "companies",
        "organization",
        "organisation",
        "org",
        "orgs",
        "business",
        "brand",
        "merchant",
        "vendor",
        "supplier",
        "store",
        "shop",
        "seller",
        "manufacturer",
        "carrier",
        "plan",
        "tier",
        "category",
        "catalog",
        "catalogue",
        "service",
        "app",
        "application",
        "project",
        "team",
        "department",
        "dept",
        "group",
        "event",
        "campaign",
        "file",
        "document",
        "doc",
        "folder",
        "host",
        "server",
        "device",
        "model",
        "course",
        "package",
        "currency",
        "status",
        "tag",
        "tags",
        "label",
    ]
)
# Keys whose own values are business data (never a person or a place by name).
_BUSINESS_LEAF = frozenset(["status", "currency", "sku", "category", "brand", "tag", "label"])


def key_tokens(key: str) -> tuple[str, ...]:
    """Lower-case word tokens of a key: `billingAddress` and `billing-address` give (billing, address)."""
    return tuple(t.lower() for t in _SPLIT.findall(key))


def _phrase_type(tokens: Sequence[str]) -> str | None:
    """The type named by the end of a key, or None."""
    if not tokens:
        return None
    if tokens[-1] in _DESCRIPTIVE and len(tokens) > 1:
        return None
    for width in (4, 3, 2, 1):
        if len(tokens) >= width:
            found = _TYPED.get("_".join(tokens[-width:]))
            if found is not None:
                if found == PERSON and len(tokens) > width and tokens[-width - 1] in BUSINESS:
                    return None  # product_name, company_name
                return found
    joined = "".join(tokens)
    return _TYPED.get(joined)


def classify(keys: Sequence[str], custom: Mapping[str, str] | None = None) -> tuple[str | None, bool]:
    """The entity type a path's keys say its values are, and whether the path is business data.

    `keys` are the object keys from the root to the value (list positions left out).
    """
    business = False
    found: str | None = None
    for depth, key in enumerate(keys):
        tokens = key_tokens(key)
        if custom:
            custom_type = custom.get(key.lower()) or custom.get("_".join(tokens))
            if custom_type is not None:
                found = custom_type
                continue
        typed = _phrase_type(tokens)
        if typed == PLACE and (found == PERSON or _PERSONAL_PLACE.intersection(tokens[:-1])):
            typed = LOCATION  # a person's whereabouts, not where a meeting is
        last = depth == len(keys) - 1
        if typed is not None and not (typed == PERSON and business and tokens[-1] == "name"):
            # An address object's parts are all LOCATION, unless a part names its own type.
            found = typed
            business = False
        elif any(token in BUSINESS for token in tokens):
            business = True
            found = None
        elif last and found is not None and tokens and tokens[-1] in _DESCRIPTIVE:
            found = None  # customer.id, address.country_code
        elif last and found == PERSON:
            # customer.note, customer.tier: a person object's other fields are scanned, not assumed.
            found = None
    if keys and key_tokens(keys[-1])[-1:] and key_tokens(keys[-1])[-1] in _BUSINESS_LEAF:
        business = True
    return found, business
