# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""The Services of a cluster, decided here once (docs/design/model.md §1, §6).

:func:`services` is stored in the model as ``model["services"]``: for the primary, the replicas and
each pooler role, the resolved type (NodePort wins over LoadBalancer, a manifest flag wins over the
operator option), labels, annotations (custom, manifest, per-role, the external-dns name of a load
balancer, inherited), the port, the selector and the load balancer's source ranges. The templates
``service/primary``, ``service/replica`` (role cluster) and ``service/pooler`` (role pooler) print
these values and decide nothing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

PORT = 5432
#: Source ranges of a load balancer when the manifest names none (only the node itself).
DEFAULT_SOURCE_RANGES = ["127.0.0.1/32"]
DNS_ANNOTATION = "external-dns.alpha.kubernetes.io/hostname"
POOLER_APPLICATION = "db-connection-pooler"
#: A port name is at most 63 characters; a longer pooler name is replaced by this one.
POOLER_PORT_NAME = "pooler"
PORT_NAME_MAX = 63


def as_int(value, default=0):
    """``value`` as a whole number the way a template's ``| int`` read it (strings like ``"30001"`` and
    ``"1.0"`` accepted, anything else ``default``). Used for fields the door does not type."""
    try:
        if isinstance(value, str):
            return int(value, 10)
        return int(value)
    except (TypeError, ValueError):
        try:
            return int(float(value))
        except (TypeError, ValueError):
            return default


def service_type(node_port_flag, load_balancer_flag, node_port_default, load_balancer_default):
    """``NodePort``, ``LoadBalancer`` or ``ClusterIP``: a manifest flag (not None) wins over the operator
    option; NodePort wins over LoadBalancer."""
    node_port = node_port_flag if node_port_flag is not None else node_port_default
    load_balancer = load_balancer_flag if load_balancer_flag is not None else load_balancer_default
    if node_port:
        return "NodePort"
    return "LoadBalancer" if load_balancer else "ClusterIP"


def _dns(fmt, cluster, namespace, team, zone):
    return (str(fmt).replace("{cluster}", str(cluster)).replace("{namespace}", str(namespace))
            .replace("{team}", str(team)).replace("{hostedzone}", str(zone)).lower())


def _annotations(cfg, spec, role_key, dns, inherited):
    annotations = dict(cfg.get("custom_service_annotations") or {})
    annotations.update(spec.get("serviceAnnotations") or {})
    annotations.update(spec.get(role_key) or {})
    if dns is not None:
        annotations[DNS_ANNOTATION] = dns
    annotations.update(inherited)
    return annotations


def _service(name, kind, labels, annotations, port_name, node_port, selector, spec, cfg):
    port = {"name": port_name, "port": PORT, "targetPort": PORT, "protocol": "TCP"}
    if kind == "NodePort" and node_port:
        port["nodePort"] = as_int(node_port)
    load_balancer = kind == "LoadBalancer"
    return {
        "name": name,
        "type": kind,
        "labels": labels,
        "annotations": annotations,
        "ports": [port],
        "selector": selector,
        "load_balancer_source_ranges": list(spec.get("allowedSourceRanges") or DEFAULT_SOURCE_RANGES) if load_balancer else None,
        "external_traffic_policy": cfg["external_traffic_policy"] if load_balancer else None,
    }


def _cluster_service(role, name, namespace, team, spec, cfg, labels, inherited, dcs):
    """The primary (``role`` master) or replica Service of the cluster ``name``."""
    prefix = "Master" if role == "master" else "Replica"
    kind = service_type(spec.get("enable%sNodePort" % prefix), spec.get("enable%sLoadBalancer" % prefix),
                        cfg["enable_%s_node_port" % role], cfg["enable_%s_load_balancer" % role])
    dns = None
    if kind == "LoadBalancer":
        team_lower = (team or "").lower()
        dns = _dns(cfg["%s_dns_name_format" % role], name, namespace, team_lower, cfg["db_hosted_zone"])
        if team_lower and len(name) > len(team_lower) + 1 and name.lower().startswith(team_lower + "-"):
            dns += "," + _dns(cfg["%s_legacy_dns_name_format" % role], name[len(team_lower) + 1:], namespace, team_lower,
                              cfg["db_hosted_zone"])
    role_labels = dict(labels["object"])
    role_labels[cfg["pod_role_label"]] = role
    selector = None
    if role == "replica" or dcs != "endpoints":  # endpoints mode: Patroni keeps the primary's Endpoints
        selector = dict(labels["selector"])
        selector[cfg["pod_role_label"]] = role
    service_name = name if role == "master" else "%s-repl" % name
    return _service(service_name, kind, role_labels, _annotations(cfg, spec, "%sServiceAnnotations" % role, dns, inherited),
                    "postgresql", spec.get("%sNodePort" % role), selector, spec, cfg)


def _pooler_service(role, pooler_names, namespace, team, spec, cfg, labels, inherited):
    """The Service of the pooler ``role`` (master or replica); its DNS name is built from the primary
    pooler's name (``<c>-pooler``) with the role's DNS format."""
    prefix = "Master" if role == "master" else "Replica"
    name = pooler_names[role]
    kind = service_type(spec.get("enable%sPoolerNodePort" % prefix), spec.get("enable%sPoolerLoadBalancer" % prefix),
                        cfg.get("enable_%s_pooler_node_port" % role), cfg.get("enable_%s_pooler_load_balancer" % role))
    dns = None
    if kind == "LoadBalancer":
        base = pooler_names["master"]
        team_lower = (team or "").lower()
        dns = _dns(cfg.get("%s_dns_name_format" % role), base, namespace, team_lower, cfg["db_hosted_zone"])
        legacy = cfg.get("%s_legacy_dns_name_format" % role)
        if legacy and team_lower and base.lower().startswith(team_lower + "-"):
            dns += "," + _dns(legacy, base[len(team_lower) + 1:], namespace, team_lower, cfg["db_hosted_zone"])
    own = dict(labels["selector"])
    own.update({"application": POOLER_APPLICATION, "connection-pooler": name})
    return _service(name, kind, own, _annotations(cfg, spec, "%sServiceAnnotations" % role, dns, inherited),
                    name if len(name) <= PORT_NAME_MAX else POOLER_PORT_NAME, spec.get("%sPoolerNodePort" % role),
                    {"connection-pooler": name}, spec, cfg)


def services(name, namespace, team, spec, cfg, labels, inherited, dcs, pooler_names):
    """``{"master", "replica", "pooler": {"master", "replica"}}``, each
    ``{"name", "type", "labels", "annotations", "ports", "selector" (None: none), "load_balancer_source_ranges",
    "external_traffic_policy"}`` (the last two None unless a LoadBalancer). ``labels`` is the model's
    ``{"selector", "object"}``, ``inherited`` the inherited annotations."""
    return {
        "master": _cluster_service("master", name, namespace, team, spec, cfg, labels, inherited, dcs),
        "replica": _cluster_service("replica", name, namespace, team, spec, cfg, labels, inherited, dcs),
        "pooler": dict((role, _pooler_service(role, pooler_names, namespace, team, spec, cfg, labels, inherited))
                       for role in ("master", "replica")),
    }
