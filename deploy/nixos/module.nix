# NixOS module: services.closurelog (closurelogd), services.closurelog.witness
# (closurelog-witness) and services.closurelog.audits (closurelog audit on a
# timer).  The services are the units the package ships (systemd.packages),
# so they carry exactly the sandboxing that systemd_test checks on Debian;
# this module writes their settings to /etc/closurelog and adds what NixOS
# needs on top (wantedBy, firewall, reload and restart triggers).
{ config, lib, pkgs, ... }:

let
  inherit (lib) mkEnableOption mkIf mkMerge mkOption types concatMapStrings
    concatStringsSep mapAttrs' mapAttrsToList nameValuePair optional optionalAttrs
    optionalString;

  cfg = config.services.closurelog;
  wcfg = cfg.witness;

  # closurelogd's config file: "name = value" lines (closurelogd --help).
  settingsLine = name: value: "${name} = ${toString value}\n";
  closurelogdConf = pkgs.writeText "closurelogd.conf" (concatStringsSep "" (
    mapAttrsToList settingsLine ({
      origin = cfg.origin;
      listen = "${cfg.listenAddress}:${toString cfg.port}";
      submitters = "/etc/closurelog/submitters";
      map-size = cfg.mapSize;
    } // optionalAttrs (cfg.tilesDir != null) {
      tiles-dir = cfg.tilesDir;
    } // optionalAttrs (cfg.nginx.virtualHost != null) {
      # Behind nginx every client has nginx's address: no per-address limit.
      rate = 0;
    } // cfg.settings)));

  witnessFlags = concatMapStrings (w: " --witness ${w.key}=${w.url}") cfg.witnesses
    + optionalString (cfg.witnessQuorum != null) " --witness-quorum ${toString cfg.witnessQuorum}";

  witnessEnv = pkgs.writeText "witness.env" ''
    WITNESS_LISTEN=${wcfg.listenAddress}:${toString wcfg.port}
    WITNESS_LOGS=${concatMapStrings (k: " --log ${k}") wcfg.logs}
  '';

  auditModule = { name, ... }: {
    options = {
      log = mkOption {
        type = types.str;
        example = "https://log.example.com";
        description = "The log's URL prefix.";
      };
      logKey = mkOption {
        type = types.str;
        description = "The log's verifier key (or the path of a file holding it).";
      };
      full = mkOption {
        type = types.bool;
        default = false;
        description = "Monitor mode: download and check every new entry and hash tile.";
      };
      interval = mkOption {
        type = types.str;
        default = "10min";
        description = "Time between two audits (a systemd time span).";
      };
    };
  };
in
{
  options.services.closurelog = {
    enable = mkEnableOption "closurelogd, the closurelog transparency log server";

    package = mkOption {
      type = types.package;
      description = "The closurelog package (the flake sets its own).";
    };

    origin = mkOption {
      type = types.str;
      example = "log.example.com/closurelog";
      description = ''
        The log's origin (checkpoint name).  It is fixed when the log is
        created; closurelogd refuses to start an existing log under another.
      '';
    };

    listenAddress = mkOption {
      type = types.str;
      default = "127.0.0.1";
      description = "Address to serve HTTP on (IPv4, a name, or [IPv6]); put TLS in front.";
    };

    port = mkOption {
      type = types.port;
      default = 8080;
      description = "TCP port to serve HTTP on.";
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = "Open `port` in the firewall.";
    };

    submitters = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = ''
        Verifier keys of the CI builders allowed to submit.  A change
        reloads closurelogd (SIGHUP) instead of restarting it.
      '';
    };

    witnesses = mkOption {
      type = types.listOf (types.submodule {
        options = {
          key = mkOption {
            type = types.str;
            description = "The witness's verifier key.";
          };
          url = mkOption {
            type = types.str;
            description = "The witness's submission prefix (/add-checkpoint is appended).";
          };
        };
      });
      default = [ ];
      description = ''
        Witnesses that must cosign each checkpoint before it is published
        (closurelogd --witness; docs/witness.md).
      '';
    };

    witnessQuorum = mkOption {
      type = types.nullOr types.ints.positive;
      default = null;
      description = "Cosignatures needed to publish (null: all witnesses).";
    };

    mapSize = mkOption {
      type = types.str;
      default = "64G";
      description = "Largest size the store may grow to (closurelogd --map-size).";
    };

    tilesDir = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/var/lib/closurelog-tiles";
      description = ''
        Write each full tile and entry bundle once to this directory
        (closurelogd --tiles-dir), for nginx to serve.  closurelogd then runs
        as the static user closurelog instead of a dynamic one, so that the
        directory can be readable by nginx.
      '';
    };

    nginx.virtualHost = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "log.example.com";
      description = ''
        Serve the log through services.nginx on this virtual host: full tiles
        from `tilesDir`, everything else proxied to closurelogd (the
        package's share/closurelog/nginx/closurelog.conf).  TLS is set on
        services.nginx.virtualHosts.<name> as usual (enableACME, forceSSL).
      '';
    };

    settings = mkOption {
      type = types.attrsOf (types.oneOf [ types.str types.int ]);
      default = { };
      example = { rate = 500; batch-window = 2000; };
      description = "Further closurelogd settings, by flag name without \"--\".";
    };

    witness = {
      enable = mkEnableOption "closurelog-witness, a witness cosigning the checkpoints of other logs";

      listenAddress = mkOption {
        type = types.str;
        default = "127.0.0.1";
        description = "Address the witness serves HTTP on.";
      };

      port = mkOption {
        type = types.port;
        default = 8081;
        description = "TCP port the witness serves HTTP on.";
      };

      openFirewall = mkOption {
        type = types.bool;
        default = false;
        description = "Open the witness's port in the firewall.";
      };

      logs = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "Verifier keys of the logs to witness (each key's name is the log's origin).";
      };
    };

    audits = mkOption {
      type = types.attrsOf (types.submodule auditModule);
      default = { };
      description = ''
        Logs to audit on a timer, by name (closurelog-audit@NAME).  An audit
        that finds a fork, a rollback or an unreachable log fails the unit.
      '';
    };
  };

  config = mkMerge [
    (mkIf (cfg.enable || wcfg.enable || cfg.audits != { }) {
      systemd.packages = [ cfg.package ];
      environment.systemPackages = [ cfg.package ];
    })

    (mkIf cfg.enable {
      assertions = [{
        assertion = cfg.witnessQuorum == null || cfg.witnessQuorum <= builtins.length cfg.witnesses;
        message = "services.closurelog.witnessQuorum is larger than the number of witnesses";
      }];
      environment.etc."closurelog/closurelogd.conf".source = closurelogdConf;
      environment.etc."closurelog/submitters".text =
        concatMapStrings (k: "${k}\n") cfg.submitters;
      systemd.services.closurelogd = {
        wantedBy = [ "multi-user.target" ];
        restartTriggers = [ closurelogdConf ];
        reloadTriggers = [ config.environment.etc."closurelog/submitters".source ];
        serviceConfig.ExecStart = mkIf (cfg.witnesses != [ ]) [
          ""
          "${cfg.package}/sbin/closurelogd --config /etc/closurelog/closurelogd.conf --data /var/lib/closurelog${witnessFlags}"
        ];
      };
      networking.firewall.allowedTCPPorts = optional cfg.openFirewall cfg.port;
    })

    (mkIf (cfg.enable && cfg.tilesDir != null) {
      users.users.closurelog = {
        isSystemUser = true;
        group = "closurelog";
      };
      users.groups.closurelog = { };
      systemd.tmpfiles.rules = [ "d ${cfg.tilesDir} 0755 closurelog closurelog - -" ];
      systemd.services.closurelogd.serviceConfig = {
        DynamicUser = false;
        User = "closurelog";
        Group = "closurelog";
        ReadWritePaths = [ cfg.tilesDir ];
      };
    })

    (mkIf (cfg.enable && cfg.nginx.virtualHost != null) {
      assertions = [{
        assertion = cfg.tilesDir != null;
        message = "services.closurelog.nginx.virtualHost needs services.closurelog.tilesDir";
      }];
      services.nginx = {
        enable = true;
        upstreams.closurelogd = {
          servers."${cfg.listenAddress}:${toString cfg.port}" = { };
          extraConfig = "keepalive 32;";
        };
        virtualHosts.${cfg.nginx.virtualHost} = {
          root = cfg.tilesDir;
          extraConfig = "include ${cfg.package}/share/closurelog/nginx/closurelog.conf;";
        };
      };
    })

    (mkIf wcfg.enable {
      assertions = [{
        assertion = wcfg.logs != [ ];
        message = "services.closurelog.witness.logs must name at least one log";
      }];
      environment.etc."closurelog/witness.env".source = witnessEnv;
      systemd.services.closurelog-witness = {
        wantedBy = [ "multi-user.target" ];
        restartTriggers = [ witnessEnv ];
      };
      networking.firewall.allowedTCPPorts = optional wcfg.openFirewall wcfg.port;
    })

    (mkIf (cfg.audits != { }) {
      environment.etc = mapAttrs' (name: a: nameValuePair "closurelog/audit-${name}.env" {
        text = ''
          AUDIT_LOG=${a.log}
          AUDIT_LOG_KEY=${a.logKey}
          AUDIT_FLAGS=${optionalString a.full "--full"}
        '';
      }) cfg.audits;
      systemd.services = mapAttrs' (name: a: nameValuePair "closurelog-audit@${name}" {
        overrideStrategy = "asDropin";
      }) cfg.audits;
      systemd.timers = mapAttrs' (name: a: nameValuePair "closurelog-audit@${name}" {
        overrideStrategy = "asDropin";
        wantedBy = [ "timers.target" ];
        # Replace the shipped unit's interval rather than add one.
        timerConfig.OnUnitActiveSec = [ "" a.interval ];
      }) cfg.audits;
    })
  ];
}
