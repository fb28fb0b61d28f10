"""The door checks (module_utils/model/door.py) on their own: bounds, Kubernetes syntax, plain copies, short messages."""

from ansible.utils.unsafe_proxy import AnsibleUnsafeText
from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import ManifestError
from ansible_collections.pgfleet.postgres.plugins.module_utils.model import door
from hostile_corpus import BASE, manifest


class Problems(object):
    def __init__(self):
        self.errors = []
        self.warnings = []

    def error(self, field, problem, fix=None):
        self.errors.append(ManifestError(field, problem, fix))

    def warn(self, message):
        self.warnings.append(message)


def check(cr):
    p = Problems()
    door.check_door(cr, None, p)
    return p


def test_base_passes_and_the_copy_is_plain():
    cr = manifest({"spec.teamId": AnsibleUnsafeText("acid"), "metadata.labels": {AnsibleUnsafeText("app"): AnsibleUnsafeText("x")}})
    p = Problems()
    copy = door.check_door(cr, None, p)
    assert p.errors == [] and p.warnings == []
    assert copy["spec"]["teamId"].__class__ is str
    assert all(k.__class__ is str and v.__class__ is str for k, v in copy["metadata"]["labels"].items())
    assert check(BASE).errors == []


def test_messages_cut_long_values_and_name_the_field():
    p = check(manifest({"spec.teamId": "a" * (1024 * 1024)}))
    assert [e.field for e in p.errors] == ["spec.teamId"]
    assert len(p.errors[0].msg) < 300 and "1048576 characters" in p.errors[0].msg


def test_instances_bounded_and_int32():
    p = check(manifest({"spec.numberOfInstances": 2 ** 31}))
    assert p.errors[0].field == "spec.numberOfInstances" and "between 0 and %d" % door.MAX_INSTANCES in p.errors[0].fix
    assert check(manifest({"spec.numberOfInstances": door.MAX_INSTANCES})).errors == []


def test_users_bounded_at_the_measured_size():
    at_most = {"u%05d" % i: [] for i in range(door.MAX_USERS)}
    assert door.MAX_USERS == 10000 and check(manifest({"spec.users": at_most})).errors == []
    at_most["one_more"] = []
    p = check(manifest({"spec.users": at_most}))
    assert [e.field for e in p.errors] == ["spec.users"] and "keep at most 10000" in p.errors[0].fix


def test_namespace_is_a_dns_label():
    assert [e.field for e in check(manifest({"metadata.namespace": "../../etc"})).errors] == ["metadata.namespace"]
    assert check(manifest({"metadata.namespace": "team-a"})).errors == []


def test_annotations_total_size():
    ok = {"a": "x" * 100000, "b": "y" * 100000}
    assert check(manifest({"metadata.annotations": ok})).errors == []
    ok["c"] = "z" * 100000
    assert [e.field for e in check(manifest({"metadata.annotations": ok})).errors] == ["metadata.annotations"]


def test_parameters_without_a_table_warn_once():
    p = check(manifest({"spec.postgresql.version": "17", "spec.postgresql.parameters": {"work_mem": "lots", "x": "1"}}))
    assert p.errors == [] and len(p.warnings) == 1 and "PostgreSQL 17" in p.warnings[0]


def test_trust_allowed_by_annotation_warns():
    cr = manifest({"spec.patroni": {"pg_hba": ["host all all 0.0.0.0/0 trust"]},
                   "metadata.annotations": {"pgfleet.io/allow-trust-hba": "true"}})
    p = check(cr)
    assert p.errors == [] and "spec.patroni.pg_hba[0]" in p.warnings[0]


def test_valid_tolerations_pass():
    cr = manifest({"spec.tolerations": [{"key": "node-role", "operator": "Equal", "value": "db", "effect": "NoSchedule"},
                                        {"operator": "Exists"},
                                        {"key": "k", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30}]})
    assert check(cr).errors == []


def test_short_and_type_name():
    assert door.short("a\nb") == "'a\\nb'"
    assert door.short("x" * 100, 10) == "'xxxxxxxxxx...' (100 characters)"
    assert door.type_name(AnsibleUnsafeText("x")) == "a string" and door.type_name([]) == "a list"


def test_messages_name_yaml_types_not_python_classes():
    from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import ManifestErrors
    from ansible_collections.pgfleet.postgres.plugins.module_utils.model.manifest import build_model

    for change in ({"spec.users": AnsibleUnsafeText("x")}, {"spec.env": AnsibleUnsafeText("A=B")}, {"spec.nodeAffinity": AnsibleUnsafeText("x")}):
        try:
            build_model(manifest(change), None)
        except ManifestErrors as exc:
            assert "got a string" in exc.msg and "AnsibleUnsafe" not in exc.msg, exc.msg
        else:
            raise AssertionError("accepted %r" % change)
