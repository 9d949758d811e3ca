// Command r3-exhaustion is benchmark R3: what strangers and one tenant can do to the
// controller's push receiver and to the admission webhook, on the real binaries.
//
// The receiver part runs `trustsync controller` against a real API server and Gitea and
// floods its receiver with unsigned requests — connections that send all but the end of
// a body at the limit and stall (re-dialled when cut), bodies at the limit at full speed,
// bodies announced far over it — while a valid, signed push is timed from the request to
// the fetched revision in the GitSource's status, with and without the flood. It reports
// the controller's resident memory before, at its peak during, and after the flood.
//
// The webhook part runs `trustsync webhook` with its own certificate and sends it the
// largest AuthorizationPolicy the Platform's default limits allow (limits.policySize
// bytes of Rego in limits.policyRules rules), once and then several at once, and reports
// the webhook's resident memory and the time to each answer.
package main
