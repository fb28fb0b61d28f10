# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""model["owner_references"]: decided once in model/owners.py; every template prints it as it is."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type


from ansible_collections.pgfleet.postgres.plugins.module_utils.model.owners import owner_references
from ansible_collections.pgfleet.postgres.tests.unit.plugins.module_utils.model_cases import small_model

UID = "efd12e58-5786-11e8-b5a7-06148230260c"


def _model(uid=None, enabled=None):
    config = {} if enabled is None else {"enable_owner_references": "true" if enabled else "false"}
    return small_model(config, name="acid-minimal-cluster", uid=uid)


def test_owner_reference_names_the_postgresql_object_as_controller():
    assert _model(UID, True)["owner_references"] == [
        {"apiVersion": "acid.zalan.do/v1", "kind": "postgresql", "name": "acid-minimal-cluster", "uid": UID, "controller": True}]


def test_no_owner_reference_without_the_option_or_without_a_uid():
    assert _model(UID, False)["owner_references"] == []
    assert _model(UID)["owner_references"] == []  # the option defaults to false
    assert _model(None, True)["owner_references"] == []  # rendered offline: no uid
    assert _model("", True)["owner_references"] == []


def test_owner_references_function_reads_the_typed_config():
    assert owner_references("c", UID, {"enable_owner_references": True})[0]["uid"] == UID
    assert owner_references("c", UID, {}) == []
    assert owner_references("c", None, {"enable_owner_references": True}) == []
