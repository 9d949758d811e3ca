package sidecarconfig

// The sidecar's policy decision counter, as its opa plugin exports it and the dashboard
// reads it back from Prometheus: one series per decision point and result.
const (
	MetricPolicyDecisions = "trustsync_sidecar_policy_decisions_total"
	LabelPoint            = "point"
	LabelResult           = "result"
	ResultAllow           = "allow"
	ResultDeny            = "deny"
	// ResultNotReady is a request refused (503) before any policy bundle was active.
	ResultNotReady = "not_ready"
)
