# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The cluster a k8s_* module works on, both required (k8s_argument_spec(cluster=True) in
    # module_utils/k8s/module.py). A module may give an option its own description; the rest stays.
    DOCUMENTATION = r"""
options:
  name:
    description: Cluster name.
    type: str
    required: true
    version_added: 0.1.0
  namespace:
    description: Cluster namespace.
    type: str
    required: true
    version_added: 0.1.0
"""
