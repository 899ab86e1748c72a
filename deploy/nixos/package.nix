# closurelog built from this tree with CMake: closurelogd, closurelog,
# libclosurelog-verify (static and shared, with its header and .pc file),
# the man pages and the systemd units (in $out/lib/systemd/system, for
# systemd.packages).  The units read their settings from /etc/closurelog,
# which the NixOS module (module.nix) writes; no example settings are
# installed.
{ lib
, stdenv
, cmake
, pkg-config
, protobufc
, help2man
, libsodium
, lmdb
, libevent
, jansson
, curl
, zstd
, src
}:

stdenv.mkDerivation {
  pname = "closurelog";
  version = "0.1.0";
  inherit src;

  nativeBuildInputs = [ cmake pkg-config protobufc help2man ];
  buildInputs = [ libsodium lmdb libevent protobufc jansson curl zstd ];

  cmakeFlags = [
    # The test suite runs real servers, strace and systemd-analyze; it runs
    # with `make test` in the tree, not in the Nix build sandbox.
    "-DBUILD_TESTING=OFF"
    "-DCMAKE_INSTALL_SYSCONFDIR=/etc"
    # closurelogd in $out/sbin, where module.nix looks for it.
    "-DCMAKE_INSTALL_SBINDIR=sbin"
    "-DCL_INSTALL_SETTINGS=OFF"
  ];

  meta = {
    description = "Transparency log for Nix closure attestations";
    platforms = lib.platforms.linux;
    mainProgram = "closurelog";
  };
}
