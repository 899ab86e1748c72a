{
  description = "closurelog: a transparency log for Nix closure attestations";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-24.05";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
      closurelogFor = pkgs: pkgs.callPackage ./deploy/nixos/package.nix { src = self; };
    in
    {
      packages = forAllSystems (pkgs: rec {
        closurelog = closurelogFor pkgs;
        default = closurelog;
      });

      overlays.default = final: prev: { closurelog = closurelogFor final; };

      # services.closurelog, with this flake's package as the default.
      nixosModules.closurelog = { lib, pkgs, ... }: {
        imports = [ ./deploy/nixos/module.nix ];
        services.closurelog.package = lib.mkDefault (closurelogFor pkgs);
      };
      nixosModules.default = self.nixosModules.closurelog;

      checks = forAllSystems (pkgs: { closurelog = closurelogFor pkgs; });
    };
}
