# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Passwords, credential secret names and credential secret payloads.

This is the only place in the collection that makes a password: the render path (the manifest
model) and the SQL modules both call :func:`generate_password`.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import secrets as _secrets
import string

PASSWORD_LENGTH = 64
PASSWORD_ALPHABET = string.ascii_letters + string.digits

#: Placeholders of ``secret_name_template`` besides ``{username}`` and ``{cluster}``.
TPR_KIND = "postgresql"
TPR_GROUP = "acid.zalan.do"
DEFAULT_SECRET_NAME_TEMPLATE = "{username}.{cluster}.credentials.{tprkind}.{tprgroup}"


#: Random bytes below this map evenly onto the alphabet (4 bytes per character); the rest are dropped.
_EVEN_BYTES = 256 - 256 % len(PASSWORD_ALPHABET)


def generate_password(length=PASSWORD_LENGTH):
    """``length`` characters from ``[a-zA-Z0-9]``, from the operating system's CSPRNG, each equally likely.

    Bytes are drawn in blocks and those at or above :data:`_EVEN_BYTES` rejected, so every character
    has the same chance (one ``secrets.choice`` per character costs a system call each: a second for
    10,000 users)."""
    chars = []
    while len(chars) < length:
        chars.extend(PASSWORD_ALPHABET[b % len(PASSWORD_ALPHABET)] for b in bytearray(_secrets.token_bytes(length + 8)) if b < _EVEN_BYTES)
    return "".join(chars[:length])


def _template(config):
    if config is None:
        return DEFAULT_SECRET_NAME_TEMPLATE
    if isinstance(config, str):
        return config
    return config.get("secret_name_template") or DEFAULT_SECRET_NAME_TEMPLATE


def secret_name(username, cluster, config=None, namespace=None):
    """Name of the credential secret of ``username`` in ``cluster``.

    ``config`` is the operator configuration (or the template string itself). In the username
    part ``_`` becomes ``-`` (Secret names allow no underscores). The name is lower-cased, as
    Kubernetes requires. The username is used whole: a cross-namespace user ``ns.user`` keeps
    its ``ns.`` prefix in the name (Zalando does the same). ``{namespace}`` is also substituted
    when ``namespace`` is given (a pgfleet extension; Zalando has no such placeholder).
    """
    name = _template(config)
    values = {
        "username": username.replace("_", "-"),
        "cluster": cluster,
        "tprkind": TPR_KIND,
        "tprgroup": TPR_GROUP,
    }
    if namespace is not None:
        values["namespace"] = namespace
    for key, value in values.items():
        name = name.replace("{%s}" % key, value)
    return name.lower()


def secret_namespace(username, namespace, config=None):
    """Namespace of the credential secret: ``ns`` for ``ns.user`` when cross-namespace secrets are on."""
    if config is not None and config.get("enable_cross_namespace_secret") and "." in username:
        return username.split(".", 1)[0]
    return namespace


def _b64(value):
    return base64.b64encode(value.encode("utf-8")).decode("ascii")


def decode_secret_data(secret):
    """Plain-text ``{"username", "password", ...}`` from a v1 Secret (``data`` base64, or ``stringData``)."""
    result = {}
    for key, value in (secret.get("data") or {}).items():
        result[key] = base64.b64decode(value).decode("utf-8") if value is not None else None
    for key, value in (secret.get("stringData") or {}).items():
        result[key] = value
    return result


def credential_secret(name, namespace, username, password, labels=None, annotations=None,
                      owner_references=None, next_rotation=None):
    """A v1 ``Secret`` (type Opaque) holding ``username`` and ``password`` (base64 ``data``).

    ``next_rotation`` (an RFC 3339 string) adds ``data.nextRotation``. Labels and annotations are
    copied; empty ones are left out of ``metadata``.
    """
    metadata = {"name": name, "namespace": namespace}
    if labels:
        metadata["labels"] = dict(labels)
    if annotations:
        metadata["annotations"] = dict(annotations)
    if owner_references:
        metadata["ownerReferences"] = [dict(ref) for ref in owner_references]
    data = {"username": _b64(username), "password": _b64(password)}
    if next_rotation:
        data["nextRotation"] = _b64(next_rotation)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": "Opaque",
        "data": data,
    }
