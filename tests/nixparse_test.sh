#!/bin/sh
# nixparse_test.sh SOURCE_DIR
# Every .nix file of the tree must parse (nix-instantiate --parse also
# rejects undefined variables, which is why the files avoid `with`).  This
# is all that can be checked offline: evaluating the flake or the module
# needs nixpkgs (see docs/deploy.md).
set -eu
[ $# -eq 1 ] || { echo "usage: $0 SOURCE_DIR" >&2; exit 2; }
command -v nix-instantiate >/dev/null || { echo "nixparse_test: FAIL: nix-instantiate is missing (nix-bin)" >&2; exit 1; }
n=0
for f in $(find "$1" \( -name '.git' -o -name 'build*' \) -prune -o -name '*.nix' -print | sort); do
	nix-instantiate --parse "$f" >/dev/null || { echo "nixparse_test: FAIL: $f" >&2; exit 1; }
	n=$((n + 1))
done
# flake.nix, deploy/nixos/module.nix and deploy/nixos/package.nix at least.
[ $n -ge 3 ] || { echo "nixparse_test: FAIL: only $n .nix files found" >&2; exit 1; }
for f in flake.nix deploy/nixos/module.nix deploy/nixos/package.nix; do
	[ -f "$1/$f" ] || { echo "nixparse_test: FAIL: $f is missing" >&2; exit 1; }
done
echo "nixparse_test: $n files parse"
