// Package promtest is a stand-in for a Prometheus server's instant-query API
// (GET/POST /api/v1/query) in tests, where Prometheus does not run: it answers the
// queries it was given with the vectors it was given, in the response shape Prometheus
// documents (https://prometheus.io/docs/prometheus/latest/querying/api/), and anything
// else with Prometheus' error shape.
//
// It is test support: production code must not import it.
package promtest
