#!/bin/sh
# make run: start closurelogd on its embedded defaults (127.0.0.1:8080, data
# in ./closurelog-data), with a demo submitter key ready so that the README
# quick start can attest, submit and verify straight away.
set -eu
build=${1:-build}
bin="$build/bin"
data=./closurelog-data

mkdir -p "$data"
chmod 700 "$data"
# The demo CI key is allowlisted only if there is no submitters file yet:
# an operator's own list is never touched.
if [ ! -f "$data/demo-ci.key" ]; then
	"$bin/closurelog" keygen demo-ci.localhost "$data/demo-ci" >/dev/null
fi
if [ ! -f "$data/submitters" ]; then
	{
		echo "# Submitter keys allowed to append (C2SP verifier keys, one per line)."
		echo "# Edit, then send closurelogd SIGHUP to reload."
		cat "$data/demo-ci.pub"
	} >"$data/submitters"
fi
cat <<MSG
closurelog: starting closurelogd (Ctrl-C stops it).  In another shell:
  $bin/closurelog attest --key $data/demo-ci.key \\
      --root /nix/store/1pmb65l4shli0xi5qs4z86ga1jxwiimq-source \\
      --nar-hash sha256-tsQBzemkaD6P9TqEwFmS6mFcCwURlCeodnB7WrT6WmU= \\
      --flake-lock-digest sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0= -o demo.env
  $bin/closurelog submit --log http://127.0.0.1:8080 --log-key $data/log.pub -o demo.bundle demo.env
  $bin/closurelog verify --log-key $data/log.pub --submitter-key $data/demo-ci.pub \\
      --root /nix/store/1pmb65l4shli0xi5qs4z86ga1jxwiimq-source demo.bundle
  $bin/closurelog audit --log http://127.0.0.1:8080 --log-key $data/log.pub --state audit-state
MSG
exec "$bin/closurelogd"
