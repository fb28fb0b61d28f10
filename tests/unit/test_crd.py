"""The `postgresql` CRD (acid.zalan.do/v1): identity, structural schema, and what it accepts.

(a) our own checker for the Kubernetes structural-schema rules, itself tested on bad schemas;
(b) the CRD object validates with kubernetes-validate (strict) for 1.28 and the newest version it ships;
(c) every reference manifest validates against openAPIV3Schema (jsonschema + a small OpenAPI adapter);
(d) a table of invalid manifests, each rejected with a message that names the field path.
"""

import copy
import glob
import ipaddress
import os
import random
import re

import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate import utils as kv_utils

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CRD_PATH = os.path.join(ROOT, "operator", "config", "crd", "bases", "acid.zalan.do_postgresqls.yaml")
ROLE_COPY = os.path.join(ROOT, "roles", "crd", "files", "postgresql.crd.yaml")
REFERENCE_DIRS = [os.path.join(ROOT, "examples")]  # verbatim copies; tests/unit/test_examples.py

K8S_OLDEST = "1.28"
K8S_NEWEST = kv_utils.latest_version()


def load_crd():
    with open(CRD_PATH) as fh:
        return yaml.safe_load(fh)


CRD = load_crd()
VERSION = CRD["spec"]["versions"][0]
SCHEMA = VERSION["schema"]["openAPIV3Schema"]
SPEC = SCHEMA["properties"]["spec"]


# ----------------------------------------------------------------------------------------------
# (a) structural schema checker, after k8s.io/apiextensions-apiserver (schema/validation.go and
#     apis/apiextensions/validation). Messages name the schema path.
# ----------------------------------------------------------------------------------------------
TYPES = {"object", "array", "string", "integer", "number", "boolean"}
JUNCTORS = ("allOf", "anyOf", "oneOf", "not")
INT_OR_STRING = [{"type": "integer"}, {"type": "string"}]
# Formats the API server knows (k8s.io/kube-openapi strfmt registry); others are ignored at best.
KNOWN_FORMATS = {
    "bsonobjectid", "uri", "email", "hostname", "ipv4", "ipv6", "cidr", "mac", "uuid", "uuid3",
    "uuid4", "uuid5", "isbn", "isbn10", "isbn13", "creditcard", "ssn", "hexcolor", "rgbcolor",
    "byte", "password", "date", "duration", "datetime", "date-time", "int32", "int64", "float",
    "double",
}
# Go's RE2 has no look-around and no back-references.
RE2_UNSUPPORTED = re.compile(r"\(\?[=!<]|\(\?P=|\\[1-9]")
PY_TYPES = {"string": str, "boolean": bool, "object": dict, "array": list}


def _value_has_type(value, typ):
    if typ == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if typ == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, PY_TYPES[typ])


def _prune(value, node):
    """Drop what the API server would prune from `value` under schema `node`."""
    if not isinstance(node, dict) or node.get("x-kubernetes-preserve-unknown-fields"):
        return value
    if isinstance(value, dict):
        props = node.get("properties")
        addl = node.get("additionalProperties")
        if props is not None:
            return {k: _prune(v, props[k]) for k, v in value.items() if k in props}
        if isinstance(addl, dict):
            return {k: _prune(v, addl) for k, v in value.items()}
        return {}
    if isinstance(value, list) and isinstance(node.get("items"), dict):
        return [_prune(v, node["items"]) for v in value]
    return value


def _nested_errors(nested, outer, path, errors):
    """A schema under allOf/anyOf/oneOf/not may only add value validations to fields the
    structural part already specifies (no type, description, nullable, defaults, ...)."""
    if not isinstance(nested, dict):
        errors.append("%s: must be a schema object" % path)
        return
    for key in ("type", "description", "title", "default", "nullable", "additionalProperties", "externalDocs"):
        if key in nested:
            errors.append("%s.%s: must not be set in a nested value validation to be structural" % (path, key))
    for key in nested:
        if key.startswith("x-kubernetes-"):
            errors.append("%s.%s: must not be set in a nested value validation to be structural" % (path, key))
    outer = outer if isinstance(outer, dict) else {}
    for name, sub in (nested.get("properties") or {}).items():
        if name == "metadata":
            errors.append("%s.properties.metadata: must not be specified in a nested context" % path)
        outer_sub = (outer.get("properties") or {}).get(name)
        if outer_sub is None and not outer.get("x-kubernetes-preserve-unknown-fields"):
            errors.append("%s.properties.%s: adds a field the structural schema does not specify" % (path, name))
        _nested_errors(sub, outer_sub, "%s.properties.%s" % (path, name), errors)
    if "items" in nested:
        if "items" not in outer:
            errors.append("%s.items: adds items the structural schema does not specify" % path)
        _nested_errors(nested["items"], outer.get("items"), path + ".items", errors)
    for junctor in JUNCTORS:
        subs = nested.get(junctor)
        if subs is None:
            continue
        for i, sub in enumerate(subs if junctor != "not" else [subs]):
            _nested_errors(sub, outer, "%s.%s[%d]" % (path, junctor, i), errors)


