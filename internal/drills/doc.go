// Package drills holds the fault drills: tests that break a real part of a running
// trustsync — SIGKILL the controller process mid-apply, stop the Git host, restart with
// nothing new — and assert the final state of the API objects and the commit statuses,
// not only an absence of errors. Each is a TestDrill…; `make drills` runs every drill of
// the module and prints RESULT R1. The drills here share one stack (a control plane,
// Gitea and the controller binary as a process of its own) and run one after another,
// since they kill the one controller.
package drills
