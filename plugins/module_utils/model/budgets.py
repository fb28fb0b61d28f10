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
#: ``maxUnavailable`` of a budget that holds nothing: every selected pod may be evicted
HOLD_NOTHING = "100%"


def disruption_budgets(labels, cfg, instances):
    """``{"primary": {"min_available", "selector"}, "critical_op": {"max_unavailable", "selector"}}``.

    The primary budget keeps 1 pod (the primary only, with ``pdb_master_label_selector``): ``minAvailable: 1``.
    The critical-operation budget holds every pod that carries ``critical-operation: "true"`` (set during bootstrap
    and major upgrades) with ``maxUnavailable: 0``: it blocks the eviction of every labelled pod, and with no labelled
    pod (the normal state) it expects 0 healthy pods and is satisfied. ``minAvailable: <instances>`` would block just
    the same but, with no labelled pod, wants more healthy pods than there are, forever, which monitoring reports as a
    PDB that is not satisfied (docs/design/model.md §8).

    Both hold nothing when ``enable_pod_disruption_budget`` is off and for clusters of 0 or 1 instances, so a single
    pod never blocks a node drain (docs/design/model.md §8). Each budget says so with its own field, the one it uses
    when it holds pods: the primary ``minAvailable: 0``, the critical-operation ``maxUnavailable: "100%"``. A
    budget therefore never swaps one field for the other when the cluster scales or PDBs are switched on or off,
    only the value changes; both forms expect 0 healthy pods and allow every eviction.
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
        "critical_op": {"max_unavailable": 0 if guarded else HOLD_NOTHING, "selector": critical},
    }
