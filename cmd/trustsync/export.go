package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
)

// exportKinds are the objects a backup needs to bring trustsync's work back: where
// to pull from and what to apply. Everything else is rendered from them.
var exportKinds = []string{"GitSource", "Sync"}

// exportedMetadata are the metadata fields a clean copy keeps; the rest is the API
// server's (uid, resourceVersion, managedFields, timestamps).
var exportedMetadata = []string{"name", "namespace", "labels", "annotations"}

func newExportCommand(k *kubeFlags) *cobra.Command {
	var all bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Print GitSources and Syncs as clean YAML, for backup",
		Long: `export prints the GitSources and Syncs of a namespace (-A: of every namespace) as
YAML that applies as is to another cluster: without status, without what the API
server adds (uid, resourceVersion, managedFields, timestamps) and without trustsync's
run-time annotations (a requested reconcile). Secrets the GitSources refer to
(credentials, webhook tokens) are not exported: copy them by your own secure means.`,
		Example: `  trustsync export -A > trustsync-backup.yaml
  trustsync export -n team-a | kubectl apply --context other -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := k.client()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			var opts []client.ListOption
			if !all {
				opts = append(opts, client.InNamespace(k.ns()))
			}
			objs, err := exportObjects(ctx, c, opts...)
			if err != nil {
				return err
			}
			return writeYAML(cmd.OutOrStdout(), objs)
		},
	}
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "export from every namespace")
	cmd.Flags().DurationVar(&timeout, "timeout", time.Minute, "how long to wait for the API server")
	return cmd
}

// exportObjects lists exportKinds and cleans each object, sources before the Syncs
// that refer to them, each kind by namespace and name.
func exportObjects(ctx context.Context, c client.Reader, opts ...client.ListOption) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for _, kind := range exportKinds {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(schema.GroupVersionKind{Group: gitopsv1.GroupVersion.Group, Version: gitopsv1.GroupVersion.Version, Kind: kind + "List"})
		if err := c.List(ctx, list, opts...); err != nil {
			return nil, fmt.Errorf("listing %ss: %w", kind, err)
		}
		items := list.Items
		slices.SortFunc(items, func(a, b unstructured.Unstructured) int {
			return strings.Compare(a.GetNamespace()+"/"+a.GetName(), b.GetNamespace()+"/"+b.GetName())
		})
		for i := range items {
			out = append(out, cleanForExport(&items[i]))
		}
	}
	return out, nil
}

// cleanForExport keeps of obj what its owner wrote.
func cleanForExport(obj *unstructured.Unstructured) *unstructured.Unstructured {
	meta, _ := obj.Object["metadata"].(map[string]any)
	kept := map[string]any{}
	for _, k := range exportedMetadata {
		if v, ok := meta[k]; ok {
			kept[k] = v
		}
	}
	clean := &unstructured.Unstructured{Object: map[string]any{"apiVersion": obj.GetAPIVersion(), "kind": obj.GetKind(), "metadata": kept}}
	if spec, ok := obj.Object["spec"]; ok {
		clean.Object["spec"] = spec
	}
	annotations := clean.GetAnnotations()
	for a := range annotations {
		if a == gitopsv1.AnnotationReconcileRequestedAt || a == "kubectl.kubernetes.io/last-applied-configuration" {
			delete(annotations, a)
		}
	}
	if len(annotations) == 0 {
		unstructured.RemoveNestedField(clean.Object, "metadata", "annotations")
	} else {
		clean.SetAnnotations(annotations)
	}
	return clean
}
