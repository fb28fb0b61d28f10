"""Form fields and pasted YAML -> a postgresql object, and its problems next to the right field."""

import pytest
from pgfleet_console import forms

GOOD = {"metadata.namespace": "default", "metadata.name": "acid-orders", "spec.teamId": "acid",
        "spec.numberOfInstances": "2", "spec.postgresql.version": "15", "spec.volume.size": "1Gi",
        "spec.users": "app_owner: createdb\napp_user:", "spec.databases": "app: app_owner"}


def problems_of(form, base=None):
    cr, problems = forms.manifest_from_form(form, base)
    pairs, _warnings = ([], []) if problems else forms.validate(cr)
    return forms.group_problems(pairs, problems)


def test_a_good_form_makes_a_valid_manifest():
    cr, problems = forms.manifest_from_form(GOOD)
    assert problems == {}
    assert cr["spec"]["numberOfInstances"] == 2
    assert cr["spec"]["users"] == {"app_owner": ["createdb"], "app_user": []}
    assert cr["spec"]["databases"] == {"app": "app_owner"}
    assert "resources" not in cr["spec"]
    assert forms.validate(cr) == ([], [])


@pytest.mark.parametrize("field,value,words", [
    ("spec.volume.size", "ten", "quantity"),
    ("spec.numberOfInstances", "two", "whole number"),
    ("spec.postgresql.version", "99", "supported"),
    ("spec.resources.requests.cpu", "lots", "CPU"),
    ("metadata.name", "Bad_Name", "cluster name"),
    ("metadata.namespace", "Not A Namespace", "namespace"),
])
def test_each_problem_lands_next_to_its_field(field, value, words):
    by_field, general = problems_of(dict(GOOD, **{field: value}))
    assert list(by_field) == [field] and general == []
    assert words in " ".join(by_field[field])


def test_a_problem_inside_a_textarea_names_the_entry():
    by_field, _general = problems_of(dict(GOOD, **{"spec.users": "a b: superuser\napp_owner: createdb"}))
    assert list(by_field) == ["spec.users"]
    assert "spec.users.a b" in by_field["spec.users"][0]


@pytest.mark.parametrize("value,words", [
    ("acid-x\nmalicious: true", "single line"),
    ("x" * 300, "longer than"),
    ("acid\x00x", "single line"),
])
def test_single_line_fields_refuse_tricks(value, words):
    _cr, problems = forms.manifest_from_form(dict(GOOD, **{"metadata.name": value}))
    assert words in problems["metadata.name"][0]


def test_textareas_are_capped_and_need_name_value_lines():
    _cr, problems = forms.manifest_from_form(dict(GOOD, **{"spec.users": "x: a\n" * 5000}))
    assert "longer than" in problems["spec.users"][0]
    _cr, problems = forms.manifest_from_form(dict(GOOD, **{"spec.databases": "no colon here"}))
    assert "name: value" in problems["spec.databases"][0]
    _cr, problems = forms.manifest_from_form(dict(GOOD, **{"spec.users": "a: x\na: y"}))
    assert "twice" in problems["spec.users"][0]


def test_editing_keeps_what_the_form_does_not_cover_and_the_name():
    base = {"apiVersion": forms.API_VERSION, "kind": forms.KIND,
            "metadata": {"name": "acid-orders", "namespace": "default", "resourceVersion": "7"},
            "spec": {"teamId": "acid", "numberOfInstances": 1, "volume": {"size": "1Gi"},
                     "postgresql": {"version": "15", "parameters": {"work_mem": "8MB"}},
                     "patroni": {"ttl": 30}, "resources": {"requests": {"cpu": "10m"}}}}
    cr, problems = forms.manifest_from_form(dict(GOOD, **{"spec.resources.requests.cpu": ""}), base)
    assert problems == {}
    assert cr["spec"]["postgresql"]["parameters"] == {"work_mem": "8MB"}
    assert cr["spec"]["patroni"] == {"ttl": 30}
    assert "resources" not in cr["spec"]  # emptied fields are dropped, empty parents too
    _cr, problems = forms.manifest_from_form(dict(GOOD, **{"metadata.name": "acid-other"}), base)
    assert "cannot be changed" in problems["metadata.name"][0]


def test_form_values_round_trip():
    cr, _problems = forms.manifest_from_form(GOOD)
    values = forms.form_values(cr)
    again, problems = forms.manifest_from_form(values)
    assert problems == {} and again == cr


YAML_OK = """apiVersion: acid.zalan.do/v1
kind: postgresql
metadata: {name: acid-y, namespace: default}
spec: {teamId: acid, numberOfInstances: 1, volume: {size: 1Gi}, postgresql: {version: "15"}}
"""


@pytest.mark.parametrize("text,words", [
    ("", "empty"),
    ("a: &x [1]\nb: *x\n", "anchors"),
    ("a: [1]\nb: *x\n", "YAML"),
    ("base: &b {x: 1}\nother:\n  <<: *b\n", "anchors"),
    (YAML_OK + "spec: {}\n", "duplicate key"),
    (YAML_OK + "---\n" + YAML_OK, "exactly one"),
    ("- a\n- b\n", "mapping"),
    ("!!python/object/apply:os.system ['true']\n", "YAML"),
    (YAML_OK.replace("kind: postgresql", "kind: Secret"), "kind"),
    (YAML_OK.replace("acid.zalan.do/v1", "v1"), "apiVersion"),
    (YAML_OK.replace("namespace: default", "namespace: 'a b'"), "namespace"),
    ("a: " + "[" * 100 + "]" * 100 + "\n", "nested"),
    ("a: '" + "x" * (300 * 1024) + "'\n", "larger than"),
    ("{[1]: 2}\n", "plain value"),
])
def test_pasted_yaml_tricks_are_refused(text, words):
    with pytest.raises(forms.InputProblem) as err:
        forms.parse_manifest_yaml(text)
    assert words in "%s: %s" % (err.value.field, err.value.message)


def test_pasted_yaml_ok_and_validated_by_the_model():
    cr = forms.parse_manifest_yaml(YAML_OK)
    assert forms.validate(cr) == ([], [])
    bad = forms.parse_manifest_yaml(YAML_OK.replace("size: 1Gi", "size: lots"))
    assert [f for f, _m in forms.validate(bad)[0]] == ["spec.volume.size"]


def test_secret_names_never_carry_passwords():
    cr, _problems = forms.manifest_from_form(GOOD)
    names = forms.secret_names(cr)
    assert ("app_owner", "app-owner.acid-orders.credentials.postgresql.acid.zalan.do", "default") in names
    assert all(len(item) == 3 for item in names)


def test_field_for_takes_the_longest_prefix():
    assert forms.field_for("spec.resources.requests.cpu") == "spec.resources.requests.cpu"
    assert forms.field_for("spec.users.foo") == "spec.users"
    assert forms.field_for("spec.volume") is None
    assert forms.field_for("spec.volumeX") is None
