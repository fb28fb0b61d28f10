#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
# Documentation only: the work is done on the controller by the action plugin plugins/action/render_objects.py.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: render_objects
short_description: Render a role's Kubernetes object templates, in order, into a list of objects
version_added: 0.1.0
description:
  - Renders the Jinja templates named in O(objects) from the calling role's C(templates/) directory and
    parses each result as YAML, in the order given. Each template file is compiled once per task.
  - The templates see only the variables in O(vars) (plus the loop variable of their entry and the
    objects named with C(as)), not every variable of the play. This keeps the cost linear in the size of
    the model, where one C(ansible.builtin.template) lookup per object copies every task variable.
  - An entry with C(checksum=true) is a StatefulSet whose pod template checksum annotation is stamped on the
    object and on its pod template.
  - Runs on the controller only; nothing is written. The objects may hold secrets, so call it with C(no_log).
author:
  - pgfleet maintainers (@pgfleet)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
options:
  vars:
    description: The variables every template sees, by name.
    type: dict
    default: {}
  vars_from:
    description:
      - Names of play variables every template sees as well, read as the play holds them (a string is
        templated; a mapping or list, such as a fact, is taken as it is). Cheaper than passing a large
        fact through O(vars) as C("{{ name }}"), which prints and parses it again.
    type: list
    elements: str
    default: []
  objects:
    description:
      - What to render, in order. Each entry is a template path relative to the role's C(templates/)
        directory, or a mapping with these keys.
      - C(template) (one template) or C(templates) (a list of template paths, or of mappings with
        C(template) and C(as), rendered in that order for each loop item).
      - C(when) (bool, default V(true)) renders the entry only when true.
      - C(loop) (a list) and C(loop_var) (a name) render the entry once per item, the item visible as C(loop_var).
      - C(loop_over) (a dotted path into the variables, for example V(cluster_model.secrets)) instead of C(loop).
      - C(as) (inside C(templates)) makes the rendered object visible under that name to the later
        templates of the same loop item.
      - C(checksum) (bool) stamps the pod template checksum annotation on the rendered StatefulSet.
    type: list
    elements: raw
    required: true
attributes:
  check_mode:
    support: full
    description: Renders the same objects in check mode; nothing is written either way.
  diff_mode:
    support: none
  platform:
    platforms: all
"""

EXAMPLES = r"""
- name: Render the cluster's objects
  pgfleet.postgres.render_objects:
    vars_from: [cluster_model, cluster_owner_references]
    objects:
      - serviceaccount/postgres-pod.yaml.j2
      - template: secret/credentials.yaml.j2
        loop_over: cluster_model.secrets
        loop_var: cluster_secret
      - template: service/config.yaml.j2
        when: "{{ cluster_model.dcs == 'endpoints' }}"
  register: cluster_render
  no_log: true
"""

RETURN = r"""
objects:
  description: The rendered objects, in the order of O(objects).
  returned: success
  type: list
  elements: dict
template_checksum:
  description: The pod template checksum stamped by the entry with C(checksum=true), or V(null) when there is none.
  returned: success
  type: str
"""
