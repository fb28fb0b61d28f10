# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""The checks at the door: bounds and syntax a manifest must pass before any other rule reads it.

:func:`check_door` runs first in ``build_model`` (render, local and reconcile alike). It bounds
every count and size (so no later rule loops over a million users or quotes a megabyte back),
checks what Kubernetes would refuse (names, namespace, label and annotation syntax and sizes,
toleration enums, int32 counts), and checks the strings that end up in a file or a command line
of the server: ``postgresql.parameters`` (per major version, ``postgres/gucs.py``),
``patroni.pg_hba`` (``model/pg_hba.py``), ``patroni.initdb`` options, standby and clone sources.
Every problem names the ``metadata.``/``spec.`` field and the fix; quoted values are cut.

It also returns a plain copy of the manifest (``str``, ``int``, ``dict``, ``list``: no
``AnsibleUnsafeText`` reaches a message).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.pgfleet.postgres.plugins.module_utils.model import loader, pg_hba
from ansible_collections.pgfleet.postgres.plugins.module_utils.postgres import gucs

INT32_MAX = 2 ** 31 - 1
#: Most Postgres members one cluster may ask for (a StatefulSet allows int32; Patroni clusters stay far below).
MAX_INSTANCES = 100
#: Longest string anywhere in a manifest (one annotation may be this long; the total is bounded too).
MAX_STRING = 256 * 1024
#: Longest mapping key anywhere (an annotation key: 253-character prefix, '/', 63-character name).
MAX_KEY = 317
#: Kubernetes' limit for all annotations of one object together.
MAX_ANNOTATIONS_BYTES = 256 * 1024
#: Most users one cluster may list: 10,000 is what render and reconcile are measured at
#: (benchmarks/render_bench.py --users 10000); each one is a role and a credential Secret.
MAX_USERS = 10000
MAX_LIST = {
    "users": MAX_USERS, "databases": 1000, "preparedDatabases": 100, "env": 500, "envFrom": 100, "sidecars": 50,
    "initContainers": 50, "additionalVolumes": 100, "tolerations": 100, "maintenanceWindows": 50,
    "allowedSourceRanges": 1000, "streams": 100, "topologySpreadConstraints": 20, "usersWithSecretRotation": MAX_USERS,
    "usersWithInPlaceSecretRotation": MAX_USERS, "usersIgnoringSecretRotation": MAX_USERS,
}
MAX_PARAMETERS = 1000
MAX_FLAGS = 20

DNS1123_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_NAME_RE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
OWNER_RE = re.compile(r"^[a-z0-9_]([-_a-z0-9.]*[a-z0-9_])?$")
ENV_NAME_RE = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
INITDB_OPTION_RE = re.compile(r"^[a-z][-a-z0-9]*$")
HOST_RE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.:]*[A-Za-z0-9])?$|^\[[0-9A-Fa-f:.]+\]$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_NUL_RE = re.compile(r"\x00")
_ASTRAL_RE = re.compile(u"[\U00010000-\U0010ffff\ud800-\udfff]")

TOLERATION_OPERATORS = ("Exists", "Equal")
TOLERATION_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


def short(value, limit=60):
    """A value for a message: one line, at most ``limit`` characters, and how long it really was."""
    text = value if isinstance(value, str) else repr(value)
    text = text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    text = _CONTROL_RE.sub("?", text)
    if len(text) > limit:
        return "'%s...' (%d characters)" % (text[:limit], len(value) if isinstance(value, str) else len(text))
    return "'%s'" % text


