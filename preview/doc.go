// Package preview holds what a pull request changes, before anything reaches a cluster:
// preview/diff the objects, preview/access who may call whom, preview/report the report
// a reviewer reads. It renders with package renderers and decides with security/policy;
// it must not import engine or webhook, and it posts nothing (cmd does, through
// sources/status).
package preview
