// Package secretscan is the end-to-end tests' check that trustsync never reports a
// secret: it collects what the system under test says — its log lines, the Events and
// status conditions in the cluster, the commit statuses and pull-request comments on the
// Git host — and every secret value it could have learnt — every Secret in the cluster,
// the Git host's token, what a test adds — and finds each secret in any of the encodings
// a careless message would carry it in: raw, base64 (standard and URL, padded or not, at
// any alignment inside longer base64), hex, URL-escaped and JSON-quoted.
//
// It is written independently of package redact, so that a gap in redact's encodings is
// a finding here rather than a blind spot shared by both.
package secretscan
