// Package tlsbridge is the AuthBridge sidecar's TLS bridge (tls_bridge in config.yaml):
// what lets the outbound pipeline see the agent's HTTPS. It holds the bridge CA (read
// from ca_dir, or generated there for demos, and re-read when its files change), mints
// and caches the per-host leaves the agent is shown, classifies a CONNECT (bridge port,
// TLS handshake record, passthrough host, auto-skip set), terminates the agent's TLS
// and gives the verified TLS client configuration that re-originates the decrypted
// requests.
//
// Upstream's behaviour (rossoctl/cortex tlsbridge), and where this differs:
//   - the CA is re-read when its files change (checked at most every 30 s, on a mint),
//     so a cert-manager renewal is used without a restart (upstream loads it once);
//   - there is no upstream HEAD probe before terminating: a probe per connection is a
//     request the agent never made, and an unverifiable destination is answered 502
//     inside the TLS session instead;
//   - ALPN offers http/1.1 only (no h2).
//
// It knows no HTTP handler, pipeline or listener: dataplane/proxy uses a Bridge through
// a small interface of its own. It must not import renderers, sources, engine, webhook,
// controller-runtime, client-go, go-git or kustomize: the sidecar links no controller,
// renderer or Git code.
package tlsbridge
