"""PII redaction: recall on realistic strings, no false positive on numbers and dates, checksums."""

from __future__ import annotations

import pytest

from runners.data.pii import ORDER, iban_valid, luhn_valid, pii_redact, redact
from runners.data.table import Table

ALL = list(ORDER)

FOUND = [
    ("Contact me at jane.doe+tickets@mail.example.co.uk today", "email", "jane.doe+tickets@mail.example.co.uk"),
    ("mail RAJ62@Example.COM.", "email", "RAJ62@Example.COM"),
    ("Call me on +1 555 319 1614", "phone", "+1 555 319 1614"),
    ("ring (555) 319-1614 after 5", "phone", "(555) 319-1614"),
    ("my number is 555-319-1614.", "phone", "555-319-1614"),
    ("number 555.319.1614 works", "phone", "555.319.1614"),
    ("UK office 07700 900123", "phone", "07700 900123"),
    ("London +44 20 7946 0958 or", "phone", "+44 20 7946 0958"),
    ("toll free 1-800-555-0199", "phone", "1-800-555-0199"),
    ("please call me at 5553191614", "phone", "5553191614"),
    ("Paris: +33 1 23 45 67 89", "phone", "+33 1 23 45 67 89"),
    ("card 4111 1111 1111 1111 was declined", "credit_card", "4111 1111 1111 1111"),
    ("amex 3782-822463-10005 ok", "credit_card", "3782-822463-10005"),
    ("pay with 5555555555554444", "credit_card", "5555555555554444"),
    ("IBAN DE89 3704 0044 0532 0130 00 please", "iban", "DE89 3704 0044 0532 0130 00"),
    ("to GB82WEST12345698765432 now", "iban", "GB82WEST12345698765432"),
    ("ssn 123-45-6789 on file", "ssn", "123-45-6789"),
    ("server 192.168.1.20 is down.", "ip_address", "192.168.1.20"),
    ("from 2001:db8::8a2e:370:7334 today", "ip_address", "2001:db8::8a2e:370:7334"),
    ("localhost ::1 and fe80::1 too", "ip_address", "::1"),
]

NOT_PII = [
    "order 12345678 shipped on 2024-01-15 at 10:30:45",
    "paid 1,234.56 on 15/01/2024, ref 2024-01-15 10:30",
    "version 1.2.3 from 2023, qty 100-200, page 12 of 300",
    "ISBN 978-3-16-148410-0 and timestamp 20240115103045",
    "card 4111 1111 1111 1112 is not a valid number",       # fails Luhn
    "IBAN DE00 3704 0044 0532 0130 00 has a bad checksum",   # fails mod 97
    "ssn 000-12-3456 and 666-12-3456 are never assigned",
    "not an ip: 999.1.1.1, nor 10:30:45, nor 1.2.3",
    "telling 12345678 stories, room 404, error 500",
    "Error 500 when saving my profile - this is urgent",
]


@pytest.mark.parametrize(("text", "entity", "span"), FOUND)
def test_each_realistic_entity_is_found_and_replaced(text, entity, span):
    redacted, counts = redact(text, ALL)
    assert counts.get(entity, 0) >= 1, counts
    assert span not in redacted and f"[{entity}]" in redacted


@pytest.mark.parametrize("text", NOT_PII)
def test_plain_numbers_dates_and_bad_checksums_are_left_alone(text):
    assert redact(text, ALL) == (text, {})


def test_only_the_requested_entities_are_redacted_and_counted():
    text = "mail a@b.io, call +1 555 319 1614, card 4111111111111111, again c@d.io"
    redacted, counts = redact(text, ["email"])
    assert counts == {"email": 2}
    assert "+1 555 319 1614" in redacted and "4111111111111111" in redacted


def test_a_card_number_is_a_card_not_a_phone_whatever_the_order_written():
    assert redact("pay 4111 1111 1111 1111", ["phone", "credit_card"])[1] == {"credit_card": 1}


def test_replacement_template_names_the_entity():
    assert redact("write x@y.com", ["email"], "<{entity}>")[0] == "write <email>"
    assert redact("write x@y.com", ["email"], "***")[0] == "write ***"


def test_checksums():
    assert luhn_valid("4111111111111111") and luhn_valid("378282246310005")
    assert not luhn_valid("4111111111111112")
    assert iban_valid("DE89 3704 0044 0532 0130 00") and iban_valid("GB82WEST12345698765432")
    assert not iban_valid("GB82WEST12345698765433")


def test_pii_redact_rewrites_rows_keeps_the_count_and_reports_every_entity():
    table = Table({"text": "string", "note": "string"},
                  [{"text": "a@b.io or c@d.io", "note": "x@y.io"}, {"text": "nothing", "note": "call +1 555 319 1614"}],
                  ["f:1", "f:2"])
    out, report = pii_redact(table, ["text"], ["email", "phone"], "[{entity}]")
    assert [r["text"] for r in out.rows] == ["[email] or [email]", "nothing"]
    assert out.rows[0]["note"] == "x@y.io"          # only the named columns
    assert table.rows[0]["text"] == "a@b.io or c@d.io"  # the input is not mutated
    assert report.to_json()["counts"] == {"email": 2, "phone": 0}
    assert (report.rows_in, report.rows_out, report.details["rows_changed"]) == (2, 2, 1)
