"""From what a browser sends (form fields, pasted YAML) to a ``postgresql`` object, and its problems.

Nothing here trusts its input: sizes are capped, single-line fields refuse newlines, YAML is read
without anchors, aliases, tags or duplicate keys, and every value goes through the collection's
own model (``build_model``) so a problem is reported with the ``spec.`` field it belongs to, before
anything is sent to the API.
"""

import copy
import re

import yaml

from . import collection

API_VERSION = "acid.zalan.do/v1"
KIND = "postgresql"
MAX_YAML_BYTES = 256 * 1024
MAX_YAML_DEPTH = 32
MAX_FIELD = 256
MAX_TEXTAREA = 16 * 1024
MAX_LINES = 500
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
VERSIONS = ("13", "14", "15", "16", "17", "18")

# The form: (field key = the manifest path it edits, label, kind, help). Problems of the model are
# shown next to the field whose key is the longest dotted prefix of the problem's field.
FIELDS = [
    ("metadata.namespace", "Namespace", "text", "a Kubernetes namespace"),
    ("metadata.name", "Cluster name", "text", "<team>-<name>, lower case, e.g. acid-orders"),
    ("spec.teamId", "Team", "text", "the team that owns the cluster"),
    ("spec.numberOfInstances", "Instances", "text", "members: 1 primary + replicas"),
    ("spec.postgresql.version", "PostgreSQL version", "select", "major version"),
    ("spec.volume.size", "Volume size", "text", "e.g. 10Gi"),
    ("spec.resources.requests.cpu", "CPU request", "text", "e.g. 100m (empty: operator default)"),
    ("spec.resources.requests.memory", "Memory request", "text", "e.g. 100Mi (empty: operator default)"),
    ("spec.resources.limits.cpu", "CPU limit", "text", "e.g. 1 (empty: operator default)"),
    ("spec.resources.limits.memory", "Memory limit", "text", "e.g. 500Mi (empty: operator default)"),
    ("spec.users", "Users", "textarea", "one per line: name: flag, flag (e.g. app_owner: createdb)"),
    ("spec.databases", "Databases", "textarea", "one per line: database: owner"),
    ("spec.enableConnectionPooler", "Connection pooler (primary)", "checkbox", ""),
    ("spec.enableReplicaConnectionPooler", "Connection pooler (replicas)", "checkbox", ""),
]
FIELD_KEYS = [f[0] for f in FIELDS]


class InputProblem(Exception):
    """Input the console refuses before the model sees it; ``field`` as in the manifest."""

    def __init__(self, field, message):
        super(InputProblem, self).__init__(message)
        self.field = field
        self.message = message


