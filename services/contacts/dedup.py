"""Duplicate detection for contacts and accounts.

A duplicate is a record with the same normalised email or phone, or a fuzzy match on name plus
company (rapidfuzz), above the tenant's threshold. Normalised keys live in indexed columns so the
exact checks are index lookups; fuzzy candidates are blocked by the first letters of the
normalised name and by the name lengths that can still reach the threshold, and rapidfuzz scores
their names in one call, so only the few that can match are scored with their company.
"""
from __future__ import annotations

import functools
import itertools
import math
import re
import unicodedata

from rapidfuzz import fuzz, process
from sqlalchemy import and_, bindparam, func, or_, select

from mosaic_contacts.models import Account, Contact

_SPACES = re.compile(r"\s+")
_NOT_DIGIT = re.compile(r"\D")
BLOCK = 3
CANDIDATES = 200
#: names of up to this many words are matched word for word by equality lookups (4! orders)
MAX_TOKENS = 4


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


def name_cutoff(threshold: float, with_company: bool) -> float:
    """The least name score (``token_sort_ratio``) with which :func:`score` can still reach
    ``threshold``: a company adds at most 40 points to 60 % of the name's score; without one on
    either side the name alone counts, less 10. Slightly below the exact bound, so float
    rounding never drops a match."""
    alone = threshold + 10.0
    if not with_company:
        return alone - 1e-6
    return min(alone, (threshold - 40.0) / 0.6) - 1e-6


def length_window(length: int, cutoff: float) -> tuple[int, int]:
    """Lengths a name may have to reach ``cutoff`` against a name of ``length`` characters.

    ``token_sort_ratio`` is ``100 * (1 - d / (la + lb))`` with ``d`` the indel distance of the
    token-sorted names (as long as the names: ``name_key`` has single spaces), and ``d >= |la -
    lb|``; so a name outside the window cannot score ``cutoff``."""
    slack = max(0.0, 1.0 - cutoff / 100.0)
    if slack >= 1.0:
        return 0, 1 << 30
    low = length * (1.0 - slack) / (1.0 + slack)
    high = length * (1.0 + slack) / (1.0 - slack)
    return max(0, math.floor(low - 1e-9)), math.ceil(high + 1e-9)


def same_tokens(key: str, most: int = MAX_TOKENS) -> list[str] | None:
    """Every name key with the words of ``key`` in another order and its first letters (the
    block): the only names whose ``token_sort_ratio`` with ``key`` is 100. None past ``most``
    words (too many orders to list)."""
    words = key.split(" ")
    if len(words) > most:
        return None
    return sorted({k for k in (" ".join(p) for p in itertools.permutations(words)) if k[:BLOCK] == key[:BLOCK]})


def _same_names(names: list[str]) -> dict[str, str]:
    """The ``name_<i>`` parameters of the ``same`` block's names."""
    return {f"name_{i}": name for i, name in enumerate(names)}


@functools.cache
def _candidates(email: bool, phone: bool, block: str | None, exclude: bool, same: int = 0):
    """The candidate query of one shape (which keys a contact has, how its name is blocked),
    built once with its values as parameters: a statement reused keeps SQLAlchemy's cache key,
    and a create pays for neither building it nor keying it. A Core statement on the session's
    connection: the tenant scope adds ``tenant_id`` to it (mosaic.db.core_scope).

    The names of the ``same`` block are ``same`` parameters ``name_0``… (:func:`_same_names`),
    one shape per count: an expanding parameter would have SQLAlchemy rewrite the statement's
    SQL on every execution."""
    t = Contact.__table__
    exact = []
    if email:
        exact.append(t.c.email_key == bindparam("email_key"))
    if phone:
        exact.append(t.c.phone_key == bindparam("phone_key"))
    names = []
    if block == "same":
        names.append(t.c.name_key.in_([bindparam(f"name_{i}") for i in range(same)]))
    elif block == "near":
        names.append(and_(t.c.name_key.like(bindparam("prefix"), escape="\\"),
                          func.length(t.c.name_key).between(bindparam("low"), bindparam("high"))))
    stmt = (select(t.c.id, t.c.email_key, t.c.phone_key, t.c.name_key, t.c.company_name)
            .where(or_(*exact, *names)).limit(CANDIDATES))
    if exact and names:  # exact matches first, so many same-prefix names cannot crowd them out
        stmt = stmt.order_by(or_(*exact).desc())
    if exclude:
        stmt = stmt.where(t.c.id != bindparam("exclude_id"))
    return stmt


def find_contact_duplicates(session, values: dict, *, exclude_id: str | None = None,
                            threshold: int = 90, company: str | None = None) -> list[dict]:
    """Contacts that look like ``values``: ``[{"id", "reason", "score"}]``, best first.

    One query finds every candidate (same email key, same phone key, or a name starting with the
    same letters and of a length that can still score ``threshold``; each an index lookup),
    exact matches first. Where only a name of the same words can reach ``threshold`` (no company
    to add points: a name alone scores 10 less) the name part is an equality lookup of those
    words' orders (:func:`same_tokens`). rapidfuzz scores the names in one call and drops those
    below the least name score that can reach ``threshold`` (:func:`name_cutoff`); :func:`score`
    then runs only on the few left.
    """
    keys = contact_keys(values)
    company = company if company is not None else values.get("company_name")
    nk = keys["name_key"]
    params = {"email_key": keys["email_key"], "phone_key": keys["phone_key"], "exclude_id": exclude_id}
    cutoff = name_cutoff(threshold, bool(name_key(company)))
    block = None
    if nk and len(nk) >= BLOCK and cutoff <= 100:
        same = same_tokens(nk) if cutoff > 99.99 else None
        if same is not None:  # only the same words in another order can score: equality lookups
            block = "same"
            params.update(_same_names(same))
        else:
            block = "near"
            params["prefix"] = _prefix(nk)
            params["low"], params["high"] = length_window(len(nk), cutoff)
    if not keys["email_key"] and not keys["phone_key"] and block is None:
        return []
    stmt = _candidates(bool(keys["email_key"]), bool(keys["phone_key"]), block, bool(exclude_id),
                       len(same) if block == "same" else 0)
    found, names = [], []  # found: (position in the query's answer, match)
    for pos, row in enumerate(session.connection().execute(stmt, params)):
        cid, ek, pk, other_name, _company = row
        if ek and ek == keys["email_key"]:
            found.append((pos, {"id": cid, "reason": "email", "score": 100.0}))
        elif pk and pk == keys["phone_key"]:
            found.append((pos, {"id": cid, "reason": "phone", "score": 100.0}))
        elif nk and other_name:
            names.append((pos, row))
        elif nk and threshold <= 0:  # a nameless look-alike scores 0
            found.append((pos, {"id": cid, "reason": "name_company", "score": 0.0}))
    if names:
        # One point below the bound: rapidfuzz's process functions turn a cut-off into a whole
        # distance and may drop a name scoring it exactly (83.333… at 83.3333323).
        likely = process.extract(nk, [row[3] for _pos, row in names], scorer=fuzz.token_sort_ratio,
                                 score_cutoff=max(0.0, cutoff - 1.0), limit=None)
        for _name, _name_score, i in likely:
            pos, (cid, _ek, _pk, other_name, other_company) = names[i]
            s = score(nk, company, other_name, other_company)
            if s >= threshold:
                found.append((pos, {"id": cid, "reason": "name_company", "score": round(s, 1)}))
    found.sort(key=lambda item: item[0])
    return sorted((match for _pos, match in found), key=lambda d: -d["score"])


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
