#!/usr/bin/env bash
# check-tree: fails when a file tracked by git (or staged to be) is 1 MB
# (1,000,000 bytes) or more, or is an executable binary: an ELF, Mach-O
# (thin or universal) or PE/COFF image, told by its first bytes. Nothing
# built is committed: build output belongs in build/ (ignored), and a
# `go build` at the root writes binaries that .gitignore keeps out.
# Usage: dev/checktree/check-tree.sh [repository root]   (default: .)
set -euo pipefail
cd "${1:-.}"
limit=1000000
bad=0
while IFS= read -r -d '' f; do
  [ -f "$f" ] && [ ! -L "$f" ] || continue   # deleted in the work tree, or a symlink
  size=$(wc -c <"$f")
  if [ "$size" -ge "$limit" ]; then
    echo "check-tree: $f is $size bytes (tracked files must be under $limit)" >&2
    bad=1
  fi
  magic=$(head -c 4 "$f" | od -An -tx1 | tr -d ' \n')
  case "$magic" in
    7f454c46) kind="an ELF executable" ;;
    feedface|feedfacf|cefaedfe|cffaedfe|cafebabe|bebafeca) kind="a Mach-O executable" ;;
    4d5a*) kind="a PE (Windows) executable" ;;
    *) kind="" ;;
  esac
  if [ -n "$kind" ]; then
    echo "check-tree: $f is $kind (nothing built is committed)" >&2
    bad=1
  fi
done < <(git ls-files -z --cached)
if [ "$bad" -ne 0 ]; then
  echo "check-tree: FAILED: git rm --cached the files above and list them in .gitignore" >&2
  exit 1
fi
echo "check-tree: $(git ls-files | wc -l) tracked files, none 1 MB or more, none an executable binary"
