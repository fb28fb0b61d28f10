# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Password rotation: pure planning of new credentials, driven by time read from the secrets.

See docs/design/credentials.md. The planner takes the desired roles of the manifest model, the
current content of their credential secrets (``username``, ``password``, ``nextRotation``,
``rotatedAt``), the role names that exist in the catalog, a policy and ``now``; it returns

* the desired roles to hand to the role sync (the parent's password left alone or removed, the
  current rotation user, previous rotation users within or past the grace period);
* the new content of every secret that must change, to be written only after the role sync
  committed (a reader of a secret never sees a password PostgreSQL refuses);
* rotation users past the retention date, to drop.

No clock is read here: ``now`` is always given (tests drive time through ``nextRotation``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import datetime
import re

from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import ManifestError
from ansible_collections.pgfleet.postgres.plugins.module_utils.model.secrets import generate_password

UTC = datetime.timezone.utc
DAY = 86400
#: A rotation user is the parent's name plus six characters, the creation date as YYMMDD.
SUFFIX_RE = re.compile(r"^[0-9]{6}$")
MAX_NAME_BYTES = 63
#: Origins whose roles rotate when rotation is switched on for the whole cluster.
ROTATABLE_ORIGINS = ("manifest", "prepared")
#: Origins that never rotate (their passwords come from elsewhere, or they have none).
NEVER_ROTATED_ORIGINS = ("infrastructure", "teams")
#: Annotations of the postgresql object (per-cluster switches).
ANNOTATION_SWITCH = "pgfleet.io/password-rotation"
ANNOTATION_SYSTEM = "pgfleet.io/password-rotation-system-users"
ANNOTATION_GRACE = "pgfleet.io/password-rotation-grace"
DEFAULT_GRACE = DAY
_DURATION_RE = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


class RotationError(ManifestError):
    """A policy value that cannot be used: ``field`` names it, ``fix`` says what to write."""


# --- time ---------------------------------------------------------------------------------------


def parse_time(text):
    """RFC 3339 text -> aware UTC datetime; None for empty or unreadable text."""
    if not isinstance(text, str) or not text.strip():
        return None
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_time(moment):
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def as_utc(moment):
    """``now`` as an aware UTC datetime (a naive one is taken as UTC; RFC 3339 text is parsed)."""
    if isinstance(moment, str):
        parsed = parse_time(moment)
        if parsed is None:
            raise RotationError("now", "%r is not an RFC 3339 time" % moment, "write for example 2026-12-03T20:00:00Z")
        return parsed
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_duration(text):
    """``"1d"``, ``"36h"``, ``"90m"``, ``"3600"`` (seconds) -> seconds."""
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    value = str(text).strip()
    if value.isdigit():
        return int(value)
    match = _DURATION_RE.match(value)
    if not value or not match or not any(match.groups()):
        raise ValueError("%r is not a duration" % (text,))
    d, h, m, s = (int(g or 0) for g in match.groups())
    return ((d * 24 + h) * 60 + m) * 60 + s


def rotation_user(parent, moment):
    return parent + moment.strftime("%y%m%d")


def rotation_date(parent, name):
    """The creation date of rotation user ``name`` of ``parent``, or None if it is not one."""
    if not name.startswith(parent) or not SUFFIX_RE.match(name[len(parent):]):
        return None
    try:
        return datetime.datetime.strptime(name[len(parent):], "%y%m%d").replace(tzinfo=UTC)
    except ValueError:
        return None


# --- policy -------------------------------------------------------------------------------------


def _on_off(value, field):
    text = str(value).strip().lower()
    if text in ("on", "true", "yes", "1", "enabled"):
        return True
    if text in ("off", "false", "no", "0", "disabled"):
        return False
    raise RotationError(field, "%r is neither on nor off" % (value,), 'write "on" or "off"')


MAX_DAYS = 36500  # a hundred years: beyond that a date overflows, and no one means it


def _days(config, key, default):
    """A whole number of days from the operator configuration (a caller may pass it untyped)."""
    value = config.get(key)
    if value in (None, ""):
        return default
    if isinstance(value, bool):
        value = "%s" % value
    text = str(value).strip()
    if not text.lstrip("-").isdigit() or len(text) > 6 or int(text) > MAX_DAYS:
        raise RotationError("config.%s" % key, "%r is not a whole number of days up to %d" % (text[:40], MAX_DAYS),
                            "give a number of days, for example %d" % default)
    return int(text)


def policy_from(config, spec, annotations=None):
    """The rotation policy of one cluster from the operator configuration (flat, typed), the
    manifest ``spec`` and the annotations of the ``postgresql`` object. Raises ``RotationError``."""
    config = config or {}
    spec = spec or {}
    annotations = annotations or {}
    enabled = bool(config.get("enable_password_rotation"))
    switch = annotations.get(ANNOTATION_SWITCH)
    cluster_switch = None
    if switch not in (None, ""):
        cluster_switch = _on_off(switch, "metadata.annotations.%s" % ANNOTATION_SWITCH)
    interval = _days(config, "password_rotation_interval", 90)
    if interval < 1:
        raise RotationError("config.password_rotation_interval", "must be at least 1 day, got %d" % interval,
                            "give a number of days, 1 or more")
    retention = max(_days(config, "password_rotation_user_retention", 180), 2 * interval)
    grace = DEFAULT_GRACE
    if annotations.get(ANNOTATION_GRACE) not in (None, ""):
        try:
            grace = parse_duration(annotations[ANNOTATION_GRACE])
        except ValueError:
            raise RotationError("metadata.annotations.%s" % ANNOTATION_GRACE,
                                "%r is not a duration" % (annotations[ANNOTATION_GRACE],),
                                "write for example 12h, 1d or 3600 (seconds)") from None
    # the previous credential must be gone before the next rotation
    grace = min(grace, interval * DAY // 2)
    system = [n.strip() for n in str(annotations.get(ANNOTATION_SYSTEM) or "").split(",") if n.strip()]

    def names(key):
        return [n for n in (spec.get(key) or []) if isinstance(n, str)]

    return {
        "enabled": enabled if cluster_switch is None else cluster_switch,
        "cluster_switch": cluster_switch,
        "interval": interval * DAY,
        "retention": retention * DAY,
        "grace": grace,
        "users": names("usersWithSecretRotation"),
        "in_place": names("usersWithInPlaceSecretRotation"),
        "ignoring": names("usersIgnoringSecretRotation"),
        "system_allowed": system,
        "protected": [config.get("super_username") or "postgres", config.get("replication_username") or "standby"],
        "standby": bool(spec.get("standby")),
    }


def mode_of(role, policy):
    """``"user"`` (rotation by new user), ``"in_place"`` or None, with the reason when None."""
    name, origin = role["name"], role.get("origin")
    if policy.get("cluster_switch") is False:
        return None, "rotation is switched off for this cluster"
    if policy.get("standby"):
        return None, "standby cluster"
    if not role.get("secret") or "LOGIN" not in (role.get("flags") or []):
        return None, "no credential secret"
    if name in policy["ignoring"]:
        return None, "listed in usersIgnoringSecretRotation"
    if origin in NEVER_ROTATED_ORIGINS:
        return None, "%s roles are never rotated" % origin
    if origin not in ROTATABLE_ORIGINS or name in policy["protected"]:
        # system, pooler and stream users: in place, and only when this cluster asks for it
        if name in policy["in_place"] and name in policy["system_allowed"]:
            return "in_place", None
        return None, "a system user rotates only when listed both in usersWithInPlaceSecretRotation and in " \
                     "annotation %s" % ANNOTATION_SYSTEM
    if name in policy["in_place"]:
        return "in_place", None
    if name in policy["users"]:
        return "user", None
    if policy["enabled"] and not role.get("is_db_owner"):
        return "user", None
    return None, "not selected for rotation"


# --- plan ---------------------------------------------------------------------------------------


class RotationPlan(object):
    """``roles`` for the role sync, ``secrets`` to write afterwards ({role: content}), ``drop``
    (expired rotation users), ``events`` (one line per rotation, never a password)."""

    def __init__(self):
        self.roles = []
        self.secrets = {}
        self.drop = []
        self.events = []
        self.warnings = []


def _rotation_role(name, parent, role, login, password):
    parameters = dict(role.get("parameters") or {})
    # sessions of a rotation user run as the parent: same identity, objects owned by the parent
    parameters["role"] = parent
    return {
        "name": name,
        "origin": "rotation",
        "flags": ["LOGIN"] if login else [],
        "member_of": [parent],
        "admin": None,
        "parameters": parameters,
        "password": password,
    }


def plan_rotation(roles, secrets, live_names, policy, now, password_factory=generate_password):
    """Plan the rotation of every role of ``roles`` (model role dicts). ``secrets`` maps a role
    name to its current secret content (decoded), ``live_names`` are the role names in the
    catalog, ``now`` an aware datetime (or RFC 3339 text)."""
    now = as_utc(now)
    plan = RotationPlan()
    desired_names = {r["name"] for r in roles}
    live_names = set(live_names or ())
    extra = []
    for role in roles:
        role = dict(role)
        plan.roles.append(role)
        name = role["name"]
        if not role.get("secret"):
            continue
        # no secret yet: the render writes the role's own name and password
        current = dict(secrets.get(name) or {"username": name, "password": role.get("password")})
        username = current.get("username") or name
        password = current.get("password") or role.get("password")
        out = {
            "username": username,
            "password": password,
            "nextRotation": current.get("nextRotation") or None,
            "rotatedAt": current.get("rotatedAt") or None,
        }
        mode, reason = mode_of(role, policy)
        due = now + datetime.timedelta(seconds=policy["interval"])
        if mode is None:
            if username != name:
                # rotation switched off after a rotation by new user: back to the role's own name
                out.update(username=name, password=password_factory(), nextRotation=None, rotatedAt=format_time(now))
                plan.events.append("%s: rotation off (%s); the secret holds the role's own name again" % (name, reason))
        else:
            next_at = parse_time(out["nextRotation"])
            if next_at is None or next_at > due:
                out["nextRotation"] = format_time(due)
            elif now >= next_at:
                new_name = name
                if mode == "user":
                    new_name = rotation_user(name, now)
                    if len(new_name.encode("utf-8")) > MAX_NAME_BYTES or new_name in desired_names:
                        plan.warnings.append("%s: no rotation user %r possible (too long or taken); rotated in place"
                                             % (name, new_name))
                        new_name = name
                out.update(username=new_name, password=password_factory(), nextRotation=format_time(due),
                           rotatedAt=format_time(now))
                plan.events.append("%s: password rotated%s" % (
                    name, " in place" if new_name == name else ", new user %s" % new_name))
            elif mode == "in_place" and username != name:
                out.update(username=name, password=password_factory(), rotatedAt=format_time(now))
                plan.events.append("%s: switched to in-place rotation" % name)
        if out["username"] != name and not out["rotatedAt"]:
            out["rotatedAt"] = format_time(now)  # a rotation made elsewhere: the grace period starts now
        rotated_at = parse_time(out["rotatedAt"])
        in_grace = rotated_at is not None and now < rotated_at + datetime.timedelta(seconds=policy["grace"])

        if out["username"] == name:
            role["password"] = out["password"]
        else:
            # the parent's own password is the previous credential: kept during the grace period
            role["password"] = None
            if not in_grace:
                role["no_password"] = True
            extra.append(_rotation_role(out["username"], name, role, True, out["password"]))
        # earlier rotation users: usable during the grace period, then NOLOGIN, dropped at retention
        for other in sorted(live_names):
            if other == out["username"] or other in desired_names:
                continue
            created = rotation_date(name, other)
            if created is None:
                continue
            if now >= created + datetime.timedelta(seconds=policy["retention"]):
                plan.drop.append(other)
                continue
            extra.append(_rotation_role(other, name, role, in_grace, None))
        changed = {k: v for k, v in out.items() if v != (current.get(k) or None)}
        if changed:
            plan.secrets[name] = out
    plan.roles.extend(extra)
    return plan


def secret_view(content):
    """A secret content without its password (for reports)."""
    return {k: v for k, v in content.items() if k != "password"}


# --- Kubernetes secrets -------------------------------------------------------------------------

#: Keys of a credential secret the rotation reads and writes.
SECRET_KEYS = ("username", "password", "nextRotation", "rotatedAt")


def secrets_from_objects(roles, objects, namespace=None):
    """``{role: content}`` from live v1 Secret objects, matched through each role's ``secret``
    reference (``{name, namespace}``). Values that are not valid UTF-8 base64 are left out."""
    index = {}
    for obj in objects or []:
        if not isinstance(obj, dict):
            continue
        meta = obj.get("metadata") or {}
        content = {}
        for key, value in (obj.get("data") or {}).items():
            if key in SECRET_KEYS and isinstance(value, str):
                try:
                    content[key] = base64.b64decode(value, validate=True).decode("utf-8")
                except (ValueError, UnicodeDecodeError):
                    continue
        for key, value in (obj.get("stringData") or {}).items():
            if key in SECRET_KEYS and isinstance(value, str):
                content[key] = value
        index[(meta.get("namespace") or namespace, meta.get("name"))] = content
    out = {}
    for role in roles or []:
        ref = role.get("secret") or {}
        found = index.get((ref.get("namespace") or namespace, ref.get("name")))
        if found is not None:
            out[role["name"]] = found
    return out


def secret_patch(ref, content):
    """The part of a credential Secret the rotation owns, for a server-side apply under its own
    field manager: ``username``, ``password`` and the two times (a time left out is removed)."""
    data = {}
    for key in SECRET_KEYS:
        if content.get(key):
            data[key] = base64.b64encode(content[key].encode("utf-8")).decode("ascii")
    meta = {"name": ref["name"]}
    if ref.get("namespace"):
        meta["namespace"] = ref["namespace"]
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": "Opaque", "data": data}
