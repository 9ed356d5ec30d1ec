"""Keyed pseudonymization of user PII before it reaches the warehouse.

HMAC-SHA256 with a secret key (not a plain hash): without the key nobody can confirm a guessed e-mail address
by hashing it, yet the same input always maps to the same token, so analysts can still count and join distinct
users. E-mail addresses are normalized (trimmed, lower-cased) first so that `Ann@X.com` and `ann@x.com` stay
one person."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from typing import Any

TOKEN_HEX_CHARS = 32  # 128 bits: collision-free for any realistic user count, shorter to read and store


class Pseudonymizer:
    def __init__(self, key: str) -> None:
        if not key:
            raise ValueError("a pseudonymization key is required")
        self._key = key.encode("utf-8")

    def __repr__(self) -> str:  # never print the key
        return "Pseudonymizer(key=***)"

    def token(self, value: str, *, field_name: str) -> str:
        normalized = value.strip().lower() if field_name == "email" else value.strip()
        # The field name is part of the message so equal values in different fields give unrelated tokens.
        digest = hmac.new(self._key, f"{field_name}\x1f{normalized}".encode(), hashlib.sha256).hexdigest()
        return digest[:TOKEN_HEX_CHARS]

    def _value(self, value: Any, field_name: str) -> Any:
        if value is None or value == "":
            return value
        if isinstance(value, dict):
            return {k: self._value(v, f"{field_name}.{k}") for k, v in value.items()}
        if isinstance(value, list):
            return [self._value(v, field_name) for v in value]
        return self.token(str(value), field_name=field_name)

    def pseudonymize(self, row: dict[str, Any], fields: Iterable[str]) -> dict[str, Any]:
        """A copy of `row` with each of `fields` replaced by its token (nested fields one by one)."""
        out = dict(row)
        for name in fields:
            if name in out:
                out[name] = self._value(out[name], name)
        return out
