# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""model["services"]: every Service value decided once in model/services.py (docs/design/model.md §1, §6)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type


import pytest
from ansible_collections.pgfleet.postgres.plugins.module_utils.model import services as pgservices
from ansible_collections.pgfleet.postgres.tests.unit.plugins.module_utils.model_cases import small_model


def _services(config=None, **spec):
    return small_model(config, team="ACID", **spec)["services"]


@pytest.mark.parametrize("node_port, load_balancer, cfg_np, cfg_lb, expected", [
    (None, None, False, False, "ClusterIP"),
    (None, None, False, True, "LoadBalancer"),
    (None, None, True, True, "NodePort"),
    (False, None, True, True, "LoadBalancer"),  # the manifest flag wins, even false
    (False, False, True, True, "ClusterIP"),
    (True, True, False, False, "NodePort"),  # NodePort wins over LoadBalancer
    (None, True, False, False, "LoadBalancer"),
])
def test_service_type(node_port, load_balancer, cfg_np, cfg_lb, expected):
    assert pgservices.service_type(node_port, load_balancer, cfg_np, cfg_lb) == expected


def test_cluster_services_default_to_cluster_ip_without_load_balancer_fields():
    svc = _services({"kubernetes_use_configmaps": "false"})
    for role in ("master", "replica"):
        assert svc[role]["type"] == "ClusterIP"
        assert svc[role]["load_balancer_source_ranges"] is None and svc[role]["external_traffic_policy"] is None
        assert svc[role]["ports"] == [{"name": "postgresql", "port": 5432, "targetPort": 5432, "protocol": "TCP"}]
        assert svc[role]["labels"]["spilo-role"] == role
    assert svc["master"]["name"] == "acid-test" and svc["replica"]["name"] == "acid-test-repl"
    assert svc["master"]["selector"] is None  # endpoints mode: Patroni keeps the Endpoints
    assert svc["replica"]["selector"] == {"application": "spilo", "cluster-name": "acid-test", "spilo-role": "replica"}


def test_primary_selector_outside_endpoints_mode():
    svc = _services({"kubernetes_use_configmaps": "true"})
    assert svc["master"]["selector"] == {"application": "spilo", "cluster-name": "acid-test", "spilo-role": "master"}
    svc = _services({"etcd_host": "etcd:2379"})
    assert svc["master"]["selector"] == {"application": "spilo", "cluster-name": "acid-test", "spilo-role": "master"}


def test_load_balancer_dns_source_ranges_and_annotation_order():
    svc = _services({"custom_service_annotations": "a:1,b:2", "inherited_annotations": "owned-by",
                     "external_traffic_policy": "Local"},
                    enableMasterLoadBalancer=True, serviceAnnotations={"b": "3"}, masterServiceAnnotations={"c": "4"})
    master = svc["master"]
    assert master["type"] == "LoadBalancer"
    assert master["load_balancer_source_ranges"] == ["127.0.0.1/32"] and master["external_traffic_policy"] == "Local"
    # the cluster name starts with the team: the legacy name follows
    assert master["annotations"] == {"a": "1", "b": "3", "c": "4",
                                     "external-dns.alpha.kubernetes.io/hostname": "acid-test.prod.db.example.com,test.acid.db.example.com"}
    assert list(master["annotations"]) == ["a", "b", "c", "external-dns.alpha.kubernetes.io/hostname"]
    assert svc["replica"]["type"] == "ClusterIP" and "external-dns.alpha.kubernetes.io/hostname" not in svc["replica"]["annotations"]


def test_node_port_only_for_a_node_port_service():
    svc = _services(enableReplicaNodePort=True, replicaNodePort=31432, masterNodePort=30001,
                    allowedSourceRanges=["10.0.0.0/8"], enableReplicaLoadBalancer=True)
    assert svc["replica"]["type"] == "NodePort" and svc["replica"]["ports"][0]["nodePort"] == 31432
    assert svc["replica"]["load_balancer_source_ranges"] is None
    assert "nodePort" not in svc["master"]["ports"][0]


def test_pooler_services():
    svc = _services({"enable_replica_pooler_load_balancer": "true"}, enableConnectionPooler=True,
                    enableMasterPoolerNodePort=True, masterPoolerNodePort="30500", allowedSourceRanges=["10.0.0.0/8"])
    master, replica = svc["pooler"]["master"], svc["pooler"]["replica"]
    assert master["name"] == "acid-test-pooler" and master["type"] == "NodePort"
    assert master["ports"] == [{"name": "acid-test-pooler", "port": 5432, "targetPort": 5432, "protocol": "TCP", "nodePort": 30500}]
    assert master["selector"] == {"connection-pooler": "acid-test-pooler"}
    assert master["labels"] == {"application": "db-connection-pooler", "cluster-name": "acid-test", "connection-pooler": "acid-test-pooler"}
    assert replica["type"] == "LoadBalancer" and replica["load_balancer_source_ranges"] == ["10.0.0.0/8"]
    assert replica["annotations"]["external-dns.alpha.kubernetes.io/hostname"] == \
        "acid-test-pooler-repl.prod.db.example.com,test-pooler-repl.acid.db.example.com"


def test_long_pooler_name_gets_a_short_port_name():
    model = small_model(None, name="acid-" + "x" * 53, team="ACID")
    assert model["services"]["pooler"]["replica"]["ports"][0]["name"] == "pooler"


@pytest.mark.parametrize("value, expected", [(30001, 30001), ("30001", 30001), ("1.0", 1), ("x", 0), (None, 0), (True, 1)])
def test_as_int_reads_like_the_template_int_filter(value, expected):
    assert pgservices.as_int(value) == expected
