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


def scram_verifier(password, salt=None, iterations=DEFAULT_ITERATIONS):
    """A new SCRAM-SHA-256 verifier for ``password`` (random 16-byte salt unless given)."""
    if salt is None:
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


def verify(password, stored, username):
    """True if plaintext ``password`` produces the ``stored`` verifier of role ``username``.

    A ``password`` that is itself a verifier matches only the identical string.
    """
    if stored is None or password is None:
        return False
    if is_hashed(password):
        return hmac.compare_digest(password, stored)
    scram = parse_scram(stored)
    if scram is not None:
        iterations, salt, stored_key, server_key = scram
        mine_stored, mine_server = _keys(password, salt, iterations)
        return hmac.compare_digest(mine_stored, stored_key) and hmac.compare_digest(mine_server, server_key)
    if _is_md5(stored):
        return hmac.compare_digest(md5_verifier(password, username), stored)
    return False


def verifier_for(password, username, encryption=SCRAM):
    """What to store for ``password``: itself if already hashed, else a new verifier of ``encryption``."""
    if is_hashed(password):
        return password
    if encryption == MD5:
        return md5_verifier(password, username)
    return scram_verifier(password)
