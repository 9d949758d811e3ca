// Package repogen writes synthetic agent repositories for benchmarks: team namespaces,
// each with agents (Deployment, Service, AgentRuntime, client policy) and a namespace
// policy, laid out as teams lay them out in Git.
package repogen
