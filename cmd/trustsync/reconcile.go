package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
)

func newReconcileCommand(k *kubeFlags) *cobra.Command {
	var timeout time.Duration
	var withSource bool
	cmd := &cobra.Command{
		Use:   "reconcile",
		Short: "Reconcile a Sync or GitSource now",
		Example: `  trustsync reconcile sync agents -n team-a --with-source
  trustsync reconcile source repo -n team-a`,
	}
	syncCmd := &cobra.Command{
		Use:   "sync NAME",
		Short: "Apply a Sync now and wait for the outcome",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := k.client()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			key := types.NamespacedName{Namespace: k.ns(), Name: args[0]}
			if withSource {
				s := &gitopsv1.Sync{}
				if err := c.Get(ctx, key, s); err != nil {
					return err
				}
				ns := s.Spec.SourceRef.Namespace
				if ns == "" {
					ns = s.Namespace
				}
				if err := reconcileSource(ctx, cmd.OutOrStdout(), c, types.NamespacedName{Namespace: ns, Name: s.Spec.SourceRef.Name}); err != nil {
					return err
				}
			}
			s := &gitopsv1.Sync{}
			if err := request(ctx, c, key, s, func() string { return s.Status.LastHandledReconcileAt }); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "sync %s: %s\n", key, conditions.GetMessage(s, gitopsv1.ReadyCondition))
			if conditions.IsFalse(s, gitopsv1.ReadyCondition) {
				return fmt.Errorf("sync %s is not ready", key)
			}
			return nil
		},
	}
	syncCmd.Flags().BoolVar(&withSource, "with-source", false, "fetch the source first")
	sourceCmd := &cobra.Command{
		Use:   "source NAME",
		Short: "Fetch a GitSource now and wait for the outcome",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := k.client()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			return reconcileSource(ctx, cmd.OutOrStdout(), c, types.NamespacedName{Namespace: k.ns(), Name: args[0]})
		},
	}
	cmd.AddCommand(syncCmd, sourceCmd)
	cmd.PersistentFlags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait for the outcome")
	return cmd
}

// reconcileSource fetches a GitSource now and prints the outcome.
func reconcileSource(ctx context.Context, out io.Writer, c client.Client, key types.NamespacedName) error {
	src := &gitopsv1.GitSource{}
	if err := request(ctx, c, key, src, func() string { return src.Status.LastHandledReconcileAt }); err != nil {
		return err
	}
	fmt.Fprintf(out, "source %s: %s\n", key, conditions.GetMessage(src, gitopsv1.ReadyCondition))
	return nil
}

// request annotates obj with a new reconcile request and waits until the controller
// reports it handled (lastHandled reads the echo from obj's status).
func request(ctx context.Context, c client.Client, key types.NamespacedName, obj client.Object, lastHandled func() string) error {
	if err := c.Get(ctx, key, obj); err != nil {
		return err
	}
	token := time.Now().UTC().Format(time.RFC3339Nano)
	patch := client.MergeFrom(obj.DeepCopyObject().(client.Object))
	a := obj.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	a[gitopsv1.AnnotationReconcileRequestedAt] = token
	obj.SetAnnotations(a)
	if err := c.Patch(ctx, obj, patch); err != nil {
		return err
	}
	for {
		if err := c.Get(ctx, key, obj); err != nil {
			return err
		}
		if lastHandled() == token {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s was not reconciled in time: is the controller running?", key)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func newSuspendCommand(k *kubeFlags, suspend bool) *cobra.Command {
	verb := map[bool]string{true: "suspend", false: "resume"}[suspend]
	return &cobra.Command{
		Use:   verb + " sync NAME",
		Short: map[bool]string{true: "Stop applying a Sync; its objects stay as they are", false: "Apply a suspended Sync again"}[suspend],
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] != "sync" {
				return fmt.Errorf("%s works on syncs: trustsync %s sync NAME", verb, verb)
			}
			c, err := k.client()
			if err != nil {
				return err
			}
			s := &gitopsv1.Sync{}
			key := types.NamespacedName{Namespace: k.ns(), Name: args[1]}
			if err := c.Get(context.Background(), key, s); err != nil {
				return err
			}
			patch := client.MergeFrom(s.DeepCopy())
			s.Spec.Suspend = suspend
			if err := c.Patch(context.Background(), s, patch); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "sync %s %sed\n", key, map[bool]string{true: "suspend", false: "resum"}[suspend])
			return nil
		},
	}
}
