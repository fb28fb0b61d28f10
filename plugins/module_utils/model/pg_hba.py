# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""``spec.patroni.pg_hba``: every entry is one ``pg_hba.conf`` line, parsed and checked at the door.

An entry is ``TYPE DATABASE USER [ADDRESS [MASK]] METHOD [OPTION=VALUE ...]`` as PostgreSQL reads
it (double quotes keep a space or comma in a name). Refused: a newline or another control
character (one entry would become several lines), comments, ``include*`` directives and
``@file`` references (they make the server read other files), unknown types and methods,
addresses that are neither CIDR, IP + mask, a host name nor a keyword, options without ``=``.

``trust`` lets anyone who can reach the address in without a password. It is refused on any
address other than the local socket and loopback, unless the manifest carries the annotation
:data:`ALLOW_TRUST_ANNOTATION` set to ``"true"``; then each such entry is a warning.

API: ``parse_entry(text)`` -> dict (``type``, ``database``, ``user``, ``address``, ``mask``,
``method``, ``options``) or raises :class:`HbaError` (``problem``, ``fix``);
``check_entries(entries, field, allow_trust)`` -> ``(errors, warnings)`` with errors as
``(field, problem, fix)`` tuples.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

ALLOW_TRUST_ANNOTATION = "pgfleet.io/allow-trust-hba"
MAX_ENTRIES = 512
MAX_ENTRY_LENGTH = 1024

TYPES = ("local", "host", "hostssl", "hostnossl", "hostgssenc", "hostnogssenc")
METHODS = ("trust", "reject", "scram-sha-256", "md5", "password", "gss", "sspi", "ident", "peer", "pam", "ldap",
           "radius", "cert", "bsd")
_ADDRESS_WORDS = ("all", "samehost", "samenet")
_HOSTNAME_RE = re.compile(r"^\.?[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*$")
_NAME_RE = re.compile(r'^(?:"[^"]*"|[^",\s]+)(?:,(?:"[^"]*"|[^",\s]+))*$')
_OPTION_RE = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*=(?:"[^"]*"|\S*)$')
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_LOOPBACK = ("127.0.0.0/8", "::1/128")
FIX = 'write one line "TYPE DATABASE USER ADDRESS METHOD", e.g. "hostssl all all 10.0.0.0/8 scram-sha-256"'


class HbaError(Exception):
    def __init__(self, problem, fix=FIX):
        super(HbaError, self).__init__(problem)
        self.problem = problem
        self.fix = fix


def _short(text, limit=80):
    text = str(text).replace("\n", "\\n").replace("\r", "\\r")
    return text if len(text) <= limit else text[:limit] + "... (%d characters)" % len(text)


def _tokens(text):
    tokens = []
    current = ""
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
            current += char
        elif char in " \t" and not quoted:
            if current:
                tokens.append(current)
                current = ""
        elif char == "#" and not quoted:
            raise HbaError("has a comment (#)", "remove the comment; write one entry per list item")
        else:
            current += char
    if quoted:
        raise HbaError("has an unclosed double quote")
    if current:
        tokens.append(current)
    return tokens


def _names(token, what):
    if not _NAME_RE.match(token):
        raise HbaError("%s %r is not a name list" % (what, _short(token, 40)), 'write names separated by commas, quoted with " if needed')
    for part in token.split(","):
        if part.startswith("@"):
            raise HbaError("%s %r refers to a file (@); pgfleet does not let a manifest make the server read files" % (what, _short(part, 40)),
                           "list the names instead")
    return token


def _address(tokens):
    """``(address, mask, rest)``: CIDR, IP + mask, a host name or a keyword."""
    token = tokens[0]
    if token in _ADDRESS_WORDS:
        return token, None, tokens[1:]
    if "/" in token:
        try:
            ipaddress.ip_network(token, strict=False)
        except ValueError:
            raise HbaError("%r is not a CIDR address" % _short(token, 60), "write e.g. 10.0.0.0/8 or fd00::/8") from None
        return token, None, tokens[1:]
    try:
        ip = ipaddress.ip_address(token)
    except ValueError:
        ip = None
    if ip is not None:
        if len(tokens) < 2:
            raise HbaError("the address %s has no mask" % token, "write a CIDR such as %s/32, or add the mask" % token)
        try:
            ipaddress.ip_network("%s/%s" % (token, tokens[1]), strict=False)
        except ValueError:
            raise HbaError("%r is not a network mask for %s" % (_short(tokens[1], 60), token), "write a CIDR instead, e.g. 10.0.0.0/8") from None
        return token, tokens[1], tokens[2:]
    if len(token) <= 253 and _HOSTNAME_RE.match(token):
        return token, None, tokens[1:]
    raise HbaError("%r is not an address" % _short(token, 60), "write a CIDR, an IP and mask, a host name, all, samehost or samenet")


