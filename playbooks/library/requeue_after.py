# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: requeue_after
short_description: Ask ansible-operator to run the reconcile again after a while
version_added: 0.1.0
description:
  - ansible-operator (operator-framework/ansible-operator-plugins) watches the task events of a reconcile;
    a task whose action is named exactly C(requeue_after) (or C(operator_sdk.util.requeue_after)) sets
    the next reconcile to O(period) from now and ends the reconcile on the spot. It must be the last task.
  - This playbook-adjacent module exists because C(operator_sdk.util) is only on Galaxy and the action
    name must match exactly, so it cannot be a collection module called by its FQCN.
  - Run by hand it changes nothing and only reports the period.
author:
  - pgfleet maintainers (@pgfleet)
options:
  period:
    description: A Go duration, for example C(15s), C(2m), C(1h30m).
    type: str
    required: true
    version_added: 0.1.0
"""

EXAMPLES = r"""
- name: Come back in 15 seconds
  requeue_after:  # noqa: fqcn[action] ansible-operator matches this exact action name
    period: 15s
"""

RETURN = r"""
period:
  description: The period, as given (ansible-operator reads it from here).
  returned: always
  type: str
"""

import re

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec=dict(period=dict(type="str", required=True)), supports_check_mode=True)
    period = module.params["period"].strip()
    if not re.match(r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$", period):
        module.fail_json(msg="period %r is not a Go duration; write e.g. 15s, 2m or 1h30m" % period)
    module.exit_json(changed=False, period=period, msg="ansible-operator requeues this reconcile after %s" % period)


if __name__ == "__main__":
    main()
