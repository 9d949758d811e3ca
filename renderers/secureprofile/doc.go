// Package secureprofile expands the agents of a build into the complete secure profile:
// for every AgentRuntime and the workload it targets, all that Git determines — namespace
// enrolment, one ServiceAccount and SPIFFE identity per agent, the workload's labels and
// pod-template annotations, the AuthBridge ConfigMaps, the TLS-bridge CA, the
// ClusterSPIFFEID — and, for the platform, the feature gates, the Kuadrant CR and the
// default global policy.
//
// What depends on live systems (Keycloak client secrets, whether SPIRE really runs, the
// mesh CA, card signatures) is left to the run-time controllers. The expansion is a pure
// function of the objects and the platform: same input, same output.
//
// It must not talk to a cluster and must not import engine, webhook or sources.
package secureprofile
