"""Property-based tests of the manifest model (hypothesis).

For generated manifests (valid values mixed with hostile ones in every field the door checks),
``build_model`` either refuses cleanly (ManifestErrors, every error naming a ``spec.``/``metadata.``
field and a fix) or returns a model whose rendered objects (the role ``cluster`` templates, rendered
in process as benchmarks/render_bench.py does) pass strict Kubernetes schema validation.
Deterministic (derandomize), no example database, no deadline (a busy machine is not a failure).
"""

import importlib.util
import os
import re

import kubernetes_validate
from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import ManifestErrors
from ansible_collections.pgfleet.postgres.plugins.module_utils.model.manifest import build_model
from ansible_collections.pgfleet.postgres.tests.harness import REPO
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

FIELD_RE = re.compile(r"^(spec|metadata)([.\[]|$)|^(apiVersion|kind)$")
K8S_VERSION = kubernetes_validate.utils.latest_version()


def _render_module():
    spec = importlib.util.spec_from_file_location("pgfleet_render_bench", os.path.join(REPO, "benchmarks", "render_bench.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RENDER = _render_module()
JINJA = RENDER._environment()

# No shrinking: a failure is reported as generated (shrinking can take minutes on a busy machine).
SETTINGS = dict(derandomize=True, database=None, deadline=None, print_blob=False, phases=[Phase.explicit, Phase.generate],
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])

# -- every field: a valid strategy and a hostile one; ``manifests(rate)`` picks the hostile one with
# probability rate/100 per field, so both clean refusals and accepted manifests are explored.
HOSTILE_TEXT = ["", " ", "a\nb", "x\x00y", "../../etc", "a;drop table x", "'; --", '"', "{{ lookup('pipe','id') }}",
                "$(id)", "`id`", "\u202e", "\u00e9", "a" * 70, "A", "-a", "a-", "a..b", "%s%n"]
text = st.one_of(st.sampled_from(HOSTILE_TEXT), st.text(max_size=20))
hostile_ints = st.one_of(st.integers(-3, 3), st.sampled_from([2 ** 31, 2 ** 63, 10 ** 20, 1000000000]), st.booleans(),
                         st.floats(allow_nan=False), text)
label = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,8}[a-z0-9])?\Z")
label_key = st.one_of(label, st.builds("{}/{}".format, st.sampled_from(["example.com", "a.b.c"]), label))
free_text = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=30)
flag_lists = st.lists(st.sampled_from(["superuser", "createdb", "LOGIN", "NOLOGIN", "inherit", "replication", "bypassrls"]),
                      max_size=3, unique_by=str.upper)
PARAMETERS = [("work_mem", "4MB"), ("max_connections", "100"), ("shared_buffers", "128MB"), ("log_statement", "all"),
              ("application_name", "app"), ("checkpoint_completion_target", "0.9"), ("pg_stat_statements.track", "all"),
              ("statement_timeout", "30s"), ("fsync", "on")]
memory = st.sampled_from(["1Gi", "500Mi", "2Gi", "100Mi"])
cpu = st.sampled_from(["250m", "1", "2", "100m"])
HBA = ["hostssl all all 0.0.0.0/0 scram-sha-256", "local all all trust", "host all all 127.0.0.1/32 trust",
       "host replication standby 10.0.0.0/8 md5"]

