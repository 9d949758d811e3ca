package secureprofile

import (
	"strings"
	"testing"
)

// TestManagedBy: an agent's workload is marked as trustsync's, on the workload only, as
// Kagenti's operator marks it; a manager the repository names is kept.
func TestManagedBy(t *testing.T) {
	for _, c := range []struct {
		name, deploy, want string
	}{
		{name: "unmarked", deploy: deploy, want: ManagedBy},
		{name: "Helm's", deploy: strings.Replace(deploy, "metadata: {name: chat, namespace: team}", "metadata: {name: chat, namespace: team, labels: {app.kubernetes.io/managed-by: Helm}}", 1), want: "Helm"},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := expandBoth(t, objects(t, ns, c.deploy, chatRuntime), platformWith(nil))
			if err != nil {
				t.Fatal(err)
			}
			w := result{res, t}.must("Deployment", "team", "chat")
			if got := w.GetLabels()[LabelManagedBy]; got != c.want {
				t.Errorf("workload %s=%q, want %q", LabelManagedBy, got, c.want)
			}
			if got := str(t, w, "spec", "template", "metadata", "labels", LabelManagedBy); got != "" {
				t.Errorf("pod template %s=%q, want none", LabelManagedBy, got)
			}
		})
	}
}
