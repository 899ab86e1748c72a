# closurelog.rego: the broker's rule (policy-bundle.md, section 3), shipped in every
# bundle `closurelog policy build --opa` writes.  `closurelog check` and
# closurelog_policy_decide() (libclosurelog-verify) decide exactly this.
#
# Input: {"root_path", "narHash", "requested_minutes", "prev_root"?}
# Data:  data.nix.approved_roots, data.nix.roots[root].{narHash, successors},
#        data.policies.max_minutes (docs/policy.md)
package envsecops.nix

default allow := false

allow if {
	input.root_path in data.nix.approved_roots
	input.narHash == data.nix.roots[input.root_path].narHash
	input.requested_minutes <= data.policies.max_minutes
}

# Hotfix upgrades: allow successors for a given root
allow if {
	some s in data.nix.roots[input.prev_root].successors
	s == input.root_path
	input.narHash == data.nix.roots[input.root_path].narHash
	input.requested_minutes <= data.policies.max_minutes
}
