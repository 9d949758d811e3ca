package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/trustsync/trustsync/api/agent/kinds"
	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/engine/agentstatus"
)

func newGetCommand(k *kubeFlags) *cobra.Command {
	var output string
	var all bool
	cmd := &cobra.Command{
		Use:   "get",
		Short: "Show Syncs, GitSources, agents or fleet Clusters",
		Example: `  trustsync get syncs -A
  trustsync get sources -n team-a -o yaml`,
	}
	list := func(kind string, obj client.ObjectList, table func(io.Writer, client.ObjectList, bool)) *cobra.Command {
		return &cobra.Command{
			Use:     kind,
			Aliases: map[string][]string{"syncs": {"sync"}, "sources": {"source", "gitsources", "gitsource"}, "clusters": {"cluster"}}[kind],
			Short:   "Show " + kind,
			Args:    cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				c, err := k.client()
				if err != nil {
					return err
				}
				var opts []client.ListOption
				if !all {
					opts = append(opts, client.InNamespace(k.ns()))
				}
				if err := c.List(context.Background(), obj, opts...); err != nil {
					return err
				}
				return printList(cmd.OutOrStdout(), output, obj, func(w io.Writer) { table(w, obj, all) })
			},
		}
	}
	cmd.AddCommand(list("syncs", &gitopsv1.SyncList{}, syncTable), list("sources", &gitopsv1.GitSourceList{}, sourceTable), list("clusters", &gitopsv1.ClusterList{}, clusterTable))
	cmd.AddCommand(&cobra.Command{
		Use:     "agents",
		Aliases: []string{"agent", "agentruntimes", "agentruntime"},
		Short:   "Show the AgentRuntimes and their conditions",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := k.client()
			if err != nil {
				return err
			}
			var opts []client.ListOption
			if !all {
				opts = append(opts, client.InNamespace(k.ns()))
			}
			// Every family's, skipping a family whose CRDs the cluster does not have.
			agents := &agentv1.AgentRuntimeList{}
			for _, f := range agentv1.Families {
				l := kinds.NewAgentRuntimeList(f)
				if err := c.List(context.Background(), l.(client.ObjectList), opts...); meta.IsNoMatchError(err) {
					continue
				} else if err != nil {
					return err
				}
				agents.Items = append(agents.Items, kinds.AgentRuntimes(l)...)
			}
			return printList(cmd.OutOrStdout(), output, agents, func(w io.Writer) { agentTable(w, agents, spiffeIDs(c), all) })
		},
	})
	cmd.PersistentFlags().StringVarP(&output, "output", "o", "table", "output format: table, yaml or json")
	cmd.PersistentFlags().BoolVarP(&all, "all-namespaces", "A", false, "all namespaces")
	return cmd
}

func printList(w io.Writer, output string, obj runtime.Object, table func(io.Writer)) error {
	switch output {
	case "table":
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		table(tw)
		return tw.Flush()
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(obj)
	case "yaml":
		data, err := yaml.Marshal(obj)
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	}
	return fmt.Errorf("--output %q: want table, yaml or json", output)
}

func syncTable(w io.Writer, obj client.ObjectList, all bool) {
	list := obj.(*gitopsv1.SyncList)
	header(w, all, "NAME\tREVISION\tREADY\tCLUSTERS\tDRIFTED\tSUSPENDED\tAGE\tMESSAGE")
	for i := range list.Items {
		s := &list.Items[i]
		row(w, all, s.Namespace, fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%t\t%s\t%s", s.Name, short(s.Status.LastAppliedRevision),
			status(s, gitopsv1.ReadyCondition), clustersColumn(s), status(s, gitopsv1.DriftedCondition), s.Spec.Suspend, age(s.CreationTimestamp.Time),
			conditions.GetMessage(s, gitopsv1.ReadyCondition)))
	}
}

// clustersColumn is "<ready>/<selected>" of a fleet Sync's clusters, "-" for a Sync
// that applies to its own cluster.
func clustersColumn(s *gitopsv1.Sync) string {
	if s.Spec.ClusterSelector == nil {
		return "-"
	}
	ready := 0
	for _, c := range s.Status.Clusters {
		if c.Ready == metav1.ConditionTrue {
			ready++
		}
	}
	return fmt.Sprintf("%d/%d", ready, len(s.Status.Clusters))
}

