// Package httpserver is the one place trustsync's HTTP servers get their limits: read,
// header, write and idle timeouts and a header size bound (Options, DefaultOptions), a
// server that runs until its context ends and then shuts down within a bound (Server,
// usable as a controller-runtime Runnable), and the handlers of the probe and metrics
// ports (Probes, Metrics). The receiver, the admission webhook, the bundle server and
// the metrics and probe ports use it, and the dashboard and data plane are meant to.
//
// It imports only the standard library, logr and the Prometheus client, so the data
// plane may use it; it must not import controller-runtime, client-go or any trustsync
// package.
package httpserver
