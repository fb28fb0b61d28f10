# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Patroni's dynamic configuration: what we refuse before sending it, the diff, the merge. Pure.

Patroni's ``PATCH /config`` accepts almost anything and later replaces, clamps or ignores what it
does not like (see docs/design/patroni.md, "Configuration validation"), so everything is checked
here before a request that changes something: the keys and types of the dynamic configuration,
the rules Patroni adds on top of PostgreSQL (its minimums, the parameters it sets itself), and
each ``postgresql.parameters`` value against the PostgreSQL tables of the major version the cluster
runs (``module_utils/postgres/gucs.py``, the one place that knows PostgreSQL's parameters).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import ManifestError, ManifestErrors
from ansible_collections.pgfleet.postgres.plugins.module_utils.postgres import gucs

DEFAULT_MAJOR = "15"  # when the cluster does not say which PostgreSQL it runs

# Patroni passes these on the command line and silently replaces values it does not like with its
# default (its PATCH /config does not validate), so we check them ourselves.
_PATRONI_MINIMUMS = {"max_connections": 25, "max_wal_senders": 3, "max_locks_per_transaction": 32,
                     "max_replication_slots": 4, "max_worker_processes": 2, "max_prepared_transactions": 0}
# Set per member by Patroni or the local configuration; a value in the dynamic config is ignored.
_LOCAL_ONLY = {
    "listen_addresses": "postgresql.listen in each member's patroni.yml",
    "port": "postgresql.listen / connect_address in each member's patroni.yml",
    "cluster_name": "the Patroni scope",
    "data_directory": "postgresql.data_dir in each member's patroni.yml",
    "config_file": "postgresql.config_dir in each member's patroni.yml",
    "hba_file": "postgresql.pg_hba in the dynamic configuration",
    "ident_file": "postgresql.pg_ident in the dynamic configuration",
    "primary_conninfo": "Patroni (it writes it for every replica)",
    "primary_slot_name": "Patroni (postgresql.use_slots)",
}


_BOOL_WORDS = {"on": True, "off": False, "true": True, "false": False, "yes": True, "no": False,
               "1": True, "0": False}
_DURATION_UNITS = {"ms": 0.001, "s": 1, "min": 60, "h": 3600, "d": 86400}


def parse_bool(value):
    """A boolean the way Patroni and PostgreSQL read one (any unambiguous prefix). Raises ValueError."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _BOOL_WORDS:
        return _BOOL_WORDS[text]
    hits = set(v for word, v in _BOOL_WORDS.items() if len(text) >= 2 and word.startswith(text))
    if len(hits) == 1:
        return hits.pop()
    raise ValueError("not a boolean")


def _seconds(value):
    """A duration (number of seconds, or text with ms/s/min/h/d) in seconds. Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a duration")
    if isinstance(value, (int, float)):
        return float(value)
    m = re.match(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+))\s*([a-z]*)\s*$", str(value))
    if not m or (m.group(2) and m.group(2) not in _DURATION_UNITS):
        raise ValueError("not a duration")
    return float(m.group(1)) * _DURATION_UNITS.get(m.group(2) or "s")


