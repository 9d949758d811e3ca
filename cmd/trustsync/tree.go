package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/dashboard"
	"github.com/trustsync/trustsync/dashboard/views"
	"github.com/trustsync/trustsync/manifest"
)

func newTreeCommand(k *kubeFlags) *cobra.Command {
	var output string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "tree sync NAME",
		Short: "Show what a Sync applied as a tree (namespace, kind, object) with health and drift",
		Long: `tree lists a Sync's inventory by namespace and kind, each object with its kstatus
health (kinds without a status are Current once applied; Secrets are never read) and
whether drift was found on it. It lists each applied kind once, selecting the Sync's
objects by its owner labels, as the dashboard's Sync page does.`,
		Example: `  trustsync tree sync tenants -n dash-tenants
  trustsync tree sync tenants -n dash-tenants -o json`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] != "sync" {
				return fmt.Errorf("tree works on syncs: trustsync tree sync NAME")
			}
			if output != "tree" && output != "json" {
				return fmt.Errorf("output %q: tree or json", output)
			}
			c, err := k.client()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			s := &gitopsv1.Sync{}
			if err := c.Get(ctx, types.NamespacedName{Namespace: k.ns(), Name: args[1]}, s); err != nil {
				return err
			}
			var entries []gitopsv1.InventoryEntry
			if s.Status.Inventory != nil {
				entries = s.Status.Inventory.Entries
			}
			p := views.NewSyncPage(s, nil, listHealths(ctx, c, s, entries), nil)
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(p.Tree)
			}
			printTree(cmd.OutOrStdout(), s, p)
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "tree", "output format: tree or json")
	cmd.Flags().DurationVar(&timeout, "timeout", time.Minute, "how long to wait for the API server")
	return cmd
}

// listHealths reads the health of a Sync's objects with one List per applied kind,
// selected by the Sync's owner labels; a kind that cannot be listed is Unknown, saying
// why.
func listHealths(ctx context.Context, c client.Reader, s *gitopsv1.Sync, entries []gitopsv1.InventoryEntry) views.Healths {
	kinds := map[schema.GroupVersionKind]bool{}
	for _, e := range entries {
		if ref, err := manifest.ParseID(e.ID); err == nil && !dashboard.Statusless(ref.GroupKind()) {
			kinds[ref.GroupKind().WithVersion(e.V)] = true
		}
	}
	found := map[manifest.Ref]*unstructured.Unstructured{}
	unlisted := map[schema.GroupKind]string{}
	owner := client.MatchingLabels{gitopsv1.LabelSyncName: s.Name, gitopsv1.LabelSyncNamespace: s.Namespace}
	for gvk := range kinds {
		l := &unstructured.UnstructuredList{}
		l.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		if err := c.List(ctx, l, owner); err != nil {
			unlisted[gvk.GroupKind()] = err.Error()
			continue
		}
		for i := range l.Items {
			u := &l.Items[i]
			found[manifest.Ref{Group: gvk.Group, Kind: gvk.Kind, Namespace: u.GetNamespace(), Name: u.GetName()}] = u
		}
	}
	return func(ref manifest.Ref) views.Health {
		if why, ok := unlisted[ref.GroupKind()]; ok {
			return views.Health{Status: "Unknown", Message: "cannot be listed: " + why}
		}
		return dashboard.HealthOf(ref.GroupKind(), found[ref])
	}
}

func printTree(w io.Writer, s *gitopsv1.Sync, p views.SyncPage) {
	fmt.Fprintf(w, "Sync %s/%s  %s  %s@%s\n", s.Namespace, s.Name, p.Row.State, p.Row.Revision.Ref, p.Row.Revision.Short)
	drifted := 0
	for ni, ns := range p.Tree {
		name := ns.Namespace
		if name == "" {
			name = "cluster-scoped"
		}
		nsBranch, nsIndent := branch(ni == len(p.Tree)-1)
		fmt.Fprintf(w, "%s%s\n", nsBranch, name)
		for ki, kind := range ns.Kinds {
			kBranch, kIndent := branch(ki == len(ns.Kinds)-1)
			group := ""
			if kind.Group != "" {
				group = " (" + kind.Group + ")"
			}
			fmt.Fprintf(w, "%s%s%s%s\n", nsIndent, kBranch, kind.Kind, group)
			for oi, o := range kind.Objects {
				oBranch, _ := branch(oi == len(kind.Objects)-1)
				mark := ""
				if o.Drifted {
					mark, drifted = "  drifted", drifted+1
				}
				fmt.Fprintf(w, "%s%s%s%s  %s%s\n", nsIndent, kIndent, oBranch, o.Name, o.Health.Status, mark)
			}
		}
	}
	fmt.Fprintf(w, "%d objects, %d not Current, %d drifted\n", p.Objects, p.Unhealthy, drifted)
}

// branch is a tree line's connector and the indent of what hangs below it.
func branch(last bool) (connector, indent string) {
	if last {
		return "└── ", "    "
	}
	return "├── ", "│   "
}
