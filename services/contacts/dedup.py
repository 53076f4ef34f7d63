"""Duplicate detection for contacts and accounts.

A duplicate is a record with the same normalised email or phone, or a fuzzy match on name plus
company (rapidfuzz), above the tenant's threshold. Normalised keys live in indexed columns so the
exact checks are index lookups; fuzzy candidates are blocked by the first letters of the
normalised name before rapidfuzz scores them.
"""
from __future__ import annotations

import re
import unicodedata

from rapidfuzz import fuzz
from sqlalchemy import or_, select

from mosaic_contacts.models import Account, Contact

_SPACES = re.compile(r"\s+")
_NOT_DIGIT = re.compile(r"\D")
BLOCK = 3
CANDIDATES = 200


def email_key(email: str | None) -> str | None:
    """``"  Ann@Example.COM "`` → ``"ann@example.com"``."""
    if not email:
        return None
    return email.strip().lower() or None


def phone_key(phone: str | None) -> str | None:
    """Digits only, international prefix ``00`` folded into the number: ``+86 138-0013 8000`` and
    ``0086 13800138000`` are the same phone."""
    if not phone:
        return None
    digits = _NOT_DIGIT.sub("", phone)
    if digits.startswith("00"):
        digits = digits[2:]
    return digits or None


def name_key(*parts: str | None) -> str | None:
    """Lowercased, accents removed, spaces collapsed: ``"  José  Núñez"`` → ``"jose nunez"``."""
    text = " ".join(p for p in parts if p)
    if not text.strip():
        return None
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return _SPACES.sub(" ", text).strip().lower() or None


def contact_keys(values: dict) -> dict:
    """The normalised key columns of a contact from its field values."""
    return {
        "email_key": email_key(values.get("email")),
        "phone_key": phone_key(values.get("phone")) or phone_key(values.get("mobile")),
        "name_key": name_key(values.get("first_name"), values.get("last_name")),
    }


def score(name_a: str | None, company_a: str | None, name_b: str | None, company_b: str | None) -> float:
    """0-100: how alike two people are by name and company. Without both companies, only a
    near-identical name counts (a common name alone is no evidence)."""
    if not name_a or not name_b:
        return 0.0
    name_score = fuzz.token_sort_ratio(name_a, name_b)
    ca, cb = name_key(company_a), name_key(company_b)
    if ca and cb:
        return 0.6 * name_score + 0.4 * fuzz.token_set_ratio(ca, cb)
    return name_score - 10.0


def _prefix(key: str):
    return key[:BLOCK].replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_") + "%"


def find_contact_duplicates(session, values: dict, *, exclude_id: str | None = None,
                            threshold: int = 90, company: str | None = None) -> list[dict]:
    """Contacts that look like ``values``: ``[{"id", "reason", "score"}]``, best first.

    One query finds every candidate (same email key, same phone key, or a name starting with the
    same letters; each an index lookup), exact matches first; rapidfuzz scores the rest.
    """
    keys = contact_keys(values)
    exact, block = [], []
    if keys["email_key"]:
        exact.append(Contact.email_key == keys["email_key"])
    if keys["phone_key"]:
        exact.append(Contact.phone_key == keys["phone_key"])
    nk = keys["name_key"]
    if nk and len(nk) >= BLOCK:
        block.append(Contact.name_key.like(_prefix(nk), escape="\\"))
    if not exact and not block:
        return []
    stmt = (select(Contact.id, Contact.email_key, Contact.phone_key, Contact.name_key, Contact.company_name)
            .where(or_(*exact, *block)).limit(CANDIDATES))
    if exact and block:  # exact matches first, so many same-prefix names cannot crowd them out
        stmt = stmt.order_by(or_(*exact).desc())
    if exclude_id:
        stmt = stmt.where(Contact.id != exclude_id)
    company = company if company is not None else values.get("company_name")
    found = []
    for cid, ek, pk, other_name, other_company in session.execute(stmt):
        if ek and ek == keys["email_key"]:
            found.append({"id": cid, "reason": "email", "score": 100.0})
        elif pk and pk == keys["phone_key"]:
            found.append({"id": cid, "reason": "phone", "score": 100.0})
        elif nk:
            s = score(nk, company, other_name, other_company)
            if s >= threshold:
                found.append({"id": cid, "reason": "name_company", "score": round(s, 1)})
    return sorted(found, key=lambda d: -d["score"])


def find_account_duplicates(session, values: dict, *, exclude_id: str | None = None,
                            threshold: int = 90) -> list[dict]:
    """Accounts whose normalised name is a fuzzy match for ``values['name']``."""
    nk = name_key(values.get("name"))
    if not nk or len(nk) < BLOCK:
        return []
    stmt = select(Account.id, Account.name_key).where(Account.name_key.like(_prefix(nk), escape="\\"))
    if exclude_id:
        stmt = stmt.where(Account.id != exclude_id)
    out = []
    for aid, other in session.execute(stmt.limit(CANDIDATES)):
        s = fuzz.token_set_ratio(nk, other or "")
        if s >= threshold:
            out.append({"id": aid, "reason": "name", "score": round(s, 1)})
    return sorted(out, key=lambda d: -d["score"])