def major_of(server_version):
    """``150010`` (Patroni's ``server_version``) -> ``"15"``; unknown -> ``DEFAULT_MAJOR``."""
    try:
        version = int(server_version)
    except (TypeError, ValueError):
        return DEFAULT_MAJOR
    return str(version // 10000) if version >= 100000 else DEFAULT_MAJOR


def _number(name, value, major):
    """The value of a numeric parameter in its base unit, or ``None``."""
    found = gucs.normalize(name, value, major)
    if isinstance(found, (int, float)) and not isinstance(found, bool):
        return found
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def parameter_problem(name, value, major=DEFAULT_MAJOR):
    """Why ``name = value`` is wrong in Patroni's dynamic configuration: ``(problem, fix)`` or ``None``.

    PostgreSQL's own rules come from ``gucs.parameter_check``; Patroni's on top of them from here.
    A name PostgreSQL ``major`` does not know is only checked for its syntax and a one-line value
    (``validate_dynamic_config`` adds a warning).
    """
    key = name.lower()
    if key in _LOCAL_ONLY:
        return ("is managed by %s and cannot be set in the dynamic configuration" % _LOCAL_ONLY[key],
                "remove it from the dynamic configuration")
    if value is None:
        return None
    if gucs.known(key, major) is False:
        return gucs.parameter_check(name, value, None)  # no table: name syntax and one-line value only
    if key == "wal_level" and not isinstance(value, (dict, list)) \
            and str(value).lower() not in ("replica", "logical", "hot_standby"):
        return "must be replica or logical for a Patroni cluster", "write replica (or logical for logical slots)"
    if key == "hot_standby" and not isinstance(value, (dict, list)):
        try:
            if not parse_bool(value):
                return "must stay on: replicas need it", "remove it or write on"
        except ValueError:
            return "must be on", "remove it or write on"
    problem = gucs.parameter_check(name, value, major)
    if problem:
        return problem
    number = _number(key, value, major)
    minimum = _PATRONI_MINIMUMS.get(key)
    if minimum is not None and number is not None and number < minimum:
        return ("%r is below %d, the lowest value Patroni accepts (it would silently use its default)" % (
            value, minimum), "write at least %d" % minimum)
    if key == "wal_keep_size" and number is not None and number < 16:
        return "%r is below 16MB, the lowest value Patroni accepts" % (value,), "write at least 16MB"
    return None


def drop_below_patroni_minimums(desired):
    """Split off dynamic parameters below the lowest value Patroni accepts.

    Patroni replaces such a value with its own default (``max_connections: 10`` becomes 100), and
    Zalando manifests in the wild carry them (the reference complete manifest sets
    ``max_connections: "10"``). Refusing the whole configuration would break manifests that work
    with Zalando; sending the value would report a change forever. They are left out, with a
    warning naming the parameter and the minimum. Returns ``(desired_without_them, warnings)``.
    """
    params = ((desired or {}).get("postgresql") or {}).get("parameters")
    if not isinstance(params, dict):
        return desired, []
    kept, warnings = {}, []
    for name, value in params.items():
        minimum = _PATRONI_MINIMUMS.get(str(name).lower())
        number = None
        if minimum is not None and value is not None and not isinstance(value, bool):
            try:
                number = float(str(value).strip())
            except ValueError:
                number = None
        if number is not None and number < minimum:
            warnings.append("postgresql.parameters.%s: %r is below %d, the lowest value Patroni accepts; Patroni "
                            "keeps its own default instead, so the value was not sent (set at least %d)"
                            % (name, value, minimum, minimum))
            continue
        kept[name] = value
    if len(kept) == len(params):
        return desired, []
    out = dict(desired)
    out["postgresql"] = dict(desired["postgresql"], parameters=kept)
    return out, warnings


_INT_KEYS = {"ttl": 20, "loop_wait": 1, "retry_timeout": 3, "maximum_lag_on_failover": 0,
             "max_timelines_history": 0, "primary_start_timeout": 0, "primary_stop_timeout": 0,
             "master_start_timeout": 0, "master_stop_timeout": 0, "synchronous_node_count": 1}
_BOOL_KEYS = ("synchronous_mode_strict", "failsafe_mode", "check_timeline", "pause")
_KNOWN_KEYS = set(_INT_KEYS) | set(_BOOL_KEYS) | {
    "synchronous_mode", "maximum_lag_on_syncnode", "member_slots_ttl", "postgresql", "standby_cluster",
    "slots", "permanent_slots", "permanent_replication_slots", "ignore_slots"}
_PG_SECTION_KEYS = {"parameters": dict, "pg_hba": list, "pg_ident": list, "use_pg_rewind": bool, "use_slots": bool,
                    "recovery_conf": dict, "remove_data_directory_on_rewind_failure": bool,
                    "remove_data_directory_on_diverged_timelines": bool}
_SLOT_NAME_RE = re.compile(r"^[a-z0-9_]{1,63}$")


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool) or (
        isinstance(value, str) and re.match(r"^-?\d+$", value.strip()) is not None)


