# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Password verifiers as PostgreSQL stores them in ``pg_authid.rolpassword``.

* ``verify(password, stored, username)`` recomputes the stored verifier from a plaintext password
  with the stored salt and iteration count (SCRAM-SHA-256) or the user name (md5). A fresh SCRAM
  hash never equals the stored one (random salt), so comparing hashes would re-set every
  password on every sync (Zalando #3170); this does not.
* ``scram_verifier(password)`` builds a new verifier client-side (4096 iterations, random 16-byte
  salt), so ``ALTER ROLE ... PASSWORD`` never carries the plaintext into server logs.

Fast path for verifiers we wrote ourselves (optional, ``tag_key``): PBKDF2 with 4096 iterations
costs about a millisecond per password, so a no-op sync of 1600 roles would spend most of its
time proving that nothing changed. When a ``tag_key`` is given, the 16-byte salt is 8 random
bytes followed by an 8-byte keyed tag, ``HMAC-SHA256(tag_key, user, password, random)[:8]``.
Checking a password against such a verifier is one HMAC; a verifier whose salt carries no
valid tag (written by the server, by another tool, or under another key) is verified the full
way. The salt stays random-looking and unique; without the key the tag reveals nothing about
the password (see docs/sql-sync.md for the trade-off).

The fast path is used only for strong passwords (``is_strong``: at least 128 bits estimated from
length and character classes; every password the collection generates has about 380). For those
a check that costs one HMAC instead of 4096 changes nothing for an attacker; a weaker,
human-chosen password always gets a plain random salt and the full PBKDF2 check.

The format (RFC 5802/7677, as stored by PostgreSQL)::

    SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import hmac
import os
import stringprep
import unicodedata

SCRAM_PREFIX = "SCRAM-SHA-256$"
DEFAULT_ITERATIONS = 4096
SALT_BYTES = 16

SCRAM = "scram-sha-256"
MD5 = "md5"


def _b64(data):
    return base64.b64encode(data).decode("ascii")


def saslprep(password):
    """Normalise a password the way PostgreSQL's ``pg_saslprep`` does, returning bytes.

    Pure ASCII is used as is. Otherwise RFC 4013 SASLprep applies (map, NFKC, prohibited and
    bidi checks); a password that SASLprep refuses is used as its raw UTF-8 bytes, like the
    server does.
    """
    raw = password.encode("utf-8")
    if all(ord(c) < 128 for c in password):
        return raw
    mapped = []
    for c in password:
        if stringprep.in_table_b1(c):
            continue
        mapped.append(" " if stringprep.in_table_c12(c) else c)
    text = unicodedata.normalize("NFKC", "".join(mapped))
    if not text:
        return raw
    prohibited = (
        stringprep.in_table_c12, stringprep.in_table_c21, stringprep.in_table_c22, stringprep.in_table_c3,
        stringprep.in_table_c4, stringprep.in_table_c5, stringprep.in_table_c6, stringprep.in_table_c7,
        stringprep.in_table_c8, stringprep.in_table_c9, stringprep.in_table_a1,
    )
    for c in text:
        if any(check(c) for check in prohibited):
            return raw
    if any(stringprep.in_table_d1(c) for c in text):
        if any(stringprep.in_table_d2(c) for c in text):
            return raw
        if not (stringprep.in_table_d1(text[0]) and stringprep.in_table_d1(text[-1])):
            return raw
    return text.encode("utf-8")


def _keys(password, salt, iterations):
    salted = hashlib.pbkdf2_hmac("sha256", saslprep(password), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return stored_key, server_key


TAG_BYTES = 8


STRONG_BITS = 128


def is_strong(password):
    """True when ``password`` carries at least ``STRONG_BITS`` bits by length and character classes."""
    if not password:
        return False
    classes = 0
    if any(c.islower() for c in password):
        classes += 26
    if any(c.isupper() for c in password):
        classes += 26
    if any(c.isdigit() for c in password):
        classes += 10
    if any(not c.isalnum() for c in password):
        classes += 33
    if classes < 2:
        return False
    bits_per_char = 0.0
    size = classes
    while size > 1:  # log2 without floating-point imports
        size /= 2.0
        bits_per_char += 1
    return len(password) * (bits_per_char - 1) >= STRONG_BITS


def _tag(tag_key, username, password, nonce):
    msg = b"pgfleet-scram-tag\x00" + username.encode("utf-8") + b"\x00" + password.encode("utf-8") + b"\x00" + nonce
    return hmac.new(tag_key, msg, hashlib.sha256).digest()[:TAG_BYTES]


def tag_key_from(secret):
    """A tag key derived from a secret string (the login password), or None without one."""
    if not secret:
        return None
    return hashlib.sha256(b"pgfleet-verifier-tag\x00" + secret.encode("utf-8")).digest()


def tagged(password, stored, username, tag_key):
    """True if ``stored`` is a SCRAM verifier whose salt carries our tag for this password."""
    if not tag_key or password is None or not is_strong(password):
        return False
    parsed = parse_scram(stored)
    if parsed is None or len(parsed[1]) != SALT_BYTES:
        return False
    salt = parsed[1]
    nonce, tag = salt[:SALT_BYTES - TAG_BYTES], salt[SALT_BYTES - TAG_BYTES:]
    return hmac.compare_digest(_tag(tag_key, username, password, nonce), tag)


def scram_verifier(password, salt=None, iterations=DEFAULT_ITERATIONS, tag_key=None, username=""):
    """A new SCRAM-SHA-256 verifier for ``password``: random 16-byte salt unless given; with
    ``tag_key`` the last 8 salt bytes are the keyed tag of ``username``/``password``."""
    if salt is None:
        if tag_key and is_strong(password):
            nonce = os.urandom(SALT_BYTES - TAG_BYTES)
            salt = nonce + _tag(tag_key, username, password, nonce)
        else:
            salt = os.urandom(SALT_BYTES)
    stored_key, server_key = _keys(password, salt, iterations)
    return "%s%d:%s$%s:%s" % (SCRAM_PREFIX, iterations, _b64(salt), _b64(stored_key), _b64(server_key))


def parse_scram(verifier):
    """``(iterations, salt, stored_key, server_key)`` of a SCRAM verifier, or None if it is not one."""
    if not isinstance(verifier, str) or not verifier.startswith(SCRAM_PREFIX):
        return None
    try:
        head, keys = verifier[len(SCRAM_PREFIX):].split("$", 1)
        iterations, salt = head.split(":", 1)
        stored_key, server_key = keys.split(":", 1)
        iterations = int(iterations)
        salt = base64.b64decode(salt, validate=True)
        stored_key = base64.b64decode(stored_key, validate=True)
        server_key = base64.b64decode(server_key, validate=True)
    except (ValueError, TypeError):
        return None
    if iterations <= 0 or len(stored_key) != 32 or len(server_key) != 32:
        return None
    return iterations, salt, stored_key, server_key


def md5_verifier(password, username):
    """PostgreSQL's md5 verifier: ``"md5" + md5(password || username)``."""
    return "md5" + hashlib.md5((password + username).encode("utf-8")).hexdigest()


def _is_md5(value):
    return (isinstance(value, str) and len(value) == 35 and value.startswith("md5")
            and all(c in "0123456789abcdef" for c in value[3:]))


def kind(value):
    """``"scram-sha-256"``, ``"md5"`` or None (plaintext, or nothing) for a stored or desired value."""
    if parse_scram(value) is not None:
        return SCRAM
    if _is_md5(value):
        return MD5
    return None


def is_hashed(value):
    """True if ``value`` is already a verifier (passed through as is, like the server does)."""
    return kind(value) is not None


def verify(password, stored, username, tag_key=None):
    """True if plaintext ``password`` produces the ``stored`` verifier of role ``username``.

    A ``password`` that is itself a verifier matches only the identical string. With
    ``tag_key``, a verifier carrying our tag for this password is accepted after one HMAC.
    """
    if stored is None or password is None:
        return False
    if is_hashed(password):
        return hmac.compare_digest(password, stored)
    if tagged(password, stored, username, tag_key):
        return True
    scram = parse_scram(stored)
    if scram is not None:
        iterations, salt, stored_key, server_key = scram
        mine_stored, mine_server = _keys(password, salt, iterations)
        return hmac.compare_digest(mine_stored, stored_key) and hmac.compare_digest(mine_server, server_key)
    if _is_md5(stored):
        return hmac.compare_digest(md5_verifier(password, username), stored)
    return False


def verifier_for(password, username, encryption=SCRAM, tag_key=None):
    """What to store for ``password``: itself if already hashed, else a new verifier of ``encryption``."""
    if is_hashed(password):
        return password
    if encryption == MD5:
        return md5_verifier(password, username)
    return scram_verifier(password, tag_key=tag_key, username=username)
