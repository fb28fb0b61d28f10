#!/usr/bin/env bash
# Build the docs site:   bash scripts/docs_site.sh [OUT_DIR]      (default build/docs)
# Plugin and role reference from the collection itself (antsibull-docs), the guides from docs/*.md
# (MyST), one Sphinx build with warnings as errors, so a broken cross-link fails it.
# Open OUT_DIR/html/index.html.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
out="$(realpath -m "${1:-$here/build/docs}")"
venv="$here/.venv-next/bin"
export ANSIBLE_COLLECTIONS_PATH="$here/.collections" PATH="$venv:$PATH"
rm -rf "$out"
mkdir -p "$out"
src="$out/src"
mkdir -m 700 "$src"  # antsibull-docs wants its destination readable by its owner only
antsibull-docs collection --use-current --dest-dir "$src" --cleanup everything pgfleet.postgres >/dev/null
mkdir -p "$src/guide" "$src/guide/design"
cp "$here"/docs/*.md "$src/guide/"
[ -d "$here/docs/design" ] && cp "$here"/docs/design/*.md "$src/guide/design/"
{
  echo "pgfleet.postgres"
  echo "================"
  echo
  echo "Highly available PostgreSQL clusters on Kubernetes and on one machine, run by Ansible."
  echo
  echo ".. toctree::"
  echo "   :maxdepth: 1"
  echo "   :caption: Guides"
  echo
  for f in "$src"/guide/*.md; do echo "   guide/$(basename "$f" .md)"; done
  echo
  echo ".. toctree::"
  echo "   :maxdepth: 1"
  echo "   :caption: Design notes"
  echo
  for f in "$src"/guide/design/*.md; do [ -e "$f" ] && echo "   guide/design/$(basename "$f" .md)"; done
  echo
  echo ".. toctree::"
  echo "   :maxdepth: 2"
  echo "   :caption: Reference"
  echo
  echo "   collections/pgfleet/postgres/index"
  echo "   ansible-docs"
} > "$src/index.rst"
# Labels of the Ansible documentation that generated pages (ours, and kubernetes.core's doc
# fragments) refer to: they point to docs.ansible.com, so every other unresolved label is ours.
{
  echo "The Ansible documentation"
  echo "========================="
  echo
  while read -r label title url; do
    printf '.. _%s:\n\n%s\n%s\n\nIn the Ansible documentation: %s\n\n' "$label" "${title//_/ }" "${title//?/-}" "$url"
  done <<'LABELS'
common_return_values Common_return_values https://docs.ansible.com/projects/ansible/latest/reference_appendices/common_return_values.html
ansible_configuration_settings Configuration_settings https://docs.ansible.com/projects/ansible/latest/reference_appendices/config.html
ansible_collections.community.okd.k8s_auth_module community.okd.k8s_auth https://docs.ansible.com/projects/ansible/latest/collections/community/okd/k8s_auth_module.html
action_plugins Action_plugins https://docs.ansible.com/projects/ansible/latest/plugins/action.html
LABELS
} > "$src/ansible-docs.rst"
sphinx-build -q -b html -c "$here/docs/site" -W --keep-going "$src" "$out/html"
echo "docs site: $out/html/index.html"