FIELDS = {
    "metadata.name": (st.builds("acid-{}".format, label), st.one_of(st.sampled_from(["acid-" + "x" * 60, "Acid"]), text)),
    "metadata.namespace": (st.one_of(st.just("default"), label), text),
    "metadata.labels": (st.dictionaries(label_key, label, max_size=2), st.dictionaries(text, text, max_size=2)),
    "metadata.annotations": (st.dictionaries(label_key, free_text, max_size=2), st.dictionaries(text, text, max_size=2)),
    "spec.teamId": (st.sampled_from(["acid", "team-a"]), text),
    "spec.numberOfInstances": (st.integers(0, 10), hostile_ints),
    "spec.volume.size": (memory, st.one_of(st.sampled_from(["lots", "1Gi\n", "-1"]), text)),
    "spec.postgresql.version": (st.sampled_from(["15", "18", "17", 15]), st.sampled_from(["99", "15; rm", 15.5, None])),
    "spec.postgresql.parameters": (st.lists(st.sampled_from(PARAMETERS), max_size=3).map(dict),
                                   st.dictionaries(text, st.one_of(text, hostile_ints), max_size=2)),
    "spec.users": (st.dictionaries(st.from_regex(r"\A[a-z]([a-z0-9_]{0,11}[a-z0-9])?\Z"), flag_lists, max_size=3),
                   st.dictionaries(text, st.one_of(st.lists(text, max_size=2), text), max_size=2)),
    "spec.databases": (st.dictionaries(st.from_regex(r"\A[a-z][a-z0-9_]{0,12}\Z"), st.just("zalando"), max_size=2),
                       st.dictionaries(text, text, max_size=2)),
    "spec.patroni": (st.fixed_dictionaries({}, optional={"pg_hba": st.lists(st.sampled_from(HBA), max_size=3), "ttl": st.integers(20, 60)}),
                     st.fixed_dictionaries({}, optional={"pg_hba": st.lists(text, max_size=2), "ttl": hostile_ints})),
    "spec.tolerations": (st.lists(st.one_of(
        st.fixed_dictionaries({"key": label_key, "operator": st.just("Equal"), "value": label,
                               "effect": st.sampled_from(["NoSchedule", "PreferNoSchedule", "NoExecute"])}),
        st.fixed_dictionaries({"operator": st.just("Exists")})), max_size=2),
        st.lists(st.fixed_dictionaries({}, optional={"key": text, "operator": st.sampled_from(["Exists", "Equal", "Maybe", ""]),
                                                     "value": text, "effect": st.sampled_from(["NoSchedule", "Sometimes", ""]),
                                                     "tolerationSeconds": hostile_ints}), max_size=2)),
    "spec.env": (st.lists(st.fixed_dictionaries({"name": st.from_regex(r"\A[A-Z_][A-Z0-9_]{0,10}\Z"), "value": free_text}), max_size=2),
                 st.lists(st.fixed_dictionaries({"name": text, "value": st.one_of(text, hostile_ints)}), max_size=2)),
    "spec.podAnnotations": (st.dictionaries(label_key, free_text, max_size=2), st.dictionaries(text, text, max_size=2)),
    "spec.resources": (st.fixed_dictionaries({"requests": st.fixed_dictionaries({"cpu": cpu, "memory": memory})}),
                       st.fixed_dictionaries({"requests": st.fixed_dictionaries({"cpu": text, "memory": text})})),
    "spec.enableConnectionPooler": (st.booleans(), text),
    "spec.connectionPooler": (st.fixed_dictionaries({}, optional={"numberOfInstances": st.integers(1, 5),
                                                                  "mode": st.sampled_from(["session", "transaction"])}),
                              st.fixed_dictionaries({}, optional={"numberOfInstances": hostile_ints, "mode": text})),
    "spec.allowedSourceRanges": (st.lists(st.sampled_from(["10.0.0.0/8", "192.168.0.0/16", "fd00::/8"]), max_size=2),
                                 st.lists(text, max_size=2)),
    "spec.maintenanceWindows": (st.lists(st.sampled_from(["Sat:01:00-05:00", "01:00-02:00"]), max_size=2), st.lists(text, max_size=2)),
}
REQUIRED = ("metadata.name", "spec.teamId", "spec.numberOfInstances", "spec.volume.size", "spec.postgresql.version")


@st.composite
def manifests(draw, rate):
    """A manifest; each field hostile with probability ``rate``/100, optional fields present half of the time."""
    cr = {"apiVersion": "acid.zalan.do/v1", "kind": "postgresql", "metadata": {}, "spec": {"postgresql": {}, "volume": {}}}
    for path, (valid, hostile) in FIELDS.items():
        if path not in REQUIRED and not draw(st.booleans()):
            continue
        value = draw(hostile if draw(st.integers(0, 99)) < rate else valid)
        node = cr
        parts = path.split(".")
        for part in parts[:-1]:
            node = node[part]
        node[parts[-1]] = value
    return cr


def _assert_clean_refusal(exc):
    assert exc.errors
    for error in exc.errors:
        assert FIELD_RE.match(error.field), "the error does not name a manifest field: %r" % error.msg[:300]
        assert error.fix, "no fix in %r" % error.msg[:300]
    assert len(exc.msg) < 20000
    assert "AnsibleUnsafe" not in exc.msg


@settings(max_examples=2000, **SETTINGS)
@given(manifests(30))
def test_the_model_refuses_cleanly_or_builds(cr):
    try:
        model = build_model(cr, None)
    except ManifestErrors as exc:
        _assert_clean_refusal(exc)
        return
    assert 0 <= model["instances"] <= 2 ** 31 - 1


@settings(max_examples=300, **SETTINGS)
@given(manifests(3))
def test_what_the_model_accepts_renders_valid_kubernetes_objects(cr):
    try:
        objects = RENDER.render_in_process(JINJA, cr, None)
    except ManifestErrors as exc:
        _assert_clean_refusal(exc)
        return
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            raise AssertionError("%s %s is invalid for Kubernetes %s: %s at %s"
                                 % (obj.get("kind"), obj.get("metadata", {}).get("name"), K8S_VERSION, exc.message, list(exc.path))) from None
