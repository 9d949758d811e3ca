// Package proxy is the AuthBridge sidecar's three listeners' request handling: the
// reverse proxy in front of the agent (inbound), the forward proxy the agent reaches
// through HTTP_PROXY (absolute-form HTTP and CONNECT tunnels), and the transparent
// listener that iptables redirects the agent's other TCP to (:8082). Each builds a
// pipeline.Request, runs the current pipeline of its direction on the request, the
// response and every SSE event, enforces its denial in upstream AuthBridge's wire
// shapes, and reports one Outcome per exchange.
//
// It owns no listener socket, TLS configuration or SO_ORIGINAL_DST lookup: the caller
// passes servers' handlers, dialers and the original-destination function in. It must
// not import controller-runtime, client-go, renderers, sources, engine, webhook, go-git
// or kustomize: the sidecar links no controller, renderer or Git code.
package proxy