# --- YAML ---------------------------------------------------------------------------------------
class _StrictLoader(yaml.SafeLoader):
    """SafeLoader without anchors/aliases (no billion laughs, no merge keys) and without duplicate keys."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.constructor.ConstructorError(None, None, "YAML aliases (*name) are not accepted",
                                                    event.start_mark)
        event = self.peek_event()
        if getattr(event, "anchor", None):
            raise yaml.constructor.ConstructorError(None, None, "YAML anchors (&name) are not accepted",
                                                    event.start_mark)
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise yaml.constructor.ConstructorError(None, None, "the YAML is nested more than %d levels deep"
                                                        % MAX_YAML_DEPTH, event.start_mark)
            return super(_StrictLoader, self).compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _value in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise yaml.constructor.ConstructorError(None, None, "YAML merge keys (<<) are not accepted",
                                                        key_node.start_mark)
            key = self.construct_object(key_node, deep=deep)
            try:
                hashed = key in seen
            except TypeError:
                raise yaml.constructor.ConstructorError(None, None, "a mapping key must be a plain value",
                                                        key_node.start_mark) from None
            if hashed:
                raise yaml.constructor.ConstructorError(None, None, "duplicate key %r" % (key,), key_node.start_mark)
            seen.add(key)
        return super(_StrictLoader, self).construct_mapping(node, deep=deep)


def parse_manifest_yaml(text):
    """One ``postgresql`` object from YAML text; raises InputProblem (field ``yaml`` or ``kind``...)."""
    if text is None or not text.strip():
        raise InputProblem("yaml", "the manifest is empty")
    if len(text.encode("utf-8", "replace")) > MAX_YAML_BYTES:
        raise InputProblem("yaml", "the manifest is larger than %d KiB" % (MAX_YAML_BYTES // 1024))
    try:
        docs = [d for d in yaml.load_all(text, Loader=_StrictLoader) if d is not None]
    except yaml.YAMLError as err:
        raise InputProblem("yaml", "not valid YAML: %s" % str(err).replace("\n", " ")[:400]) from None
    except RecursionError:
        raise InputProblem("yaml", "the YAML is nested too deeply") from None
    if len(docs) != 1:
        raise InputProblem("yaml", "give exactly one YAML document (found %d)" % len(docs))
    cr = docs[0]
    if not isinstance(cr, dict):
        raise InputProblem("yaml", "the manifest must be a mapping (apiVersion, kind, metadata, spec)")
    return check_envelope(cr)


def check_envelope(cr):
    if cr.get("apiVersion") != API_VERSION:
        raise InputProblem("apiVersion", "must be %s, got %r" % (API_VERSION, cr.get("apiVersion")))
    if cr.get("kind") != KIND:
        raise InputProblem("kind", "must be %s, got %r" % (KIND, cr.get("kind")))
    meta = cr.get("metadata")
    if not isinstance(meta, dict):
        raise InputProblem("metadata", "must be a mapping with name and namespace")
    if not isinstance(cr.get("spec"), dict):
        raise InputProblem("spec", "must be a mapping")
    ns = meta.get("namespace", "default")
    if not isinstance(ns, str) or not DNS_LABEL.match(ns):
        raise InputProblem("metadata.namespace", "%r is not a valid namespace name (lower case letters, digits "
                           "and '-', at most 63)" % (ns,))
    return cr


def dump_yaml(obj):
    return yaml.safe_dump(obj, default_flow_style=False, sort_keys=False, allow_unicode=True)


def editable(cr):
    """What the YAML editor shows of a stored object: no status, no server-managed metadata."""
    out = copy.deepcopy(cr)
    out.pop("status", None)
    meta = out.get("metadata") or {}
    for key in ("managedFields", "uid", "creationTimestamp", "generation", "selfLink", "finalizers",
                "deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences"):
        meta.pop(key, None)
    return out


# --- the form -----------------------------------------------------------------------------------
def _single(form, key, field, limit=MAX_FIELD):
    value = form.get(key, "")
    if not isinstance(value, str):
        raise InputProblem(field, "must be text")
    if len(value) > limit:
        raise InputProblem(field, "is longer than %d characters" % limit)
    if "\n" in value or "\r" in value or "\x00" in value:
        raise InputProblem(field, "must be a single line")
    return value.strip()


def _lines(form, key, field):
    value = form.get(key, "")
    if len(value) > MAX_TEXTAREA:
        raise InputProblem(field, "is longer than %d characters" % MAX_TEXTAREA)
    if "\x00" in value:
        raise InputProblem(field, "contains a NUL character")
    lines = [ln.strip() for ln in value.replace("\r\n", "\n").split("\n")]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    if len(lines) > MAX_LINES:
        raise InputProblem(field, "has more than %d lines" % MAX_LINES)
    out = []
    for n, line in enumerate(lines, 1):
        name, sep, rest = line.partition(":")
        if not sep or not name.strip():
            raise InputProblem(field, "line %d (%r) must read 'name: value'" % (n, line[:60]))
        out.append((name.strip(), rest.strip()))
    return out


def _set(d, path, value):
    keys = path.split(".")
    for k in keys[:-1]:
        if not isinstance(d.get(k), dict):
            d[k] = {}
        d = d[k]
    d[keys[-1]] = value


def _drop(d, path):
    keys = path.split(".")
    stack = []
    for k in keys[:-1]:
        if not isinstance(d.get(k), dict):
            return
        stack.append((d, k))
        d = d[k]
    d.pop(keys[-1], None)
    for parent, k in reversed(stack):  # remove mappings the drop left empty
        if parent[k] == {}:
            parent.pop(k)


def _flags_text(flags):
    if isinstance(flags, list):
        return ", ".join(str(f) for f in flags)
    return "" if flags is None else str(flags)


def form_values(cr):
    """The form's field values for an existing (or default) object."""
    spec = cr.get("spec") or {}
    meta = cr.get("metadata") or {}
    res = spec.get("resources") or {}
    values = {
        "metadata.namespace": meta.get("namespace", "default"),
        "metadata.name": meta.get("name", ""),
        "spec.teamId": spec.get("teamId", ""),
        "spec.numberOfInstances": str(spec.get("numberOfInstances", "")),
        "spec.postgresql.version": str((spec.get("postgresql") or {}).get("version", "")),
        "spec.volume.size": str((spec.get("volume") or {}).get("size", "")),
        "spec.users": "\n".join("%s: %s" % (u, _flags_text(flags)) for u, flags in (spec.get("users") or {}).items()),
        "spec.databases": "\n".join("%s: %s" % (d, o) for d, o in (spec.get("databases") or {}).items()),
        "spec.enableConnectionPooler": bool(spec.get("enableConnectionPooler")),
        "spec.enableReplicaConnectionPooler": bool(spec.get("enableReplicaConnectionPooler")),
    }
    for kind in ("requests", "limits"):
        for what in ("cpu", "memory"):
            values["spec.resources.%s.%s" % (kind, what)] = str((res.get(kind) or {}).get(what) or "")
    return values