def _is_bool(value):
    if isinstance(value, bool):
        return True
    try:
        parse_bool(value)
        return True
    except ValueError:
        return False


def validate_dynamic_config(desired, current=None, prefix="config", major=DEFAULT_MAJOR):
    """Check a desired dynamic configuration before anything is sent. Pure.

    Returns ``(errors, warnings)``: errors are ``ManifestError`` (field, problem, fix); warnings are
    strings (e.g. a parameter this PostgreSQL 15 catalogue does not know: other versions may).
    ``current`` (the live ``GET /config``) fills in ``ttl``/``loop_wait``/``retry_timeout`` for the
    rule ``loop_wait + 2 * retry_timeout <= ttl``. ``None`` values mean "remove" and are allowed.
    """
    errors, warnings = [], []
    current = current or {}
    if not isinstance(desired, dict):
        return [ManifestError(prefix, "must be a mapping", "pass the dynamic configuration as a dict")], []

    def err(path, problem, fix=None):
        errors.append(ManifestError("%s.%s" % (prefix, path), problem, fix))

    for key, value in desired.items():
        if key not in _KNOWN_KEYS:
            err(key, "is not a Patroni dynamic configuration key",
                "use one of %s" % ", ".join(sorted(_KNOWN_KEYS)))
            continue
        if value is None:
            continue
        if key in _INT_KEYS:
            if not _is_int(value):
                err(key, "must be an integer, not %r" % (value,), "write a whole number of %s" % (
                    "bytes" if key == "maximum_lag_on_failover" else "seconds"))
            elif int(value) < _INT_KEYS[key]:
                err(key, "%s is below the minimum %d (Patroni would silently raise it)" % (value, _INT_KEYS[key]),
                    "use at least %d" % _INT_KEYS[key])
        elif key in _BOOL_KEYS:
            if not _is_bool(value):
                err(key, "must be a boolean, not %r" % (value,), "write true or false")
        elif key == "synchronous_mode":
            if not (_is_bool(value) or str(value).lower() == "quorum"):
                err(key, "must be true, false or quorum, not %r" % (value,))
        elif key == "maximum_lag_on_syncnode":
            if not _is_int(value) or (int(value) != -1 and int(value) <= 0):
                err(key, "must be -1 (off) or a positive number of bytes, not %r" % (value,))
        elif key == "member_slots_ttl":
            try:
                if _seconds(value) < 0:
                    raise ValueError("negative")
            except ValueError:
                err(key, "must be a duration such as 1800 or 30min, not %r" % (value,))
        elif key == "postgresql":
            _validate_pg_section(value, err, warnings, major)
        elif key in ("slots", "permanent_slots", "permanent_replication_slots"):
            _validate_slots(key, value, err)
        elif key == "ignore_slots":
            if not isinstance(value, list) or not all(isinstance(i, dict) for i in value):
                err(key, "must be a list of mappings (name, type, database, plugin)")
        elif key == "standby_cluster":
            if not isinstance(value, dict):
                err(key, "must be a mapping or null (null promotes the standby cluster)")
    # a logical slot needs wal_level=logical (Patroni would retry creating it every loop, forever)
    slots = desired.get("slots")
    if isinstance(slots, dict):
        logical = sorted(n for n, s in slots.items() if isinstance(s, dict) and s.get("type") == "logical")
        params = ((desired.get("postgresql") or {}).get("parameters") or {}) if isinstance(
            desired.get("postgresql"), dict) else {}
        have = (current.get("postgresql") or {}).get("parameters") or {}
        level = params.get("wal_level", have.get("wal_level", "replica"))
        if logical and str(level).lower() != "logical":
            err("slots.%s" % logical[0], "is a logical slot but wal_level is %s" % (level,),
                "set postgresql.parameters.wal_level: logical (a restart) or drop the slot")
    # ttl / loop_wait / retry_timeout relation, on the values that will be in effect
    merged = {}
    for key, default in (("ttl", 30), ("loop_wait", 10), ("retry_timeout", 10)):
        value = desired.get(key, current.get(key, default)) if key in desired else current.get(key, default)
        if value is None:
            value = default
        merged[key] = int(value) if _is_int(value) else None
    bad = set(e.field.rsplit(".", 1)[-1] for e in errors) & set(merged)
    if not bad and None not in merged.values() and merged["loop_wait"] + 2 * merged["retry_timeout"] > merged["ttl"]:
        err("ttl", "loop_wait %(loop_wait)d + 2 x retry_timeout %(retry_timeout)d exceeds ttl %(ttl)d" % merged,
            "raise ttl to at least %d or lower loop_wait/retry_timeout (Patroni would silently shrink them)"
            % (merged["loop_wait"] + 2 * merged["retry_timeout"]))
    return errors, warnings