def type_name(value):
    """The YAML word for a value's type (never a Python class name such as AnsibleUnsafeText)."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a decimal number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a map"
    if isinstance(value, (list, tuple)):
        return "a list"
    return "an unsupported value"


def plain(value):
    """A copy made of plain types only (see ``loader.plain``)."""
    return loader.plain(value)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _key(field, key):
    if not field:
        return key if isinstance(key, str) and len(key) <= 80 and not _CONTROL_RE.search(key) else short(key, 40)
    return "%s.%s" % (field, key if isinstance(key, str) and len(key) <= 80 and not _CONTROL_RE.search(key) else short(key, 40))


# --------------------------------------------------------------------------------------------
# The walk: sizes of every string and key, bounded before anything looks at them


def _walk(value, field, p, budget):
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and len(key) > MAX_KEY:
                p.error(_key(field, key), "the key is %d characters long" % len(key), "use a key of at most %d characters" % MAX_KEY)
                continue
            if isinstance(key, str) and (_NUL_RE.search(key) or _ASTRAL_RE.search(key)):
                p.error(_key(field, key), "the key holds a NUL character, an emoji or a lone surrogate", "remove that character")
                continue
            _walk(item, _key(field, key), p, budget)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _walk(item, "%s[%d]" % (field, i), p, budget)
    elif isinstance(value, str):
        budget[0] += len(value)
        if len(value) > MAX_STRING:
            p.error(field, "the value is %d characters long" % len(value), "keep it under %d characters" % MAX_STRING)
        elif _NUL_RE.search(value):
            p.error(field, "the value %s holds a NUL character" % short(value), "remove it")
        elif _ASTRAL_RE.search(value):
            p.error(field, "the value %s holds a character outside the Basic Multilingual Plane (e.g. an emoji) or a lone surrogate, "
                    "which the rendered YAML cannot carry" % short(value), "remove that character")
    elif _is_int(value) and abs(value) > 2 ** 63 - 1:
        p.error(field, "%s does not fit in 64 bits" % short(str(value), 30), "write a smaller number")


# --------------------------------------------------------------------------------------------
# metadata


def _check_qualified_key(key, field, p, what):
    """A label or annotation key: ``[prefix/]name``, prefix a DNS subdomain <= 253, name <= 63."""
    if not isinstance(key, str) or not key:
        p.error(field, "%s keys must be non-empty strings" % what, "write key: value")
        return
    prefix, _sep, name = key.rpartition("/")
    ok = bool(LABEL_NAME_RE.match(name)) and len(name) <= 63
    if prefix or _sep:
        ok = ok and bool(prefix) and len(prefix) <= 253 and bool(DNS1123_SUBDOMAIN_RE.match(prefix))
    if not ok:
        p.error(_key(field, key), "%s is not a valid %s key" % (short(key), what),
                "write [prefix/]name: name at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter "
                "or digit; prefix a lower-case DNS name")


def _check_metadata(metadata, p):
    namespace = metadata.get("namespace")
    if namespace is not None and namespace != "":
        if not isinstance(namespace, str) or len(namespace) > 63 or not DNS1123_LABEL_RE.match(namespace):
            p.error("metadata.namespace", "%s is not a namespace name" % short(namespace),
                    "use at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit")
    name = metadata.get("name")
    if isinstance(name, str) and len(name) > 253:
        p.error("metadata.name", "is %d characters long" % len(name), "use a name of at most 58 characters")
    labels = metadata.get("labels")
    if isinstance(labels, dict):
        for key, value in labels.items():
            _check_qualified_key(key, "metadata.labels", p, "label")
            if isinstance(value, str) and (len(value) > 63 or not LABEL_VALUE_RE.match(value)):
                p.error(_key("metadata.labels", key), "%s is not a valid label value" % short(value),
                        "use at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit")
    annotations = metadata.get("annotations")
    if isinstance(annotations, dict):
        _check_annotations(annotations, "metadata.annotations", p)


def _check_annotations(annotations, field, p):
    total = 0
    for key, value in annotations.items():
        _check_qualified_key(key, field, p, "annotation")
        total += len(str(key).encode("utf-8")) + len(str(value).encode("utf-8") if value is not None else b"")
    if total > MAX_ANNOTATIONS_BYTES:
        p.error(field, "the annotations are %d bytes together; Kubernetes accepts at most %d" % (total, MAX_ANNOTATIONS_BYTES),
                "shorten or remove annotations")


# --------------------------------------------------------------------------------------------
# spec


def _check_counts(spec, p):
    n = spec.get("numberOfInstances")
    if _is_int(n) and n > MAX_INSTANCES:
        p.error("spec.numberOfInstances", "%s is more than the %d members pgfleet runs in one cluster" % (short(str(n), 30), MAX_INSTANCES),
                "write a number between 0 and %d" % MAX_INSTANCES)
    pooler = spec.get("connectionPooler")
    if isinstance(pooler, dict):
        n = pooler.get("numberOfInstances")
        if _is_int(n) and n > MAX_INSTANCES:
            p.error("spec.connectionPooler.numberOfInstances", "%s is more than %d pooler instances" % (short(str(n), 30), MAX_INSTANCES),
                    "write a number between 1 and %d" % MAX_INSTANCES)
        n = pooler.get("maxDBConnections")
        if _is_int(n) and n > INT32_MAX:
            p.error("spec.connectionPooler.maxDBConnections", "%s does not fit in 32 bits" % short(str(n), 30), "write e.g. 60")
    for key in ("spiloRunAsUser", "spiloRunAsGroup", "spiloFSGroup", "masterNodePort", "replicaNodePort"):
        n = spec.get(key)
        if _is_int(n) and n > INT32_MAX:
            p.error("spec.%s" % key, "%s does not fit in 32 bits" % short(str(n), 30), "write a smaller number")
    patroni = spec.get("patroni")
    if isinstance(patroni, dict):
        for key in ("ttl", "loop_wait", "retry_timeout", "maximum_lag_on_failover", "synchronous_node_count"):
            n = patroni.get(key)
            if _is_int(n) and n > INT32_MAX:
                p.error("spec.patroni.%s" % key, "%s does not fit in 32 bits" % short(str(n), 30), "write a smaller number")
    for key, limit in sorted(MAX_LIST.items()):
        value = spec.get(key)
        if isinstance(value, (list, dict)) and len(value) > limit:
            p.error("spec.%s" % key, "has %d entries" % len(value), "keep at most %d" % limit)
    users = spec.get("users")
    if isinstance(users, dict):
        for name, flags in users.items():
            if isinstance(flags, list) and len(flags) > MAX_FLAGS:
                p.error(_key("spec.users", name), "has %d flags" % len(flags), "list each flag once (at most %d)" % MAX_FLAGS)
    team = spec.get("teamId")
    if isinstance(team, str) and 63 < len(team) <= MAX_STRING:
        p.error("spec.teamId", "%s is %d characters; a team id becomes a label value of at most 63" % (short(team), len(team)),
                "use a shorter team id")


def _check_owners(spec, p):
    databases = spec.get("databases")
    if not isinstance(databases, dict):
        return
    for db, owner in databases.items():
        if isinstance(owner, str) and (len(owner) > 63 or not OWNER_RE.match(owner)):
            p.error(_key("spec.databases", db), "the owner %s is not a role name" % short(owner),
                    "write <database>: <owner role> with a role named in spec.users (lower-case letters, digits, '_', '-')")


def _check_tolerations(spec, p):
    tolerations = spec.get("tolerations")
    if not isinstance(tolerations, list):
        return
    for i, item in enumerate(tolerations):
        field = "spec.tolerations[%d]" % i
        if not isinstance(item, dict):
            continue  # the list rule says it must be an object
        key, operator, value, effect = (item.get(k) for k in ("key", "operator", "value", "effect"))
        if operator not in (None, "") and operator not in TOLERATION_OPERATORS:
            p.error(field + ".operator", "%s is not a toleration operator" % short(operator), "write Exists or Equal")
        if effect not in (None, "") and effect not in TOLERATION_EFFECTS:
            p.error(field + ".effect", "%s is not a taint effect" % short(effect), "write NoSchedule, PreferNoSchedule or NoExecute (or leave it out)")
        if key not in (None, ""):
            if not isinstance(key, str):
                p.error(field + ".key", "must be a string, got %s" % type_name(key), "quote the key")
            else:
                _check_qualified_key(key, field + ".key", p, "taint")
        elif operator != "Exists":
            p.error(field + ".key", "an empty key matches every taint only with operator Exists", "add key: or write operator: Exists")
        if value not in (None, ""):
            if operator == "Exists":
                p.error(field + ".value", "must be empty with operator Exists", "remove value: or write operator: Equal")
            elif not isinstance(value, str) or len(value) > 63 or not LABEL_VALUE_RE.match(value):
                p.error(field + ".value", "%s is not a valid taint value" % short(value),
                        "use at most 63 letters, digits, '-', '_' or '.', quoted")
        seconds = item.get("tolerationSeconds")
        if seconds is not None:
            if not _is_int(seconds) or abs(seconds) > 2 ** 63 - 1:
                p.error(field + ".tolerationSeconds", "%s is not a whole number of seconds" % short(str(seconds), 30), "write e.g. 300")
            elif effect != "NoExecute":
                p.error(field + ".tolerationSeconds", "is only allowed with effect NoExecute", "remove it or write effect: NoExecute")


def _check_annotation_maps(spec, p):
    for key in ("podAnnotations", "serviceAnnotations", "masterServiceAnnotations", "replicaServiceAnnotations"):
        value = spec.get(key)
        if isinstance(value, dict):
            _check_annotations(value, "spec.%s" % key, p)


def _check_env_names(spec, p):
    containers = [("spec.env", spec.get("env"))]
    for key in ("sidecars", "initContainers"):
        items = spec.get(key)
        if isinstance(items, list):
            containers += [("spec.%s[%d].env" % (key, i), c.get("env")) for i, c in enumerate(items) if isinstance(c, dict)]
    for field, env in containers:
        if not isinstance(env, list):
            continue
        for i, item in enumerate(env):
            name = item.get("name") if isinstance(item, dict) else None
            if isinstance(name, str) and name and (len(name) > 253 or not ENV_NAME_RE.match(name)):
                p.error("%s[%d].name" % (field, i), "%s is not an environment variable name" % short(name),
                        "use letters, digits, '_', '-' and '.', not starting with a digit")


def _check_parameters(spec, p):
    pg = spec.get("postgresql")
    if not isinstance(pg, dict) or not isinstance(pg.get("parameters"), dict):
        return
    params = pg["parameters"]
    if len(params) > MAX_PARAMETERS:
        p.error("spec.postgresql.parameters", "has %d entries" % len(params), "keep at most %d" % MAX_PARAMETERS)
        return
    version = pg.get("version")
    major = str(int(version)) if _is_int(version) else str(version) if isinstance(version, (str, float)) else None
    if isinstance(version, float) and version == int(version):
        major = str(int(version))
    for name, value in params.items():
        found = gucs.parameter_check(name, value, major)
        if found:
            p.error(_key("spec.postgresql.parameters", name), found[0], found[1])
    if params and major and not gucs.has_table(major):
        p.warn("spec.postgresql.parameters: pgfleet has no settings table for PostgreSQL %s; names and one-line values are checked, "
               "types and ranges only by PostgreSQL when it starts" % (major if len(major) < 10 else "?"))


def _check_patroni_strings(spec, cr_annotations, p):
    patroni = spec.get("patroni")
    if not isinstance(patroni, dict):
        return
    allow = str((cr_annotations or {}).get(pg_hba.ALLOW_TRUST_ANNOTATION, "")).lower() == "true"
    errors, warnings = pg_hba.check_entries(patroni.get("pg_hba"), "spec.patroni.pg_hba", allow)
    for field, problem, fix in errors:
        p.error(field, problem, fix)
    for line in warnings:
        p.warn(line)
    initdb = patroni.get("initdb")
    if isinstance(initdb, dict):
        for key, value in initdb.items():
            field = _key("spec.patroni.initdb", key)
            if not isinstance(key, str) or not INITDB_OPTION_RE.match(key) or len(key) > 63:
                p.error(field, "%s is not an initdb option name" % short(key), "write the long option without dashes, e.g. encoding, locale")
            elif isinstance(value, str) and (_CONTROL_RE.search(value) or len(value) > 1024):
                p.error(field, "the value %s holds a newline or another control character, or is too long" % short(value),
                        "write one short line, e.g. UTF8")


def _check_sources(spec, p):
    standby = spec.get("standby")
    if isinstance(standby, dict):
        host = standby.get("standby_host")
        if host not in (None, "") and (not isinstance(host, str) or len(host) > 253 or not HOST_RE.match(host)):
            p.error("spec.standby.standby_host", "%s is not a host name or IP address" % short(host),
                    "write a host name or IP address only (no spaces, quotes or options)")
        for key in ("s3_wal_path", "gs_wal_path"):
            _one_token(standby.get(key), "spec.standby.%s" % key, p)
    clone = spec.get("clone")
    if isinstance(clone, dict):
        for key in ("s3_wal_path", "s3_endpoint", "s3_access_key_id", "s3_secret_access_key"):
            _one_token(clone.get(key), "spec.clone.%s" % key, p)


def _check_quantities(spec, p):
    """Sizes and CPU amounts are one token (a regex ending in ``$`` would let a trailing newline through)."""
    places = [("spec.volume.size", (spec.get("volume") or {}).get("size") if isinstance(spec.get("volume"), dict) else None)]
    for base, resources in (("spec.resources", spec.get("resources")),
                            ("spec.connectionPooler.resources", (spec.get("connectionPooler") or {}).get("resources")
                             if isinstance(spec.get("connectionPooler"), dict) else None)):
        if not isinstance(resources, dict):
            continue
        for kind in ("requests", "limits"):
            section = resources.get(kind)
            if isinstance(section, dict):
                places += [("%s.%s.%s" % (base, kind, key), value) for key, value in section.items()]
    for field, value in places:
        if isinstance(value, str) and re.search(r"[\s\x00-\x1f\x7f]", value):
            p.error(field, "%s holds a space, newline or control character" % short(value, 40), 'write a quantity such as "1Gi" or "500m"')


def _one_token(value, field, p):
    if value in (None, ""):
        return
    if not isinstance(value, str) or len(value) > 1024 or re.search(r"[\s\x00-\x1f\x7f]", value):
        p.error(field, "%s must be one word without spaces or control characters" % short(value, 40), "write the URL or path only")


# --------------------------------------------------------------------------------------------


def check_door(cr, cfg, p):
    """Check ``cr`` (the whole ``postgresql`` object) at the door; returns a plain copy of it.

    ``cfg`` is the typed operator configuration (unused today; kept so a bound may come from it).
    Problems go to ``p`` (``p.error(field, problem, fix)``, ``p.warn(text)``).
    """
    cr = plain(cr)
    if not isinstance(cr, dict):
        return cr
    budget = [0]
    _walk(cr, "", p, budget)
    metadata = cr.get("metadata")
    spec = cr.get("spec")
    if isinstance(metadata, dict):
        _check_metadata(metadata, p)
    if isinstance(spec, dict):
        _check_counts(spec, p)
        _check_owners(spec, p)
        _check_tolerations(spec, p)
        _check_annotation_maps(spec, p)
        _check_env_names(spec, p)
        _check_parameters(spec, p)
        _check_patroni_strings(spec, (metadata or {}).get("annotations") if isinstance(metadata, dict) else {}, p)
        _check_sources(spec, p)
        _check_quantities(spec, p)
    return cr
