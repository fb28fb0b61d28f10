#!/usr/bin/env bash
# ansible-doc must render every module and filter of the installed collection.
set -uo pipefail
root="$1"  # a directory holding ansible_collections/
export ANSIBLE_COLLECTIONS_PATH="$root"
status=0; count=0; modules=0
for f in "$root"/ansible_collections/pgfleet/postgres/plugins/modules/*.py; do
  [ -e "$f" ] || continue
  name="pgfleet.postgres.$(basename "$f" .py)"
  modules=$((modules + 1))
  if ansible-doc "$name" >/dev/null 2>/tmp/ansible-doc.err; then count=$((count + 1))
  else echo "ansible-doc failed for module $name:"; cat /tmp/ansible-doc.err; status=1; fi
done
filters=$(ansible-doc -t filter -l pgfleet.postgres 2>/dev/null | awk '{print $1}')
for name in $filters; do
  if ansible-doc -t filter "$name" >/dev/null 2>/tmp/ansible-doc.err; then count=$((count + 1))
  else echo "ansible-doc failed for filter $name:"; cat /tmp/ansible-doc.err; status=1; fi
done
if [ "$modules" -eq 0 ] || [ -z "$filters" ]; then
  echo "no module or no filter of pgfleet.postgres under $root: is the collection installed there?"
  status=1
fi
echo "ansible-doc rendered $count plugins"
exit $status
