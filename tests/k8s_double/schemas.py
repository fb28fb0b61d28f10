"""Schema validation of built-in objects with the real Kubernetes OpenAPI schemas.

The schemas come from the ``kubernetes-validate`` package (one directory per Kubernetes version).
The double validates with the *strict* variant, so an unknown field is refused (like a client
sending ``fieldValidation=Strict``); a real server by default drops it with a warning, which would
make a rendering mistake flap silently instead of failing a test.
"""

import functools
import json
import os
import re

try:
    import jsonschema
    import kubernetes_validate
    from referencing import Registry, Resource
except ImportError:  # pragma: no cover - the double then skips schema validation
    jsonschema = None


def _schema_dir(version, strict):
    base = os.path.join(os.path.dirname(kubernetes_validate.__file__), "kubernetes-json-schema")
    name = "v%s-local%s" % (version, "-strict" if strict else "")
    return os.path.join(base, name)


@functools.lru_cache(maxsize=None)
def _definitions(version, strict):
    with open(os.path.join(_schema_dir(version, strict), "_definitions.json")) as fh:
        return Resource.from_contents(json.load(fh))


@functools.lru_cache(maxsize=None)
def _validator(version, strict, kind, api_version):
    api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = os.path.join(_schema_dir(version, strict), "%s-%s.json" % (kind.lower(), api))
    if not os.path.exists(path):
        return None
    with open(path) as fh:
        schema = json.load(fh)
    registry = Resource.from_contents(schema) @ Registry()
    registry = _definitions(version, strict) @ registry
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


def default_version():
    if jsonschema is None:
        return None
    return kubernetes_validate.utils.latest_version()


def errors(obj, version, strict=True):
    """Messages for every schema violation of a built-in object (empty for unknown kinds)."""
    if jsonschema is None or not version:
        return []
    validator = _validator(version, strict, obj.get("kind", ""), obj.get("apiVersion", ""))
    if validator is None:
        return []
    out = []
    for err in sorted(validator.iter_errors(obj), key=lambda e: list(e.path)):
        where = ".".join(str(p) for p in err.path) or "<root>"
        out.append("%s: %s" % (where, err.message))
    return out[:20]
