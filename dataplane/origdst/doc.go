// Package origdst recovers the destination a redirected TCP connection was addressed to
// before iptables REDIRECT (proxy-init's enforce-redirect mode) sent it to the sidecar's
// transparent egress listener: Linux getsockopt SO_ORIGINAL_DST at SOL_IP for IPv4 and
// IP6T_SO_ORIGINAL_DST at SOL_IPV6 for IPv6, as upstream authbridge-proxy. Other
// systems return an error.
//
// It owns only that lookup. It must not import renderers, sources, engine, webhook,
// controller-runtime, client-go, go-git or kustomize: the sidecar links no controller,
// renderer or Git code.
package origdst