def _kind(value):
    if isinstance(value, dict):
        return "a map"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    return "a number" if isinstance(value, (int, float)) else "a value"


def parse_entry(text):
    """One ``pg_hba.conf`` line as a dict; raises :class:`HbaError`."""
    if not isinstance(text, str):
        raise HbaError("must be a string, got %s" % _kind(text), "quote the line")
    if len(text) > MAX_ENTRY_LENGTH:
        raise HbaError("is %d characters long" % len(text), "keep an entry under %d characters" % MAX_ENTRY_LENGTH)
    if _CONTROL_RE.sub("", text.replace("\t", " ")) != text.replace("\t", " "):
        raise HbaError("holds a newline or another control character, so it would become more than one pg_hba.conf line",
                       "write one entry per list item")
    tokens = _tokens(text)
    if not tokens:
        raise HbaError("is empty")
    kind = tokens[0]
    if kind.startswith("include"):
        raise HbaError("%r directives make the server read other files; pgfleet refuses them" % kind, "write the entries themselves")
    if kind not in TYPES:
        raise HbaError("%r is not a connection type" % _short(kind, 40), "start with one of %s" % ", ".join(TYPES))
    if len(tokens) < (4 if kind == "local" else 5):
        raise HbaError("has too few fields for a %s entry" % kind, FIX)
    database = _names(tokens[1], "database")
    user = _names(tokens[2], "user")
    rest = tokens[3:]
    address = mask = None
    if kind != "local":
        address, mask, rest = _address(rest)
    if not rest:
        raise HbaError("has no authentication method", "end with one of %s" % ", ".join(METHODS))
    method = rest[0]
    if method not in METHODS:
        raise HbaError("%r is not an authentication method" % _short(method, 40), "use one of %s" % ", ".join(METHODS))
    options = rest[1:]
    for option in options:
        if not _OPTION_RE.match(option):
            raise HbaError("%r is not an option (name=value)" % _short(option, 40), "write options as name=value after the method")
    return {"type": kind, "database": database, "user": user, "address": address, "mask": mask, "method": method, "options": options}


def is_local(entry):
    """True for the Unix socket and loopback addresses (where ``trust`` reaches only this machine's users)."""
    if entry["type"] == "local":
        return True
    address = entry["address"]
    if address in ("samehost", "localhost"):
        return True
    try:
        net = ipaddress.ip_network(address if entry["mask"] is None else "%s/%s" % (address, entry["mask"]), strict=False)
    except ValueError:
        return False
    return any(net.version == ipaddress.ip_network(lo).version and net.subnet_of(ipaddress.ip_network(lo)) for lo in _LOOPBACK)


def check_entries(entries, field="spec.patroni.pg_hba", allow_trust=False):
    """``(errors, warnings)`` for a list of entries; errors are ``(field, problem, fix)``."""
    errors = []
    warnings = []
    if entries is None:
        return errors, warnings
    if not isinstance(entries, list):
        return [(field, "must be a list of pg_hba.conf lines", 'write e.g. ["hostssl all all 0.0.0.0/0 scram-sha-256"]')], warnings
    if len(entries) > MAX_ENTRIES:
        return [(field, "has %d entries" % len(entries), "keep at most %d" % MAX_ENTRIES)], warnings
    for i, text in enumerate(entries):
        where = "%s[%d]" % (field, i)
        try:
            entry = parse_entry(text)
        except HbaError as exc:
            errors.append((where, exc.problem, exc.fix))
            continue
        if entry["method"] == "trust" and not is_local(entry):
            if allow_trust:
                warnings.append("%s: trust on %s lets anyone who reaches that address in without a password (allowed by the %s annotation)"
                                % (where, entry["address"], ALLOW_TRUST_ANNOTATION))
            else:
                errors.append((where, "trust on %s lets anyone who reaches that address in without a password" % entry["address"],
                               'use scram-sha-256, or set the annotation %s: "true" on the manifest to accept the risk'
                               % ALLOW_TRUST_ANNOTATION))
    return errors, warnings
