# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""model["pdbs"]: the two PodDisruptionBudgets decided once in model/budgets.py (docs/design/model.md §1, §8)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type


import pytest
from ansible_collections.pgfleet.postgres.tests.unit.plugins.module_utils.model_cases import small_model

SELECTOR = {"application": "spilo", "cluster-name": "acid-test"}


def _pdbs(config=None, instances=3):
    return small_model(config, instances=instances)["pdbs"]


def test_budgets_of_a_replicated_cluster():
    pdbs = _pdbs()
    assert pdbs["primary"] == {"min_available": 1, "selector": dict(SELECTOR, **{"spilo-role": "master"})}
    # maxUnavailable 0: no labelled pod may be evicted, and with none labelled the budget is satisfied
    assert pdbs["critical_op"] == {"max_unavailable": 0, "selector": dict(SELECTOR, **{"critical-operation": "true"})}


@pytest.mark.parametrize("config, instances", [({}, 1), ({}, 0), ({"enable_pod_disruption_budget": "false"}, 3)])
def test_budgets_hold_nothing_for_one_pod_or_when_disabled(config, instances):
    pdbs = _pdbs(config, instances)
    # each budget keeps its field, only the value says "nothing": the primary minAvailable 0, the critical one 100%
    assert pdbs["primary"] == {"min_available": 0, "selector": dict(SELECTOR, **{"spilo-role": "master"})}
    assert pdbs["critical_op"] == {"max_unavailable": "100%", "selector": dict(SELECTOR, **{"critical-operation": "true"})}


def test_critical_budget_of_two_instances():
    assert _pdbs(instances=2)["critical_op"]["max_unavailable"] == 0


def test_primary_budget_without_the_master_label_selector():
    assert _pdbs({"pdb_master_label_selector": "false"})["primary"]["selector"] == SELECTOR