def _validate_pg_section(value, err, warnings, major):
    if not isinstance(value, dict):
        err("postgresql", "must be a mapping")
        return
    for key, item in value.items():
        path = "postgresql.%s" % key
        if key not in _PG_SECTION_KEYS:
            err(path, "is not a dynamic postgresql setting", "use one of %s" % ", ".join(sorted(_PG_SECTION_KEYS)))
            continue
        if item is None:
            continue
        kind = _PG_SECTION_KEYS[key]
        if kind is bool and not _is_bool(item):
            err(path, "must be a boolean, not %r" % (item,))
        elif kind is list and (not isinstance(item, list) or not all(isinstance(i, str) for i in item)):
            err(path, "must be a list of lines (strings)")
        elif kind is dict and not isinstance(item, dict):
            err(path, "must be a mapping")
        elif key == "pg_hba":
            for i, line in enumerate(item):
                words = line.split()
                if words and not words[0].startswith("#") and (
                        words[0] not in ("local", "host", "hostssl", "hostnossl", "hostgssenc", "hostnogssenc",
                                         "include", "include_if_exists", "include_dir") or len(words) < 3):
                    err("%s[%d]" % (path, i), "%r is not a pg_hba.conf line" % line,
                        "start with local/host/hostssl/hostnossl and name database, user (and address)")
        elif key == "parameters":
            for name, param in item.items():
                if not isinstance(name, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_.]*$", name):
                    err("%s.%s" % (path, name), "is not a parameter name")
                    continue
                problem = parameter_problem(name, param, major)
                if problem:
                    err("%s.%s" % (path, name), problem[0], problem[1])
                elif gucs.known(name, major) is False and "." not in name:
                    warnings.append("%s.%s is not a PostgreSQL %s parameter; it was not validated (PostgreSQL "
                                    "and Patroni ignore unknown names)" % (path, name, major))


def _validate_slots(key, value, err):
    if not isinstance(value, dict):
        err(key, "must be a mapping of slot name to {type: physical} or {type: logical, database, plugin}")
        return
    for name, slot in value.items():
        path = "%s.%s" % (key, name)
        if not _SLOT_NAME_RE.match(str(name)):
            err(path, "is not a valid slot name", "use 1-63 lower-case letters, digits and underscores")
        if slot is None:
            continue
        if not isinstance(slot, dict):
            err(path, "must be a mapping with a type")
            continue
        kind = slot.get("type")
        if kind not in ("physical", "logical"):
            err("%s.type" % path, "must be physical or logical, not %r" % (kind,))
        elif kind == "logical":
            for needed in ("database", "plugin"):
                if not slot.get(needed):
                    err("%s.%s" % (path, needed), "is required for a logical slot")
        unknown = set(slot) - {"type", "database", "plugin", "failover", "cluster_type"}
        if unknown:
            err(path, "has unknown keys %s" % ", ".join(sorted(unknown)),
                "use type, database, plugin (and failover, cluster_type)")


