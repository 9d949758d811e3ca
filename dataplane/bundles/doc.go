// Package bundles keeps an AuthBridge sidecar's policy Decider current: it polls
// trustsync's bundle server for the sidecar's own bundle over mutual TLS with the pod's
// X.509-SVID (the server must present its expected SPIFFE ID), revalidates it with its
// ETag, reads and compiles each new archive with security/policy, and swaps it in only
// when it compiles. It keeps the last good archive on disk, so a sidecar restarted while
// the server is down still decides; with no bundle it denies (fail closed).
//
// It must not import renderers, sources, engine, webhook, controller-runtime, go-git or
// kustomize: the sidecar links no controller, renderer or Git code.
package bundles
