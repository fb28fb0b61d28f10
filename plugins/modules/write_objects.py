#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
# Documentation only: the work is done on the controller by the action plugin plugins/action/write_objects.py.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: write_objects
short_description: Write rendered Kubernetes objects into a cluster's directory, one YAML file per object
version_added: 0.2.0
description:
  - Writes the objects of the variables named in O(objects_from), in that order, into
    O(directory)/O(namespace)/O(name)/, one file C(NN-<kind>-<name>.yaml) per object numbered in apply
    order (what C(playbooks/render.yml) writes).
  - A marker file C(.pgfleet-render.json) there lists the files this module wrote, with a digest of
    each. Only those are ever replaced, and a file of an object no longer rendered is removed only while
    it still holds what was written; an edited one is kept and reported. Any other file is left alone.
  - Before anything is written, the run is refused when a file it would write exists and is not ours
    (unless it already holds exactly our content), or when a path on the way is a symbolic link.
  - Secrets are written with mode 0600, other objects 0644. Files are replaced atomically and left
    untouched when their content is the same.
  - The objects are read from the play's variables on the controller, never passed as a templated
    argument or on a command line. Messages name files and objects, never a value.
author:
  - pgfleet maintainers (@pgfleet)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
options:
  directory:
    description: The output directory; the files go to its subdirectory O(namespace)/O(name).
    type: path
    required: true
  namespace:
    description: The cluster's namespace (a DNS label).
    type: str
    required: true
  name:
    description: The cluster's name (a DNS label).
    type: str
    required: true
  objects_from:
    description:
      - Names of play variables, or dotted paths into one (V(cluster_render.objects)), each a list of
        Kubernetes objects. Their objects are written in this order.
    type: list
    elements: str
    required: true
attributes:
  check_mode:
    support: full
    description: In check mode the same checks run and the result says what would be written, replaced or removed; nothing is touched.
  diff_mode:
    support: none
  platform:
    platforms: all
"""

EXAMPLES = r"""
- name: Write the cluster's objects (role pgfleet.postgres.cluster registered them as cluster_render)
  pgfleet.postgres.write_objects:
    directory: /tmp/rendered
    namespace: "{{ cluster_model.namespace }}"
    name: "{{ cluster_model.name }}"
    objects_from: [cluster_render.objects, pooler_objects, logical_backup_objects]
  register: written
"""

RETURN = r"""
directory:
  description: The cluster's directory the files are in.
  returned: success
  type: str
written:
  description: Files written (new or with new content), by name.
  returned: success
  type: list
  elements: str
replaced:
  description: Files this module wrote before that now have new content.
  returned: success
  type: list
  elements: str
removed:
  description: Files of objects no longer rendered, removed.
  returned: success
  type: list
  elements: str
kept:
  description: Files of objects no longer rendered that were edited since, kept.
  returned: success
  type: list
  elements: str
summary:
  description: Lines to show, a count and a table of kind, name and namespace, then what was replaced, removed or kept.
  returned: success
  type: list
  elements: str
"""