func sourceTable(w io.Writer, obj client.ObjectList, all bool) {
	list := obj.(*gitopsv1.GitSourceList)
	header(w, all, "NAME\tURL\tREVISION\tREADY\tAGE\tMESSAGE")
	for i := range list.Items {
		s := &list.Items[i]
		rev := ""
		if s.Status.Artifact != nil {
			rev = s.Status.Artifact.Revision
		}
		row(w, all, s.Namespace, fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s", s.Name, s.Spec.URL, short(rev), status(s, gitopsv1.ReadyCondition),
			age(s.CreationTimestamp.Time), conditions.GetMessage(s, gitopsv1.ReadyCondition)))
	}
}

func clusterTable(w io.Writer, obj client.ObjectList, all bool) {
	list := obj.(*gitopsv1.ClusterList)
	header(w, all, "NAME\tVERSION\tREADY\tLAST CONTACT\tTRUST DOMAIN\tMESSAGE")
	for i := range list.Items {
		c := &list.Items[i]
		contact, td := "never", ""
		if c.Status.LastContact != nil {
			contact = age(c.Status.LastContact.Time) + " ago"
		}
		if c.Spec.Platform != nil {
			td = c.Spec.Platform.TrustDomain
		}
		row(w, all, c.Namespace, fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s", c.Name, c.Status.ServerVersion, status(c, gitopsv1.ReadyCondition),
			contact, td, conditions.GetMessage(c, gitopsv1.ReadyCondition)))
	}
}

// spiffeIDs are the agents' SPIFFE IDs by namespace/name, as the Syncs that applied them
// report them: the AgentRuntime itself does not carry it. Syncs may live in other
// namespaces than their agents, so all are read; without the right to, the column stays
// empty rather than the command failing.
func spiffeIDs(c client.Reader) map[string]string {
	var syncs gitopsv1.SyncList
	if err := c.List(context.Background(), &syncs); err != nil {
		return nil
	}
	ids := map[string]string{}
	for _, s := range syncs.Items {
		for _, a := range s.Status.Agents {
			if a.SPIFFEID != "" {
				ids[a.Namespace+"/"+a.Name] = a.SPIFFEID
			}
		}
	}
	return ids
}

func agentTable(w io.Writer, list *agentv1.AgentRuntimeList, ids map[string]string, all bool) {
	header(w, all, "NAME\tTYPE\tWORKLOAD\tREADY\tMTLS\tSPIFFE ID\tMESSAGE")
	for i := range list.Items {
		a := &list.Items[i]
		conds := a.Status.Conditions
		ready, mtls := "-", string(a.Spec.MTLSMode)
		if c := meta.FindStatusCondition(conds, agentv1.ConditionReady); c != nil {
			ready = string(c.Status)
		}
		if mtls == "" {
			mtls = "-"
		}
		if c := meta.FindStatusCondition(conds, agentv1.ConditionMTLSReady); c != nil && c.Status != metav1.ConditionTrue {
			mtls += " (" + c.Reason + ")"
		}
		id := ids[a.Namespace+"/"+a.Name]
		if id == "" {
			id = "-"
		}
		message := ""
		if c := agentstatus.FirstProblem(conds); c != nil {
			message = fmt.Sprintf("%s=%s %s: %s", c.Type, c.Status, c.Reason, c.Message)
		} else if c := meta.FindStatusCondition(conds, agentv1.ConditionReady); c != nil {
			message = c.Message
		}
		workload := a.Spec.TargetRef.Kind + "/" + a.Spec.TargetRef.Name
		if a.Annotations[gitopsv1.AnnotationEnrolment] == gitopsv1.EnrolmentLabel {
			workload += " (defaults only)" // enrolled by its pods' label, no AgentRuntime in Git
		}
		row(w, all, a.Namespace, fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s", a.Name, a.Spec.Type, workload, ready, mtls, id, message))
	}
}

func header(w io.Writer, all bool, cols string) {
	if all {
		cols = "NAMESPACE\t" + cols
	}
	fmt.Fprintln(w, cols)
}

func row(w io.Writer, all bool, ns, cols string) {
	if all {
		cols = ns + "\t" + cols
	}
	fmt.Fprintln(w, cols)
}

func status(obj conditions.Getter, t string) string {
	if c := conditions.Get(obj, t); c != nil {
		return string(c.Status)
	}
	return "-"
}

// short abbreviates main@sha1:<40 hex> to main@sha1:<7 hex>.
func short(rev string) string {
	for i := len(rev) - 1; i >= 0; i-- {
		if rev[i] == ':' {
			if len(rev)-i-1 > 7 {
				return rev[:i+8]
			}
			break
		}
	}
	return rev
}

func age(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := time.Since(t).Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