def structural_errors(node, path="openAPIV3Schema", level="root", errors=None):
    """Every rule violation found in `node`, as 'schema.path: problem' strings."""
    errors = [] if errors is None else errors
    if not isinstance(node, dict):
        errors.append("%s: must be a schema object" % path)
        return errors
    typ = node.get("type")
    int_or_string = node.get("x-kubernetes-int-or-string", False)
    preserve = node.get("x-kubernetes-preserve-unknown-fields", False)
    embedded = node.get("x-kubernetes-embedded-resource", False)

    if typ is None:
        if not (int_or_string or preserve):
            where = {"root": "at the root", "item": "for array items", "field": "for object fields"}[level]
            errors.append("%s.type: must not be empty %s" % (path, where))
    elif typ not in TYPES:
        errors.append("%s.type: %r is not an OpenAPI type" % (path, typ))
    if level == "root" and typ != "object":
        errors.append("%s.type: must be object at the root" % path)
    if int_or_string and preserve:
        errors.append("%s: x-kubernetes-int-or-string and x-kubernetes-preserve-unknown-fields exclude each other" % path)
    if int_or_string and typ is not None:
        errors.append("%s.type: must be empty with x-kubernetes-int-or-string" % path)
    if embedded and typ != "object":
        errors.append("%s.type: must be object with x-kubernetes-embedded-resource" % path)
    if embedded and not preserve and not node.get("properties"):
        errors.append("%s.properties: needed with x-kubernetes-embedded-resource unless unknown fields are preserved" % path)

    if "properties" in node and "additionalProperties" in node:
        errors.append("%s: properties and additionalProperties exclude each other" % path)
    addl = node.get("additionalProperties")
    if addl is not None:
        if level == "root":
            errors.append("%s.additionalProperties: must not be used at the root" % path)
        if addl is False:
            errors.append("%s.additionalProperties: cannot be false (unknown fields are pruned instead)" % path)
        elif addl is True:
            errors.append("%s.additionalProperties: true is not structural; use x-kubernetes-preserve-unknown-fields" % path)
        else:
            structural_errors(addl, path + ".additionalProperties", "field", errors)

    if typ == "array":
        items = node.get("items")
        if items is None:
            errors.append("%s.items: must be specified for arrays" % path)
        elif not isinstance(items, dict):
            errors.append("%s.items: must be a single schema" % path)
        else:
            structural_errors(items, path + ".items", "item", errors)
    props = node.get("properties") or {}
    for name, sub in props.items():
        structural_errors(sub, "%s.properties.%s" % (path, name), "field", errors)
    if props and not preserve:
        for name in node.get("required", []):
            if name not in props:
                errors.append("%s.required: %r is not a property, so it would be pruned and always missing" % (path, name))

    # metadata at the root (or of an embedded resource): only name and generateName may be restricted
    if level == "root" or embedded:
        for key in ("kind", "apiVersion"):
            if key in props and props[key].get("type") != "string":
                errors.append("%s.properties.%s.type: must be string" % (path, key))
        if "metadata" in props:
            meta = props["metadata"]
            if meta.get("type") != "object":
                errors.append("%s.properties.metadata.type: must be object" % path)
            extra = set(meta) - {"type", "properties"}
            extra |= {"properties.%s" % k for k in (meta.get("properties") or {}) if k not in ("name", "generateName")}
            if extra:
                errors.append("%s.properties.metadata: must not specify anything other than name and generateName (%s)"
                              % (path, ", ".join(sorted(extra))))

    # value validations under junctors
    for junctor in JUNCTORS:
        subs = node.get(junctor)
        if subs is None:
            continue
        subs = [subs] if junctor == "not" else subs
        if junctor == "anyOf" and subs == INT_OR_STRING and int_or_string:
            continue
        for i, sub in enumerate(subs):
            if junctor == "allOf" and i == 0 and int_or_string and isinstance(sub, dict) and sub.get("anyOf") == INT_OR_STRING:
                continue
            _nested_errors(sub, node, "%s.%s[%d]" % (path, junctor, i), errors)

    if "pattern" in node:
        try:
            re.compile(node["pattern"])
        except re.error as exc:
            errors.append("%s.pattern: not a valid regular expression: %s" % (path, exc))
        if RE2_UNSUPPORTED.search(node["pattern"]):
            errors.append("%s.pattern: uses look-around or back-references, which Go (RE2) rejects" % path)
    if "format" in node and node["format"] not in KNOWN_FORMATS:
        errors.append("%s.format: %r is unknown to the API server" % (path, node["format"]))
    if typ in TYPES:
        for value in node.get("enum", []):
            if not (_value_has_type(value, typ) or (value is None and node.get("nullable"))):
                errors.append("%s.enum: %r is not of type %s" % (path, value, typ))
    if node.get("x-kubernetes-list-type") not in (None, "atomic", "set", "map"):
        errors.append("%s.x-kubernetes-list-type: must be atomic, set or map" % path)
    if node.get("x-kubernetes-list-type") == "map" and not node.get("x-kubernetes-list-map-keys"):
        errors.append("%s.x-kubernetes-list-map-keys: required with list type map" % path)

    if "default" in node:
        default = node["default"]
        if level == "root" or path.endswith("properties.metadata"):
            errors.append("%s.default: not allowed here" % path)
        if default is None and not node.get("nullable"):
            errors.append("%s.default: null is only allowed on nullable fields" % path)
        elif default is not None:
            try:
                openapi_validator(node).validate(default)
            except jsonschema.ValidationError as exc:
                errors.append("%s.default: does not validate: %s" % (path, exc.message))
            if _prune(default, node) != default:
                errors.append("%s.default: contains fields that would be pruned" % path)
    return errors


