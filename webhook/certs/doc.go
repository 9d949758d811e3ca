// Package certs owns the admission webhook's serving TLS when cert-manager is not used:
// a self-signed CA and a serving certificate kept in one Secret, the caBundle of the
// webhook configurations that must trust them, and the pair the webhook server presents.
// A Rotator renews both before they expire, and several replicas converge on one Secret.
//
// The Secret is the only copy of the keys: nothing here logs or reports key material.
// The Rotator needs get, create and update on Secrets in its namespace, and get and
// patch on the webhook configurations it names.
//
// It must not import engine, fleet or sources.
package certs
