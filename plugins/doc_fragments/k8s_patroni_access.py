# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # How the k8s_* modules that return the leader say where its Patroni REST API is (leader.api_url).
    DOCUMENTATION = r"""
options:
  patroni_access:
    description:
      - How Patroni's REST API is reached, for the leader's C(api_url) - V(pod_ip) (C(http://<pod IP>:<port>),
        inside the cluster), V(proxy) (the API server's pod proxy through O(api_proxy_url)) or V(url)
        (O(patroni_url), for a port-forward).
    type: str
    choices: [pod_ip, proxy, url]
    default: pod_ip
    version_added: 0.1.0
  patroni_url:
    description: Patroni's REST API URL for O(patroni_access=url).
    type: str
    default: ''
    version_added: 0.1.0
  api_proxy_url:
    description: Unauthenticated Kubernetes API endpoint (such as C(kubectl proxy)) for O(patroni_access=proxy).
    type: str
    default: http://127.0.0.1:8001
    version_added: 0.1.0
  patroni_port:
    description: Patroni's REST API port in the pods.
    type: int
    default: 8008
    version_added: 0.1.0
"""