def _same(key, a, b, parameter=False, major=DEFAULT_MAJOR):
    if parameter:
        return gucs.normalize(key, a, major) == gucs.normalize(key, b, major)
    if isinstance(a, dict) or isinstance(b, dict):
        return a == b
    if isinstance(a, list) or isinstance(b, list):
        return a == b
    if a is None or b is None:
        return a is b
    if _is_int(a) and _is_int(b):
        return int(a) == int(b)
    if isinstance(a, bool) or isinstance(b, bool):
        try:
            return parse_bool(a) == parse_bool(b)
        except ValueError:
            return False
    return str(a) == str(b)


def config_diff(current, desired, managed_slots=None, major=DEFAULT_MAJOR):
    """The ``PATCH /config`` body that turns ``current`` into ``desired``. Pure.

    Merge semantics like Patroni's: keys absent from ``desired`` stay as they are, ``None`` removes
    a key. ``slots``: every desired slot is set; a slot in ``managed_slots`` (the slots this
    collection put there earlier) that is no longer desired is removed; other slots (made by Patroni
    or by hand) are left alone. Returns ``{"patch", "after", "changes", "managed_slots"}`` where
    ``changes`` lists ``{"path", "before", "after"}`` and ``managed_slots`` is what the caller must
    persist for the next run.
    """
    current = current or {}
    patch, changes = {}, []
    for key, want in desired.items():
        have = current.get(key)
        if key == "postgresql" and isinstance(want, dict):
            sub = {}
            have = have if isinstance(have, dict) else {}
            for skey, swant in want.items():
                shave = have.get(skey)
                if skey == "parameters" and isinstance(swant, dict):
                    params = {}
                    shave = shave if isinstance(shave, dict) else {}
                    lower = dict((k.lower(), k) for k in shave)
                    for pname, pwant in swant.items():
                        hname = lower.get(pname.lower(), pname)
                        phave = shave.get(hname)
                        if pwant is None and hname not in shave:
                            continue
                        if hname in shave and _same(pname, phave, pwant, parameter=True, major=major):
                            continue
                        params[hname] = pwant
                        changes.append({"path": "postgresql.parameters.%s" % pname, "before": phave, "after": pwant})
                    if params:
                        sub["parameters"] = params
                elif swant is None:
                    if skey in have:
                        sub[skey] = None
                        changes.append({"path": "postgresql.%s" % skey, "before": shave, "after": None})
                elif not (skey in have and _same(skey, shave, swant)):
                    sub[skey] = swant
                    changes.append({"path": "postgresql.%s" % skey, "before": shave, "after": swant})
            if sub:
                patch["postgresql"] = sub
        elif key == "slots" and isinstance(want, dict):
            have = have if isinstance(have, dict) else {}
            sub = {}
            for name, slot in want.items():
                if slot is None:
                    if name in have:
                        sub[name] = None
                        changes.append({"path": "slots.%s" % name, "before": have[name], "after": None})
                elif have.get(name) != slot:
                    sub[name] = slot
                    changes.append({"path": "slots.%s" % name, "before": have.get(name), "after": slot})
            for name in managed_slots or []:
                if name not in want and name in have:
                    sub[name] = None
                    changes.append({"path": "slots.%s" % name, "before": have[name], "after": None})
            if sub:
                patch["slots"] = sub
        elif want is None:
            if key in current:
                patch[key] = None
                changes.append({"path": key, "before": have, "after": None})
        elif not (key in current and _same(key, have, want)):
            patch[key] = want
            changes.append({"path": key, "before": have, "after": want})
    if "slots" not in desired and managed_slots:
        have = current.get("slots") if isinstance(current.get("slots"), dict) else {}
        sub = dict((name, None) for name in managed_slots if name in have)
        for name in sorted(sub):
            changes.append({"path": "slots.%s" % name, "before": have[name], "after": None})
        if sub:
            patch["slots"] = sub
    desired_slots = desired.get("slots") if isinstance(desired.get("slots"), dict) else {}
    managed = sorted(n for n, s in desired_slots.items() if s is not None)
    return {"patch": patch, "after": merge_patch(current, patch), "changes": changes, "managed_slots": managed}


