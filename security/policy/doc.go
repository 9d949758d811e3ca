// Package policy owns the OPA side of the secure profile: the three-tier package layout
// (global, namespace, client), the default global policy, and the checks every
// AuthorizationPolicy passes before a revision may be applied: each Rego file parses and
// compiles, alone and with the other policies of its tier, and declares only packages of
// its own tier. It owns the OPA capabilities every policy is compiled and evaluated with
// (no network, clock, randomness or unbounded built-ins), the size, rule and shape bounds
// Check applies, and the watchdog that bounds every evaluation's time and memory.
//
// It uses the OPA Go library. It must not import engine, webhook, renderers or sources.
package policy