def manifest_from_form(form, base=None):
    """(cr, problems): the object the form describes, merged over ``base`` (an existing object when
    editing: whatever the form does not cover is kept). ``problems`` maps field key -> [messages]."""
    cr = copy.deepcopy(base) if base else {"apiVersion": API_VERSION, "kind": KIND, "metadata": {}, "spec": {}}
    cr.setdefault("metadata", {})
    cr.setdefault("spec", {})
    problems = {}

    def problem(field, message):
        problems.setdefault(field, []).append(message)

    for key, _label, kind, _help in FIELDS:
        try:
            if kind == "checkbox":
                raw = form.get(key)
                if raw not in (None, "", False, True, "on", "true"):
                    raise InputProblem(key, "must be on or off")
                if raw in ("on", "true", True):
                    _set(cr, key, True)
                else:
                    _drop(cr, key)
            elif kind == "textarea":
                pairs = _lines(form, key, key)
                if key == "spec.users":
                    users = {}
                    for name, flags in pairs:
                        if name in users:
                            raise InputProblem(key, "user %r is listed twice" % name)
                        users[name] = [f.strip() for f in flags.split(",") if f.strip()]
                    _set(cr, key, users) if users else _drop(cr, key)
                else:
                    dbs = {}
                    for name, owner in pairs:
                        if name in dbs:
                            raise InputProblem(key, "database %r is listed twice" % name)
                        dbs[name] = owner
                    _set(cr, key, dbs) if dbs else _drop(cr, key)
            else:
                value = _single(form, key, key)
                if key.startswith("metadata."):
                    if base and key == "metadata.name" and value != base["metadata"].get("name"):
                        raise InputProblem(key, "cannot be changed on an existing cluster")
                    if base and key == "metadata.namespace" and value != base["metadata"].get("namespace"):
                        raise InputProblem(key, "cannot be changed on an existing cluster")
                    if key == "metadata.namespace" and not DNS_LABEL.match(value or "default"):
                        raise InputProblem(key, "%r is not a valid namespace name (lower case letters, digits and "
                                           "'-', at most 63)" % value)
                    cr["metadata"][key.split(".", 1)[1]] = value or ("default" if key.endswith("namespace") else "")
                elif key == "spec.numberOfInstances":
                    # a whole number becomes an int; anything else goes to the model as written, which names it
                    _set(cr, key, int(value) if re.match(r"^[0-9]{1,6}$", value) else value)
                elif value == "" and key.startswith("spec.resources."):
                    _drop(cr, key)
                else:
                    _set(cr, key, value)
        except InputProblem as err:
            problem(err.field, err.message)
    return cr, problems


def field_for(error_field, keys=None):
    """The form field a model problem belongs to (longest dotted prefix), or None."""
    best = None
    for key in keys or FIELD_KEYS:
        if error_field == key or error_field.startswith(key + "."):
            if best is None or len(key) > len(best):
                best = key
    return best


def validate(cr, config=None):
    """Problems of ``cr`` as the collection's model sees them: ``[(field, message)]`` (empty: valid),
    plus the model's warnings. Passwords the model generates are never kept."""
    try:
        check_envelope(cr)
    except InputProblem as err:
        return [(err.field, err.message)], []
    try:
        model = collection.build_model(cr, config, existing_secrets=None)
    except collection.ManifestErrors as errs:
        return [(e.field, "%s%s" % (e.problem, "; %s" % e.fix if e.fix else "")) for e in errs.errors], []
    except collection.ManifestError as err:
        return [(err.field, "%s%s" % (err.problem, "; %s" % err.fix if err.fix else ""))], []
    return [], list(model.get("warnings") or [])


def secret_names(cr, config=None):
    """``[(username, secret name, namespace)]`` of the credential secrets the operator makes: names
    only (the model's generated passwords are dropped here and never leave this function)."""
    try:
        model = collection.build_model(cr, config, existing_secrets=None)
    except collection.PgfleetError:
        return []
    return [(s["username"], s["name"], s["namespace"]) for s in model.get("secrets") or []]


def group_problems(pairs, problems=None, keys=None):
    """``(by_field, general)``: model problems next to their form field, the rest listed on top."""
    by_field = dict((k, list(v)) for k, v in (problems or {}).items())
    general = []
    for field, message in pairs:
        key = field_for(field, keys)
        if key is None:
            general.append("%s: %s" % (field, message))
        else:
            by_field.setdefault(key, []).append(message if field == key else "%s: %s" % (field, message))
    return by_field, general
