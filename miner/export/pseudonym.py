"""Stable salted pseudonyms for people: the same person gets the same token in every exported file."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import sqlite3

EMAIL = re.compile(r"[A-Za-z0-9._%+=-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
PSEUDONYM_DOMAIN = "pseudonym.invalid"
MIN_NAME_LENGTH = 4  # shorter "names" (initials, "Tj") would replace ordinary words

# Columns whose text can hold names or addresses, per exported table.
PERSON_COLUMNS = {"messages": ("from_name", "from_email")}
# Message-IDs often embed the sender's address (git send-email: <date.pid-n-user@host>); they are
# replaced by tokens too, the same in every file, so the exported tables still join.
MESSAGE_ID_COLUMNS = {
    "threads": ("root_message_id",),
    "messages": ("message_id", "parent_id", "in_reply_to"),
    "evidence": ("message_id",),
    "bugs": ("root_message_id", "first_report_message_id", "first_patch_message_id"),
}
MESSAGE_ID_LIST_COLUMNS = {"messages": ("references",)}
TEXT_COLUMNS = {
    "threads": ("subject", "base_subject"),
    "messages": ("subject", "base_subject", "body", "prose"),
    "evidence": ("text",),
    "bugs": ("subject",),
}
# JSON arrays of objects (bug records' reviewers, fixes, applied) whose keys hold people or Message-IDs
OBJECT_LIST_COLUMNS = {"bugs": ("reviewers", "fixes", "applied")}
OBJECT_MESSAGE_ID_KEYS = ("message_id", "applies_to")


def new_salt() -> str:
    """A random salt for one export (pass the same salt again to get the same pseudonyms)."""
    return secrets.token_hex(16)


class Pseudonymizer:
    """Replaces addresses and known names by ``person-<hash>``; a name maps to its address's token."""

    def __init__(self, salt: str, name_to_email: dict[str, str | None]):
        self.salt = salt
        self.name_to_email = {name: email for name, email in name_to_email.items() if len(name) >= MIN_NAME_LENGTH}
        names = sorted(self.name_to_email, key=len, reverse=True)
        self._names = re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, names)) + r")(?!\w)") if names else None

    @classmethod
    def from_database(cls, conn: sqlite3.Connection, salt: str) -> "Pseudonymizer":
        """Know every name in the database (people, senders, trailer people), with its address if any."""
        pairs = conn.execute(
            "SELECT name, email FROM people WHERE name IS NOT NULL"
            " UNION SELECT from_name, from_email FROM messages WHERE from_name IS NOT NULL"
            " UNION SELECT person_name, person_email FROM trailers WHERE person_name IS NOT NULL"
        ).fetchall()
        known: dict[str, str | None] = {}
        for name, email in sorted(pairs, key=lambda pair: pair[1] is None):  # an address wins over none
            known.setdefault(name.strip(), email.lower() if email else None)
        return cls(salt, {name: email for name, email in known.items() if name})

    def token(self, key: str) -> str:
        """``person-`` and 12 hex digits of the salted SHA-256 of ``key`` (an address, lower case)."""
        return "person-" + hashlib.sha256(f"{self.salt}\0{key.lower()}".encode()).hexdigest()[:12]

    def email(self, address: str | None) -> str | None:
        """The pseudonymous address of ``address``."""
        return f"{self.token(address)}@{PSEUDONYM_DOMAIN}" if address else address

    def message_id(self, message_id: str | None) -> str | None:
        """``msg-<hash>@pseudonym.invalid`` for a Message-ID."""
        if not message_id:
            return message_id
        digest = hashlib.sha256(f"{self.salt}\0msgid\0{message_id}".encode()).hexdigest()[:16]
        return f"msg-{digest}@{PSEUDONYM_DOMAIN}"

    def name(self, name: str | None) -> str | None:
        """The token of the person called ``name`` (by their address if known)."""
        if not name:
            return name
        return self.token(self.name_to_email.get(name.strip()) or "name:" + name.strip())

    def text(self, text: str | None) -> str | None:
        """``text`` with every address and every known name replaced."""
        if not text:
            return text
        text = EMAIL.sub(lambda match: self.email(match.group(0)), text)
        if self._names:
            text = self._names.sub(lambda match: self.name(match.group(0)), text)
        return text

    def row(self, table: str, columns: list[str], row: tuple) -> tuple:
        """A row of ``table`` with its person and text columns pseudonymized."""
        values = list(row)
        for index, column in enumerate(columns):
            if table in PERSON_COLUMNS and column == "from_email":
                values[index] = self.email(values[index])
            elif table in PERSON_COLUMNS and column == "from_name":
                # the sender's token comes from their address, so name and address agree
                email = row[columns.index("from_email")] if "from_email" in columns else None
                values[index] = self.token(email) if (values[index] and email) else self.name(values[index])
            elif column in MESSAGE_ID_COLUMNS.get(table, ()):
                values[index] = self.message_id(values[index])
            elif column in MESSAGE_ID_LIST_COLUMNS.get(table, ()) and values[index]:
                values[index] = json.dumps([self.message_id(m) for m in json.loads(values[index])])
            elif column in TEXT_COLUMNS.get(table, ()):
                values[index] = self.text(values[index])
            elif column in OBJECT_LIST_COLUMNS.get(table, ()) and values[index]:
                values[index] = json.dumps([self._object(item) for item in json.loads(values[index])],
                                           ensure_ascii=False)
        return tuple(values)

    def _object(self, item: dict) -> dict:
        """An object of a bug record's list with its person and Message-ID keys replaced."""
        item = dict(item)
        if item.get("email"):
            item["name"] = self.token(item["email"]) if item.get("name") else None
            item["email"] = self.email(item["email"])
        elif item.get("name"):
            item["name"] = self.name(item["name"])
        for key in OBJECT_MESSAGE_ID_KEYS:
            if item.get(key):
                item[key] = self.message_id(item[key])
        if item.get("subject"):
            item["subject"] = self.text(item["subject"])
        return item
