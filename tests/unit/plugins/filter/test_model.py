# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.pgfleet.postgres.plugins.filter.model import FilterModule, credential_secret_name, postgresql_model

HERE = os.path.dirname(os.path.abspath(__file__))
REF = os.path.join(HERE, "..", "..", "..", "..", "examples")  # verbatim copies of the reference manifests
FIXTURES = os.path.join(HERE, "..", "..", "fixtures", "manifests")


def _load(name):
    for base in (FIXTURES, REF):
        path = os.path.join(base, name)
        if os.path.exists(path):
            with open(path) as f:
                return yaml.safe_load(f)
    pytest.skip("%s not available" % name)


def test_filter_is_registered():
    assert FilterModule().filters()["postgresql_model"] is postgresql_model


def test_filter_builds_the_minimal_manifest():
    model = postgresql_model(_load("minimal-postgres-manifest.yaml"))
    assert model["name"] == "acid-minimal-cluster"
    assert model["instances"] == 2


def test_filter_reports_every_problem_as_one_filter_error():
    cr = _load("minimal-postgres-manifest.yaml")
    cr["spec"]["users"]["Bad"] = ["login", "nologin"]
    cr["spec"]["postgresql"]["version"] = "9"
    with pytest.raises(AnsibleFilterError) as err:
        postgresql_model(cr)
    assert "spec.users.Bad" in str(err.value)
    assert "spec.postgresql.version" in str(err.value)


def test_filter_keeps_existing_passwords():
    cr = _load("minimal-postgres-manifest.yaml")
    first = postgresql_model(cr, {"cluster_labels": "application:spilo"})
    existing = dict((s["name"], {"username": s["username"], "password": s["password"]}) for s in first["secrets"])
    second = postgresql_model(cr, {"cluster_labels": "application:spilo"}, existing)
    assert [s["password"] for s in first["secrets"]] == [s["password"] for s in second["secrets"]]


def test_filter_bad_operator_config_names_the_key():
    with pytest.raises(AnsibleFilterError, match="config.workers"):
        postgresql_model(_load("minimal-postgres-manifest.yaml"), {"workers": "many"})


@pytest.mark.parametrize("template", [None, "{cluster}-{username}-secret", "Custom.{username}.{cluster}.{tprkind}.{tprgroup}"])
def test_credential_secret_name_matches_the_model_secrets(template):
    config = {"secret_name_template": template} if template else {}
    model = postgresql_model(_load("complete-postgres-manifest.yaml"), config)
    assert model["secrets"]
    for secret in model["secrets"]:
        assert credential_secret_name(secret["role"], model) == secret["name"]
    assert FilterModule().filters()["credential_secret_name"] is credential_secret_name


def test_credential_secret_name_needs_a_model():
    with pytest.raises(AnsibleFilterError, match="must be a cluster model"):
        credential_secret_name("foo_user", {"name": "x"})