# ----------------------------------------------------------------------------------------------
# OpenAPI v3 (Kubernetes flavour) -> JSON Schema draft 4, for validating manifests with jsonschema.
# Objects that do not preserve unknown fields reject them: the API server would prune them
# silently, kubectl --validate=strict rejects them, and a manifest should not carry dead fields.
# ----------------------------------------------------------------------------------------------
def to_jsonschema(node, root=True):
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in ("properties", "patternProperties"):
            out[key] = {k: to_jsonschema(v, False) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            out[key] = to_jsonschema(value, False)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [to_jsonschema(v, False) for v in value]
        elif key.startswith("x-kubernetes-") or key in ("nullable", "description", "example", "externalDocs"):
            continue
        else:
            out[key] = value
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = list(out["enum"]) + [None]
    is_object = node.get("type") == "object"
    if is_object and "properties" in node and "additionalProperties" not in node \
            and not node.get("x-kubernetes-preserve-unknown-fields") and not root:
        out["additionalProperties"] = False
    return out


FORMATS = jsonschema.FormatChecker(())
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DATETIME = re.compile(r"^\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)$")


@FORMATS.checks("uuid")
def _is_uuid(value):
    return not isinstance(value, str) or bool(_UUID.match(value))


@FORMATS.checks("date-time")
def _is_datetime(value):
    return not isinstance(value, str) or bool(_DATETIME.match(value))


@FORMATS.checks("int32")
def _is_int32(value):
    return not isinstance(value, int) or -(2 ** 31) <= value < 2 ** 31


@FORMATS.checks("int64")
def _is_int64(value):
    return not isinstance(value, int) or -(2 ** 63) <= value < 2 ** 63


def openapi_validator(node):
    return jsonschema.Draft4Validator(to_jsonschema(node, root=False), format_checker=FORMATS)


MANIFEST_VALIDATOR = jsonschema.Draft4Validator(to_jsonschema(SCHEMA), format_checker=FORMATS)


def _field_path(parts):
    text = ""
    for part in parts:
        text += "[%d]" % part if isinstance(part, int) else ("." if text else "") + str(part)
    return text or "(root)"


def manifest_errors(manifest, validator=MANIFEST_VALIDATOR):
    """Every schema violation of `manifest`, each as 'field.path: problem'."""
    out = []
    for err in validator.iter_errors(manifest):
        parts = list(err.absolute_path)
        if err.validator == "required":
            missing = re.search(r"'(.+?)' is a required property", err.message).group(1)
            out.append("%s: required field is missing" % _field_path(parts + [missing]))
        elif err.validator == "additionalProperties" and err.validator_value is False:
            allowed = set(err.schema.get("properties", {}))
            for extra in sorted(set(err.instance) - allowed):
                out.append("%s: unknown field (the API server would prune it)" % _field_path(parts + [extra]))
        else:
            out.append("%s: %s" % (_field_path(parts), err.message))
    return sorted(out)


def load_yaml(path):
    with open(path) as fh:
        return yaml.safe_load(fh)


def reference_manifests():
    seen = {}
    for directory in REFERENCE_DIRS:
        for path in sorted(glob.glob(os.path.join(directory, "*-manifest.yaml"))):
            seen.setdefault(os.path.basename(path), path)
    return sorted(seen.values())


MINIMAL = load_yaml(reference_manifests()[[os.path.basename(p) for p in reference_manifests()].index(
    "minimal-postgres-manifest.yaml")])


# ----------------------------------------------------------------------------------------------
# identity
# ----------------------------------------------------------------------------------------------
def test_identity():
    assert CRD["apiVersion"] == "apiextensions.k8s.io/v1"
    assert CRD["kind"] == "CustomResourceDefinition"
    assert CRD["metadata"]["name"] == "postgresqls.acid.zalan.do"
    spec = CRD["spec"]
    assert spec["group"] == "acid.zalan.do"
    assert spec["scope"] == "Namespaced"
    assert spec["names"] == {
        "kind": "postgresql", "listKind": "postgresqlList", "plural": "postgresqls",
        "singular": "postgresql", "shortNames": ["pg"], "categories": ["all"],
    }
    assert [v["name"] for v in spec["versions"]] == ["v1"]
    assert VERSION["served"] is True and VERSION["storage"] is True
    assert VERSION["subresources"] == {"status": {}}


def test_printer_columns():
    columns = [(c["name"], c["type"], c["jsonPath"]) for c in VERSION["additionalPrinterColumns"]]
    assert columns == [
        ("Team", "string", ".spec.teamId"),
        ("Version", "string", ".spec.postgresql.version"),
        ("Pods", "integer", ".spec.numberOfInstances"),
        ("Volume", "string", ".spec.volume.size"),
        ("CPU-Request", "string", ".spec.resources.requests.cpu"),
        ("Memory-Request", "string", ".spec.resources.requests.memory"),
        ("Age", "date", ".metadata.creationTimestamp"),
        ("Status", "string", ".status.PostgresClusterStatus"),
    ]


def test_role_copy_is_identical():
    with open(CRD_PATH, "rb") as a, open(ROLE_COPY, "rb") as b:
        assert a.read() == b.read(), "roles/crd/files/postgresql.crd.yaml differs: cp %s %s" % (CRD_PATH, ROLE_COPY)


# ----------------------------------------------------------------------------------------------
# (a) structural
# ----------------------------------------------------------------------------------------------
def test_crd_schema_is_structural():
    assert structural_errors(SCHEMA) == []


BAD_SCHEMAS = [
    ("no type at a field", {"type": "object", "properties": {"a": {"description": "x"}}},
     "properties.a.type: must not be empty for object fields"),
    ("no type for items", {"type": "object", "properties": {"a": {"type": "array", "items": {}}}},
     "properties.a.items.type: must not be empty for array items"),
    ("array without items", {"type": "object", "properties": {"a": {"type": "array"}}},
     "properties.a.items: must be specified"),
    ("root not an object", {"type": "string"}, "must be object at the root"),
    ("metadata restricted beyond name", {"type": "object", "properties": {"metadata": {
        "type": "object", "properties": {"labels": {"type": "object"}}}}},
     "must not specify anything other than name and generateName"),
    ("metadata with a description", {"type": "object", "properties": {"metadata": {
        "type": "object", "description": "x"}}}, "must not specify anything other than name and generateName"),
    ("kind not a string", {"type": "object", "properties": {"kind": {"type": "integer"}}},
     "properties.kind.type: must be string"),
    ("properties with additionalProperties", {"type": "object", "properties": {"a": {
        "type": "object", "properties": {"b": {"type": "string"}}, "additionalProperties": {"type": "string"}}}},
     "properties and additionalProperties exclude each other"),
    ("additionalProperties false", {"type": "object", "properties": {"a": {
        "type": "object", "additionalProperties": False}}}, "cannot be false"),
    ("additionalProperties at the root", {"type": "object", "additionalProperties": {"type": "string"}},
     "must not be used at the root"),
    ("type in anyOf", {"type": "object", "properties": {"a": {"type": "string", "anyOf": [{"type": "string"}]}}},
     "anyOf[0].type: must not be set in a nested value validation"),
    ("description in oneOf", {"type": "object", "properties": {"a": {"type": "object", "properties": {
        "b": {"type": "string"}}, "oneOf": [{"description": "x", "required": ["b"]}]}}},
     "oneOf[0].description: must not be set"),
    ("nested field not specified outside", {"type": "object", "properties": {"a": {"type": "object", "properties": {
        "b": {"type": "string"}}, "allOf": [{"properties": {"c": {"pattern": "^x$"}}}]}}},
     "allOf[0].properties.c: adds a field the structural schema does not specify"),
    ("metadata in a nested context", {"type": "object", "properties": {"a": {
        "type": "object", "x-kubernetes-preserve-unknown-fields": True,
        "not": {"properties": {"metadata": {"required": ["x"]}}}}}},
     "must not be specified in a nested context"),
    ("int-or-string with preserve", {"type": "object", "properties": {"a": {
        "x-kubernetes-int-or-string": True, "x-kubernetes-preserve-unknown-fields": True}}}, "exclude each other"),
    ("default of the wrong type", {"type": "object", "properties": {"a": {"type": "integer", "default": "x"}}},
     "properties.a.default: does not validate"),
    ("default with pruned fields", {"type": "object", "properties": {"a": {
        "type": "object", "properties": {"b": {"type": "string"}}, "default": {"b": "x", "c": "y"}}}},
     "properties.a.default: "),
    ("enum of the wrong type", {"type": "object", "properties": {"a": {"type": "string", "enum": ["x", 1]}}},
     "properties.a.enum: 1 is not of type string"),
    ("look-ahead pattern", {"type": "object", "properties": {"a": {"type": "string", "pattern": "^(?!x)"}}},
     "Go (RE2) rejects"),
    ("unknown format", {"type": "object", "properties": {"a": {"type": "string", "format": "zip-code"}}},
     "is unknown to the API server"),
    ("required field not a property", {"type": "object", "properties": {"a": {
        "type": "object", "required": ["c"], "properties": {"b": {"type": "string"}}}}},
     "'c' is not a property"),
]


@pytest.mark.parametrize("schema,expected", [row[1:] for row in BAD_SCHEMAS], ids=[row[0] for row in BAD_SCHEMAS])
def test_structural_checker_catches(schema, expected):
    errors = structural_errors(schema)
    assert any(expected in e for e in errors), errors


GOOD_SCHEMAS = [
    ("int-or-string", {"type": "object", "properties": {"a": {
        "x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]}}}),
    ("int-or-string allOf", {"type": "object", "properties": {"a": {
        "x-kubernetes-int-or-string": True,
        "allOf": [{"anyOf": [{"type": "integer"}, {"type": "string"}]}, {"pattern": "^x"}]}}}),
    ("preserve without type", {"type": "object", "properties": {"a": {"x-kubernetes-preserve-unknown-fields": True}}}),
    ("metadata name only", {"type": "object", "properties": {"metadata": {
        "type": "object", "properties": {"name": {"type": "string", "maxLength": 20}}}}}),
    ("value validation on a known field", {"type": "object", "properties": {"a": {
        "type": "object", "properties": {"b": {"type": "string"}, "c": {"type": "string"}},
        "oneOf": [{"required": ["b"]}, {"required": ["c"]}]}}}),
    ("valid default", {"type": "object", "properties": {"a": {
        "type": "object", "properties": {"b": {"type": "string"}}, "default": {"b": "x"}}}}),
]


@pytest.mark.parametrize("schema", [row[1] for row in GOOD_SCHEMAS], ids=[row[0] for row in GOOD_SCHEMAS])
def test_structural_checker_accepts(schema):
    assert structural_errors(schema) == []


def test_no_defaults_in_crd():
    """We default in code (the model), never in the schema: a default would be written into every
    stored object and show up as drift in GitOps tools."""
    found = []

    def walk(node, path):
        if isinstance(node, dict):
            if "default" in node and isinstance(node.get("type"), str):
                found.append(path)
            for key, value in node.items():
                walk(value, path + "." + key)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, "%s[%d]" % (path, i))

    walk(SCHEMA, "openAPIV3Schema")
    assert found == []


# ----------------------------------------------------------------------------------------------
# (b) the CRD object itself
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("k8s_version", [K8S_OLDEST, K8S_NEWEST])
def test_crd_object_validates(k8s_version):
    assert kubernetes_validate.validate(CRD, k8s_version, strict=True)


# ----------------------------------------------------------------------------------------------
# coverage of the manifest fields
# ----------------------------------------------------------------------------------------------
SPEC_FIELDS = {
    "teamId", "numberOfInstances", "dockerImage", "postgresql", "volume", "resources", "patroni",
    "users", "usersWithSecretRotation", "usersWithInPlaceSecretRotation", "usersIgnoringSecretRotation",
    "databases", "preparedDatabases", "enableShmVolume",
    "enableMasterLoadBalancer", "enableReplicaLoadBalancer", "enableMasterPoolerLoadBalancer",
    "enableReplicaPoolerLoadBalancer", "enableMasterNodePort", "enableReplicaNodePort",
    "enableMasterPoolerNodePort", "enableReplicaPoolerNodePort", "masterNodePort", "replicaNodePort",
    "masterPoolerNodePort", "replicaPoolerNodePort", "allowedSourceRanges",
    "serviceAnnotations", "masterServiceAnnotations", "replicaServiceAnnotations", "podAnnotations",
    "tolerations", "nodeAffinity", "topologySpreadConstraints", "schedulerName", "podPriorityClassName",
    "spiloRunAsUser", "spiloRunAsGroup", "spiloFSGroup", "sidecars", "initContainers", "additionalVolumes",
    "env", "envFrom", "livenessProbe", "enableConnectionPooler", "enableReplicaConnectionPooler",
    "connectionPooler", "enableLogicalBackup", "logicalBackupSchedule", "logicalBackupRetention",
    "standby", "clone", "tls", "maintenanceWindows", "streams",
    # deprecated v1 names and our extension
    "useLoadBalancer", "replicaLoadBalancer", "init_containers", "pod_priority_class_name", "imagePullSecrets",
}


def test_every_manifest_field_is_in_the_schema():
    assert set(SPEC["properties"]) == SPEC_FIELDS


def test_required_and_bounds():
    assert SCHEMA["required"] == ["metadata", "spec"]
    assert sorted(SPEC["required"]) == ["numberOfInstances", "postgresql", "teamId", "volume"]
    props = SPEC["properties"]
    assert props["numberOfInstances"]["minimum"] == 0
    assert props["postgresql"]["required"] == ["version"]
    assert props["volume"]["required"] == ["size"]
    assert props["volume"]["properties"]["iops"]["maximum"] == 80000
    assert props["volume"]["properties"]["throughput"]["maximum"] == 2000
    assert props["connectionPooler"]["properties"]["numberOfInstances"]["minimum"] == 1
    assert props["connectionPooler"]["properties"]["mode"]["enum"] == ["session", "transaction"]
    assert props["clone"]["required"] == ["cluster"]
    assert props["clone"]["properties"]["uid"]["format"] == "uuid"
    assert props["tls"]["required"] == ["secretName"]
    assert sorted(props["streams"]["items"]["required"]) == ["applicationId", "database", "tables"]
    assert props["streams"]["items"]["properties"]["tables"]["additionalProperties"]["required"] == ["eventType"]
    assert sorted(props["additionalVolumes"]["items"]["required"]) == ["mountPath", "name", "volumeSource"]
    assert sorted(props["topologySpreadConstraints"]["items"]["required"]) == [
        "maxSkew", "topologyKey", "whenUnsatisfiable"]
    assert props["env"]["items"]["required"] == ["name"]
    assert props["initContainers"]["items"]["required"] == ["name"]


def test_version_enum():
    assert SPEC["properties"]["postgresql"]["properties"]["version"]["enum"] == ["13", "14", "15", "16", "17", "18"]


def test_user_flags_enum():
    flags = ["superuser", "inherit", "login", "createrole", "createdb", "replication", "bypassrls"]
    expected = set()
    for flag in flags:
        for word in (flag, "no" + flag if flag != "login" else "nologin"):
            expected |= {word, word.upper()}
    enum = SPEC["properties"]["users"]["additionalProperties"]["items"]["enum"]
    assert len(enum) == len(set(enum)) == 28
    assert set(enum) == expected


FREE_FORM = ["nodeAffinity", "livenessProbe", "sidecars.items", "initContainers.items", "init_containers.items",
             "tolerations.items", "topologySpreadConstraints.items", "additionalVolumes.items.properties.volumeSource",
             "env.items.properties.valueFrom"]


@pytest.mark.parametrize("dotted", FREE_FORM)
def test_free_form_kubernetes_objects_keep_unknown_fields(dotted):
    node = SPEC["properties"]
    parts = dotted.split(".")
    node = node[parts[0]]
    for part in parts[1:]:
        node = node[part]
    assert node.get("x-kubernetes-preserve-unknown-fields") is True


def test_status_schema():
    status = SCHEMA["properties"]["status"]
    assert status["type"] == "object"
    assert status["x-kubernetes-preserve-unknown-fields"] is True
    assert status["properties"]["PostgresClusterStatus"]["type"] == "string"
    assert status["properties"]["observedGeneration"]["type"] == "integer"
    assert status["properties"]["conditions"]["type"] == "array"
    assert status["properties"]["conditions"]["items"]["type"] == "object"
    assert "bare string" in SCHEMA["description"]


# ----------------------------------------------------------------------------------------------
# (c) manifests that must validate
# ----------------------------------------------------------------------------------------------
def test_reference_manifests_found():
    names = [os.path.basename(p) for p in reference_manifests()]
    assert "minimal-postgres-manifest.yaml" in names
    assert "complete-postgres-manifest.yaml" in names


@pytest.mark.parametrize("path", reference_manifests(), ids=os.path.basename)
def test_reference_manifest_validates(path):
    assert manifest_errors(load_yaml(path)) == []


def with_changes(changes, base=None):
    """A copy of `base` (the minimal manifest) with dotted paths set (value) or removed (DELETE)."""
    doc = copy.deepcopy(MINIMAL if base is None else base)
    for dotted, value in changes.items():
        parts = dotted.split(".")
        node = doc
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        if value is DELETE:
            node.pop(parts[-1], None)
        else:
            node[parts[-1]] = value
    return doc


DELETE = object()

VALID_VARIANTS = [
    ("ipv6 source ranges", {"spec.allowedSourceRanges": ["2001:db8::/32", "::1/128", "fe80::1:2:3:4/64", "10.0.0.0/8"]}),
    ("null source ranges", {"spec.allowedSourceRanges": None}),
    ("maintenance windows", {"spec.maintenanceWindows": ["01:00-06:00", "Sat:00:00-04:00", " Sun:1:5-Sun:2:30 "]}),
    ("clone with offset", {"spec.clone": {"cluster": "acid-minimal-cluster", "uid": "efd12e58-5786-11e8-b5a7-06148230260c",
                                          "timestamp": "2017-12-19T12:40:33.123-08:00", "s3_force_path_style": True}}),
    ("clone from the live cluster", {"spec.clone": {"cluster": "acid-minimal-cluster"}}),
    ("logical backup", {"spec.enableLogicalBackup": True, "spec.logicalBackupSchedule": "*/15 0 * * 1",
                        "spec.logicalBackupRetention": "3 months"}),
    ("every version", {"spec.postgresql.version": "13"}),
    ("upper and lower case flags", {"spec.users": {"a": ["LOGIN", "nocreatedb", "BYPASSRLS"], "b": None, "c": []}}),
    ("resources", {"spec.resources": {"requests": {"cpu": "1.5", "memory": "1e3", "hugepages-2Mi": "128Mi"},
                                      "limits": {"cpu": "2000m", "memory": "1.5Gi"}}}),
    ("pooler", {"spec.enableConnectionPooler": True, "spec.connectionPooler": {
        "numberOfInstances": 1, "mode": "session", "maxDBConnections": 30,
        "resources": {"requests": {"cpu": "300m", "memory": "100Mi"}, "limits": {"cpu": "1", "memory": "100Mi"}}}}),
    ("deprecated aliases", {"spec.useLoadBalancer": True, "spec.replicaLoadBalancer": False,
                            "spec.init_containers": [{"name": "date", "image": "busybox", "command": ["/bin/date"]}],
                            "spec.pod_priority_class_name": "spilo-pod-priority"}),
    ("image pull secrets", {"spec.imagePullSecrets": [{"name": "registry-creds"}]}),
    ("standby", {"spec.standby": {"standby_host": "acid-source.default", "standby_port": "5432",
                                  "s3_wal_path": "s3://bucket/spilo/acid-source/wal/15"}}),
    ("tls", {"spec.tls": {"secretName": "pg-tls", "caFile": "ca.crt", "caSecretName": "pg-ca"}, "spec.spiloFSGroup": 103}),
    ("streams", {"spec.streams": [{"applicationId": "app", "database": "foo", "batchSize": 100,
                                   "tables": {"data.outbox": {"eventType": "app.event", "idColumn": "id"}},
                                   "filter": {"data.outbox": None}}]}),
    ("free-form kubernetes objects", {
        "spec.tolerations": [{"key": "postgres", "operator": "Exists", "effect": "NoSchedule"}],
        "spec.nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "pg", "operator": "In", "values": ["yes"]}]}]}},
        "spec.topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                            "whenUnsatisfiable": "DoNotSchedule", "nodeAffinityPolicy": "Honor"}],
        "spec.sidecars": [{"name": "exporter", "image": "exporter:1", "ports": [{"containerPort": 9187}]}],
        "spec.env": [{"name": "WAL_S3_BUCKET", "value": ""},
                     {"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
        "spec.envFrom": [{"configMapRef": {"name": "pg-env"}}, {"secretRef": {"name": "pg-secret", "optional": True}}],
        "spec.livenessProbe": {"httpGet": {"path": "/health", "port": 8008}, "periodSeconds": 10},
        "spec.additionalVolumes": [{"name": "data", "mountPath": "/x", "isSubPathExpr": True, "subPath": "$(POD_NAME)",
                                    "targetContainers": None,
                                    "volumeSource": {"persistentVolumeClaim": {"claimName": "x"}}}]}),
    ("volume details", {"spec.volume": {"size": "10Gi", "storageClass": "gp3", "iops": 80000, "throughput": 2000,
                                        "type": "gp3", "subPath": "$(NODE_NAME)", "isSubPathExpr": True,
                                        "selector": {"matchLabels": {"env": "dev"},
                                                     "matchExpressions": [{"key": "f", "operator": "In", "values": ["a"]}]}}}),
    ("prepared database without details", {"spec.preparedDatabases": {"bar": None, "baz": {"schemas": {"data": None}}}}),
    ("zero instances", {"spec.numberOfInstances": 0}),
    ("status written by the operator", {"status": {
        "PostgresClusterStatus": "Running", "observedGeneration": 3,
        "conditions": [{"type": "Running", "status": "True", "reason": "Successful", "message": "",
                        "lastTransitionTime": "2026-01-01T00:00:00Z",
                        "ansibleResult": {"changed": 0, "failures": 0, "ok": 12, "skipped": 3}}]}}),
    ("patroni", {"spec.patroni": {"initdb": {"encoding": "UTF8", "data-checksums": "true"}, "pg_hba": ["local all all trust"],
                                  "slots": {"s1": {"type": "logical", "database": "foo", "plugin": "pgoutput"}},
                                  "ttl": 30, "loop_wait": 10, "retry_timeout": 10, "maximum_lag_on_failover": 33554432,
                                  "synchronous_mode": True, "synchronous_mode_strict": False,
                                  "synchronous_node_count": 1, "failsafe_mode": True}}),
    ("node ports", {"spec.enableMasterNodePort": True, "spec.masterNodePort": 30432, "spec.replicaNodePort": 0}),
]


@pytest.mark.parametrize("changes", [row[1] for row in VALID_VARIANTS], ids=[row[0] for row in VALID_VARIANTS])
def test_valid_variants(changes):
    assert manifest_errors(with_changes(changes)) == []


# ----------------------------------------------------------------------------------------------
# (d) manifests that must be rejected, each naming the field
# ----------------------------------------------------------------------------------------------
INVALID = [
    ("negative instances", {"spec.numberOfInstances": -1}, "spec.numberOfInstances: -1 is less than the minimum"),
    ("instances as a string", {"spec.numberOfInstances": "2"}, "spec.numberOfInstances: '2' is not of type"),
    ("no teamId", {"spec.teamId": DELETE}, "spec.teamId: required field is missing"),
    ("no spec", {"spec": DELETE}, "spec: required field is missing"),
    ("no volume size", {"spec.volume.size": DELETE}, "spec.volume.size: required field is missing"),
    ("no postgresql version", {"spec.postgresql": {}}, "spec.postgresql.version: required field is missing"),
    ("bad volume size", {"spec.volume.size": "1GB"}, "spec.volume.size: '1GB' does not match"),
    ("unsupported version", {"spec.postgresql.version": "12"}, "spec.postgresql.version: '12' is not one of"),
    ("version as a number", {"spec.postgresql.version": 17}, "spec.postgresql.version: 17 is not one of"),
    ("unknown user flag", {"spec.users.zalando": ["superuser", "admin"]}, "spec.users.zalando[1]: 'admin' is not one of"),
    ("cpu with 4 decimals", {"spec.resources": {"requests": {"cpu": "1.2345"}}}, "spec.resources.requests.cpu:"),
    ("memory in MB", {"spec.resources": {"limits": {"memory": "500MB"}}}, "spec.resources.limits.memory: '500MB'"),
    ("window hour 25", {"spec.maintenanceWindows": ["Mon:25:00-26:00"]}, "spec.maintenanceWindows[0]:"),
    ("window without end", {"spec.maintenanceWindows": ["01:00"]}, "spec.maintenanceWindows[0]:"),
    ("schedule with a range", {"spec.logicalBackupSchedule": "0 1-5 * * *"}, "spec.logicalBackupSchedule:"),
    ("schedule with 4 fields", {"spec.logicalBackupSchedule": "0 1 * *"}, "spec.logicalBackupSchedule:"),
    ("clone timestamp in UTC Z", {"spec.clone": {"cluster": "a", "timestamp": "2025-12-19T12:40:33Z"}},
     "spec.clone.timestamp: '2025-12-19T12:40:33Z' does not match"),
    ("clone without cluster", {"spec.clone": {"timestamp": "2025-12-19T12:40:33+01:00"}},
     "spec.clone.cluster: required field is missing"),
    ("clone uid not a uuid", {"spec.clone": {"cluster": "a", "uid": "not-a-uuid"}}, "spec.clone.uid: 'not-a-uuid' is not a 'uuid'"),
    ("ipv4 prefix 33", {"spec.allowedSourceRanges": ["10.0.0.0/33"]}, "spec.allowedSourceRanges[0]: '10.0.0.0/33'"),
    ("ipv4 octet 256", {"spec.allowedSourceRanges": ["256.0.0.0/8"]}, "spec.allowedSourceRanges[0]:"),
    ("ipv6 prefix 129", {"spec.allowedSourceRanges": ["2001:db8::/129"]}, "spec.allowedSourceRanges[0]:"),
    ("address without prefix", {"spec.allowedSourceRanges": ["10.0.0.1"]}, "spec.allowedSourceRanges[0]:"),
    ("pooler mode statement", {"spec.connectionPooler": {"mode": "statement"}}, "spec.connectionPooler.mode: 'statement'"),
    ("pooler with 0 pods", {"spec.connectionPooler": {"numberOfInstances": 0}}, "spec.connectionPooler.numberOfInstances: 0"),
    ("too many iops", {"spec.volume.iops": 90000}, "spec.volume.iops: 90000 is greater than the maximum"),
    ("too much throughput", {"spec.volume.throughput": 2001}, "spec.volume.throughput: 2001 is greater than the maximum"),
    ("tls without secret", {"spec.tls": {"certificateFile": "tls.crt"}}, "spec.tls.secretName: required field is missing"),
    ("volume without source", {"spec.additionalVolumes": [{"name": "a", "mountPath": "/a"}]},
     "spec.additionalVolumes[0].volumeSource: required field is missing"),
    ("stream table without event type", {"spec.streams": [{"applicationId": "a", "database": "d", "tables": {"t": {}}}]},
     "spec.streams[0].tables.t.eventType: required field is missing"),
    ("spread without whenUnsatisfiable", {"spec.topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "z"}]},
     "spec.topologySpreadConstraints[0].whenUnsatisfiable: required field is missing"),
    ("env without name", {"spec.env": [{"value": "x"}]}, "spec.env[0].name: required field is missing"),
    ("init container without name", {"spec.initContainers": [{"image": "busybox"}]},
     "spec.initContainers[0].name: required field is missing"),
    ("misspelled field", {"spec.numberOfInstance": 2}, "spec.numberOfInstance: unknown field"),
    ("misspelled spread key (e2e quirk)", {"spec.topologySpreadConstraint": []}, "spec.topologySpreadConstraint: unknown field"),
    ("unquoted parameter value", {"spec.postgresql.parameters": {"max_connections": 100}},
     "spec.postgresql.parameters.max_connections: 100 is not of type 'string'"),
    ("boolean as text", {"spec.enableLogicalBackup": "yes"}, "spec.enableLogicalBackup: 'yes' is not of type 'boolean'"),
    ("database owner not a string", {"spec.databases": {"foo": 1}}, "spec.databases.foo: 1 is not of type 'string'"),
    ("node port out of range", {"spec.masterNodePort": 70000}, "spec.masterNodePort: 70000 is greater than the maximum"),
    ("empty image pull secret", {"spec.imagePullSecrets": [{}]}, "spec.imagePullSecrets[0].name: required field is missing"),
    ("condition without status", {"status": {"conditions": [{"type": "Running"}]}},
     "status.conditions[0].status: required field is missing"),
    ("status as a bare string", {"status": "Running"}, "status: 'Running' is not of type 'object'"),
]


def test_invalid_table_is_large_enough():
    assert len(INVALID) >= 15


@pytest.mark.parametrize("changes,expected", [row[1:] for row in INVALID], ids=[row[0] for row in INVALID])
def test_invalid_manifest_names_the_field(changes, expected):
    errors = manifest_errors(with_changes(changes))
    assert errors, "accepted an invalid manifest"
    assert any(e.startswith(expected) for e in errors), errors


# ----------------------------------------------------------------------------------------------
# the patterns, against independent implementations
# ----------------------------------------------------------------------------------------------
CIDR = re.compile(SPEC["properties"]["allowedSourceRanges"]["items"]["pattern"])


def test_cidr_pattern_accepts_what_ipaddress_accepts():
    rng = random.Random(7)
    samples = []
    for _round in range(300):
        v4 = ipaddress.IPv4Network((rng.getrandbits(32), rng.randint(0, 32)), strict=False)
        samples.append("%s/%d" % (v4.network_address, v4.prefixlen))
        zeros = rng.randint(0, 7)
        groups = [rng.getrandbits(16) if rng.random() < 0.6 else 0 for _group in range(8 - zeros)] + [0] * zeros
        rng.shuffle(groups)
        address = ipaddress.IPv6Address(int("".join("%04x" % g for g in groups), 16))
        prefix = rng.randint(0, 128)
        samples.append("%s/%d" % (address.compressed, prefix))
        samples.append("%s/%d" % (address.exploded, prefix))
    samples += ["::/0", "::1/128", "1::/16", "1:2:3:4:5:6:7::/112", "::2:3:4:5:6:7:8/64", "0.0.0.0/0"]
    for text in samples:
        ipaddress.ip_network(text, strict=False)  # the sample itself is valid
        assert CIDR.match(text), text


@pytest.mark.parametrize("text", [
    "10.0.0.0", "10.0.0.0/", "10.0.0/8", "10.0.0.0.0/8", "01.0.0.0/8x", "1.2.3.4/33", "300.1.1.1/8",
    "2001:db8::/", "2001:db8:::1/64", "1:2:3:4:5:6:7:8:9/64", "12345::/16", "g::/16", "2001:db8::/130",
    "::1::/64", " 10.0.0.0/8", "10.0.0.0/8 ",
])
def test_cidr_pattern_rejects(text):
    assert not CIDR.match(text)


WINDOW = re.compile(SPEC["properties"]["maintenanceWindows"]["items"]["pattern"])


@pytest.mark.parametrize("text,ok", [
    ("01:00-06:00", True), ("Sat:00:00-04:00", True), ("Mon:23:59-Mon:23:59", True), ("  1:5-2:30  ", True),
    ("24:00-01:00", False), ("01:60-02:00", False), ("sat:00:00-04:00", False), ("Sat:00:00", False),
    ("Saturday:00:00-04:00", False), ("01:00-06:00-07:00", False),
])
def test_maintenance_window_pattern(text, ok):
    assert bool(WINDOW.match(text)) is ok


def test_patterns_are_go_compatible():
    patterns = []

    def walk(node):
        if isinstance(node, dict):
            if "pattern" in node:
                patterns.append(node["pattern"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(SCHEMA)
    assert len(patterns) >= 10
    for pattern in patterns:
        assert pattern.startswith("^") and pattern.endswith("$"), pattern
        assert not RE2_UNSUPPORTED.search(pattern), pattern
