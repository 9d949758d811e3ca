package agentstatus

import (
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestFirstProblem(t *testing.T) {
	c := func(typ, status, reason string) metav1.Condition {
		return metav1.Condition{Type: typ, Status: metav1.ConditionStatus(status), Reason: reason}
	}
	for _, tc := range []struct {
		name  string
		conds []metav1.Condition
		want  string // Type/Reason, empty for none
	}{
		{name: "all fine", conds: []metav1.Condition{c("Ready", "True", "Configured"), c("MTLSReady", "True", "SPIREAvailable")}},
		{name: "opting out of the mesh is no problem", conds: []metav1.Condition{c("IstioMeshEnrolled", "False", "OptedOut"), c("Ready", "True", "Configured")}},
		{
			name:  "the cause comes before Ready, whatever the list order",
			conds: []metav1.Condition{c("Ready", "False", "TargetNotFound"), c("MTLSReady", "False", "WorkloadNotFound"), c("TargetResolved", "False", "TargetNotFound")},
			want:  "TargetResolved/TargetNotFound",
		},
		{
			name:  "other controllers' conditions after Kagenti's, before Ready",
			conds: []metav1.Condition{c("Ready", "False", "X"), c("KeycloakClientReady", "False", "KeycloakUnavailable"), c("MTLSReady", "True", "MTLSDisabled")},
			want:  "KeycloakClientReady/KeycloakUnavailable",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if p := FirstProblem(tc.conds); p != nil {
				got = fmt.Sprintf("%s/%s", p.Type, p.Reason)
			}
			if got != tc.want {
				t.Errorf("first problem %q, want %q", got, tc.want)
			}
		})
	}
}
