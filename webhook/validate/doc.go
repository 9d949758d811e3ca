// Package validate holds the validating admission webhooks of the agent API: an
// AgentRuntime must resolve to settings its agent can run with and be the only one for
// its workload; every Rego file of an AuthorizationPolicy must compile. They refuse at
// kubectl time what the renderer refuses at render time, with the same messages.
//
// It must not import engine, fleet or sources.
package validate
