# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Container resources after the manifest-versus-operator-configuration rules (docs/design/model.md §3).

Decided here once, for the Postgres container, sidecars, the pooler and the logical backup; the model
and :mod:`spilo` both call :func:`container_resources`.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgfleet.postgres.plugins.module_utils.model.common import parse_quantity, unset_quantity


def container_resources(resources, config, container="postgres", ignore_limits=False, field="spec.resources", warnings=None):
    """Resources of a container after docs/design/model.md §3 ("Resources").

    ``container``: ``postgres`` (all five steps), ``sidecar`` (steps 1, 3, 4 with the Postgres
    defaults), ``pooler`` (steps 1, 3, 4 with the ``connection_pooler_default_*`` defaults) or
    ``logical_backup`` (steps 1, 3, 4 with ``logical_backup_*`` falling back to the Postgres
    defaults). ``warnings`` (a list) receives a line per value that was raised or capped.
    Quantities are compared numerically. The values must already be valid quantities.
    """
    resources = resources if isinstance(resources, dict) else {}
    if container == "pooler":
        defaults = {("requests", "cpu"): config["connection_pooler_default_cpu_request"],
                    ("requests", "memory"): config["connection_pooler_default_memory_request"],
                    ("limits", "cpu"): config["connection_pooler_default_cpu_limit"],
                    ("limits", "memory"): config["connection_pooler_default_memory_limit"]}
    else:
        defaults = {("requests", "cpu"): config["default_cpu_request"],
                    ("requests", "memory"): config["default_memory_request"],
                    ("limits", "cpu"): config["default_cpu_limit"],
                    ("limits", "memory"): config["default_memory_limit"]}
        if container == "logical_backup":
            for (kind, res) in list(defaults):
                own = config.get("logical_backup_%s_%s" % (res, kind[:-1] if kind == "requests" else "limit"))
                if own:
                    defaults[(kind, res)] = own
    result = {"requests": {}, "limits": {}}
    for kind in ("requests", "limits"):
        given = resources.get(kind) if isinstance(resources.get(kind), dict) else {}
        for res in ("cpu", "memory"):
            value = given.get(res)
            if unset_quantity(value):
                value = defaults[(kind, res)]
            if not unset_quantity(value):
                result[kind][res] = str(value)
        for key, value in sorted(given.items()):
            if key.startswith("hugepages-") and not unset_quantity(value):
                result[kind][key] = str(value)
    req, lim = result["requests"], result["limits"]

    def note(msg):
        if warnings is not None:
            warnings.append(msg)

    # 2. minimum limits (postgres only); like Zalando, a missing limit counts as 0 and is raised too
    if container == "postgres" and not ignore_limits:
        for res in ("cpu", "memory"):
            minimum = config["min_%s_limit" % res]
            if minimum and parse_quantity(lim.get(res, "0")) < parse_quantity(minimum):
                note("%s.limits.%s: %s is below min_%s_limit %s, raised to %s" % (field, res, lim.get(res, "unset"), res, minimum, minimum))
                lim[res] = minimum
    # 3. a limit below its request is raised to the request
    for res in sorted(set(req) & set(lim)):
        if parse_quantity(lim[res]) < parse_quantity(req[res]):
            note("%s.limits.%s: %s is below the request %s, raised to %s" % (field, res, lim[res], req[res], req[res]))
            lim[res] = req[res]
    # 4. memory request = memory limit
    if config["set_memory_request_to_limit"] and "memory" in lim:
        req["memory"] = lim["memory"]
    # 5. maximum requests (postgres only)
    if container == "postgres" and not ignore_limits:
        for res in ("cpu", "memory"):
            maximum = config["max_%s_request" % res]
            if maximum and res in req and parse_quantity(req[res]) > parse_quantity(maximum):
                note("%s.requests.%s: %s is above max_%s_request %s, capped to %s" % (field, res, req[res], res, maximum, maximum))
                req[res] = maximum
    return result
