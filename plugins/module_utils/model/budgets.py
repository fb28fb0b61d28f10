# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""The two PodDisruptionBudgets of a cluster, decided here once (docs/design/model.md §1, §8).

:func:`disruption_budgets` is stored in the model as ``model["pdbs"]``; the templates
``poddisruptionbudget/primary`` and ``poddisruptionbudget/critical-op`` print it. Their names are in
``model["names"]`` (``pdb_primary``, ``pdb_critical_op``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

CRITICAL_OPERATION_LABEL = "critical-operation"


def disruption_budgets(labels, cfg, instances):
    """``{"primary": {"min_available", "selector"}, "critical_op": {"min_available", "selector"}}``.

    Both hold nothing (``minAvailable: 0``) when ``enable_pod_disruption_budget`` is off and for clusters of 0 or 1
    instances, so a single pod never blocks a node drain (docs/design/model.md §8). Otherwise the primary budget keeps
    1 pod (the primary only, with ``pdb_master_label_selector``) and the critical-operation budget every pod that
    carries ``critical-operation: "true"`` (set during bootstrap and major upgrades).
    """
    instances = int(instances)
    guarded = bool(cfg.get("enable_pod_disruption_budget")) and instances > 1
    primary = dict(labels["selector"])
    if cfg.get("pdb_master_label_selector"):
        primary[cfg["pod_role_label"]] = "master"
    critical = dict(labels["selector"])
    critical[CRITICAL_OPERATION_LABEL] = "true"
    return {
        "primary": {"min_available": 1 if guarded else 0, "selector": primary},
        "critical_op": {"min_available": instances if guarded else 0, "selector": critical},
    }