def merge_patch(base, patch):
    """What Patroni stores after ``PATCH /config``: a recursive merge where ``None`` deletes."""
    out = dict(base or {})
    for key, value in (patch or {}).items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_patch(out[key], value)
        else:
            out[key] = value
    return out


def restart_parameters(changes, major=DEFAULT_MAJOR):
    """Names of changed PostgreSQL parameters that only take effect after a restart."""
    names = []
    for change in changes:
        path = change["path"]
        if path.startswith("postgresql.parameters."):
            name = path[len("postgresql.parameters."):]
            if gucs.is_restart(name, major):
                names.append(name)
    return sorted(set(names))


_TIMING_KEYS = ("ttl", "loop_wait", "retry_timeout")


def _without(desired, field, prefix):
    """``desired`` minus the part that ``field`` (an error's field, ``<prefix>.a.b``) points at.

    Returns the new mapping, or ``None`` when the field names nothing that is in ``desired``.
    """
    path = field[len(prefix) + 1:] if field.startswith(prefix + ".") else field
    parts = re.split(r"\.|\[", path, maxsplit=2)
    key = parts[0]
    out = dict(desired)
    sub = out.get(key)
    if len(parts) > 1 and key == "postgresql" and isinstance(sub, dict):
        name = parts[1]
        if name == "parameters" and len(parts) > 2 and isinstance(sub.get("parameters"), dict):
            param = path.split(".", 2)[2]
            if param in sub["parameters"]:
                out[key] = dict(sub, parameters=dict((k, v) for k, v in sub["parameters"].items() if k != param))
                return out
        if name in sub:
            out[key] = dict((k, v) for k, v in sub.items() if k != name)
            return out
    if len(parts) > 1 and key in ("slots", "permanent_slots", "permanent_replication_slots") and isinstance(sub, dict):
        rest = path.split(".", 1)[1]
        names = [n for n in sub if rest == str(n) or rest.startswith("%s." % n)]
        if names:
            name = max(names, key=lambda n: len(str(n)))
            out[key] = dict((k, v) for k, v in sub.items() if k != name)
            return out
    if key in out:
        del out[key]
        return out
    if key in _TIMING_KEYS and any(k in out for k in _TIMING_KEYS):
        # the ttl rule failed on values partly in effect already: leave all three as they are
        return dict((k, v) for k, v in out.items() if k not in _TIMING_KEYS)
    return None


def split_refused(desired, current=None, prefix="config", major=DEFAULT_MAJOR):
    """What Patroni would accept of ``desired``, and what it would refuse. Pure.

    Returns ``(kept, refused, warnings)``: ``kept`` is ``desired`` without every part an error of
    ``validate_dynamic_config`` points at (one parameter, one slot, one ``postgresql`` key, else the
    top-level key), validated again until it passes; ``refused`` lists those errors
    (``ManifestError``). Raises ``ManifestErrors`` when an error points at nothing it could leave out.
    """
    kept, refused = desired, []
    errors, warnings = validate_dynamic_config(kept, current, prefix, major)
    for _round in range(len(desired or {}) + 2):
        if not errors:
            return kept, refused, warnings
        for error in errors:
            smaller = _without(kept, error.field, prefix)
            if smaller is None:
                raise ManifestErrors(refused + errors)
            kept = smaller
        refused.extend(errors)
        errors, warnings = validate_dynamic_config(kept, current, prefix, major)
    raise ManifestErrors(refused + errors)
