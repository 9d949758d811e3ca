// Package webhook assembles `trustsync webhook`: a manager whose cache holds only what
// the admission webhooks read, the webhooks of package webhook on their bounded server,
// trustsync's own CA and certificate rotation (or a cert-manager certificate), and the
// metrics and probe servers.
package webhook
