#!/usr/bin/env bash
# The README's main job, on the built-in local default:
#   1. render every Kubernetes object of the example manifest into out/<cluster>/ (no cluster needed);
#   2. bring up that manifest as a real Patroni cluster on this machine (etcd + Patroni + the PostgreSQL
#      major it asks for, 18 for the complete manifest, on loopback) and print its member table.
# Tear down with: .venv/bin/ansible-playbook playbooks/local.yml -e manifest=$MANIFEST -e state=absent
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"
export PATH="$here/.venv/bin:$PATH" ANSIBLE_CONFIG="$here/ansible.cfg"
MANIFEST="${MANIFEST:-examples/complete-postgres-manifest.yaml}"
CONFIG="${OPERATOR_CONFIG:-examples/configmap.yaml}"
name="$(python -c 'import sys,yaml; print(yaml.safe_load(open(sys.argv[1]))["metadata"]["name"])' "$MANIFEST")"
ansible-playbook playbooks/render.yml -e manifest="$MANIFEST" -e operator_config="$CONFIG" -e output_dir="out/$name"
if [ -f playbooks/local.yml ]; then
  ansible-playbook playbooks/local.yml -e manifest="$MANIFEST" -e operator_config="$CONFIG" -e state=present
fi
