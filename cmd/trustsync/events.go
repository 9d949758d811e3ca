package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	apischeme "github.com/trustsync/trustsync/api/scheme"
)

// eventKinds are the kinds --for takes, by the names people type.
var eventKinds = map[string]string{
	"sync": "Sync", "syncs": "Sync", "source": "GitSource", "gitsource": "GitSource", "sources": "GitSource",
	"agent": "AgentRuntime", "agentruntime": "AgentRuntime", "agents": "AgentRuntime",
	"policy": "AuthorizationPolicy", "authorizationpolicy": "AuthorizationPolicy", "policies": "AuthorizationPolicy",
	"agentcard": "AgentCard", "card": "AgentCard",
}

// trustsyncGroups are the API groups of the objects whose Events are trustsync's.
var trustsyncGroups = []string{gitopsv1.GroupVersion.Group, agentv1.Kagenti.Group, agentv1.Rossoctl.Group}

func newEventsCommand(k *kubeFlags) *cobra.Command {
	var all, watchFlag bool
	var forObject string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Show the Events of trustsync's objects: Syncs, GitSources, agents, policies, cards",
		Example: `  trustsync events -n team-a
  trustsync events --for sync/agents -n team-a --watch
  trustsync events -A`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := eventSelection(k, all, forObject)
			if err != nil {
				return err
			}
			cfg, err := k.config()
			if err != nil {
				return err
			}
			c, err := client.NewWithWatch(cfg, client.Options{Scheme: apischeme.New()})
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			list := &corev1.EventList{}
			if err := c.List(ctx, list, opts...); err != nil {
				return err
			}
			events := slices.DeleteFunc(list.Items, func(e corev1.Event) bool { return !ours(e) })
			slices.SortFunc(events, func(a, b corev1.Event) int { return lastSeen(a).Compare(lastSeen(b)) })
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			header(tw, all, "LAST SEEN\tTYPE\tREASON\tOBJECT\tMESSAGE")
			for _, e := range events {
				eventRow(tw, all, e)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if !watchFlag {
				return nil
			}
			return watchEvents(ctx, cmd.OutOrStdout(), c, list.ResourceVersion, all, opts)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&all, "all-namespaces", "A", false, "all namespaces")
	f.StringVar(&forObject, "for", "", "only the Events of one object, KIND/NAME, e.g. sync/agents or agent/research-agent")
	f.BoolVarP(&watchFlag, "watch", "w", false, "after the list, print new Events as they come")
	f.DurationVar(&timeout, "timeout", 0, "stop after this long (0: list once, or watch until interrupted)")
	return cmd
}

// eventSelection is the namespace and field selector of the Events asked for.
func eventSelection(k *kubeFlags, all bool, forObject string) ([]client.ListOption, error) {
	var opts []client.ListOption
	if !all {
		opts = append(opts, client.InNamespace(k.ns()))
	}
	if forObject != "" {
		kind, name, ok := strings.Cut(forObject, "/")
		want, known := eventKinds[strings.ToLower(kind)]
		if !ok || !known || name == "" {
			return nil, fmt.Errorf("--for %q: want KIND/NAME with KIND one of sync, source, agent, policy, agentcard", forObject)
		}
		opts = append(opts, client.MatchingFieldsSelector{Selector: fields.Set{"involvedObject.kind": want, "involvedObject.name": name}.AsSelector()})
	}
	return opts, nil
}

func ours(e corev1.Event) bool {
	group, _, _ := strings.Cut(e.InvolvedObject.APIVersion, "/")
	return slices.Contains(trustsyncGroups, group)
}

// lastSeen is when an Event last happened, whichever of its times it carries.
func lastSeen(e corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case e.Series != nil:
		return e.Series.LastObservedTime.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

func eventRow(w io.Writer, all bool, e corev1.Event) {
	msg := strings.ReplaceAll(strings.TrimSpace(e.Message), "\n", " ")
	row(w, all, e.Namespace, fmt.Sprintf("%s\t%s\t%s\t%s/%s\t%s", age(lastSeen(e)), e.Type, e.Reason, e.InvolvedObject.Kind, e.InvolvedObject.Name, msg))
}

// watchEvents prints the Events that come after resourceVersion until ctx is done.
func watchEvents(ctx context.Context, out io.Writer, c client.WithWatch, resourceVersion string, all bool, opts []client.ListOption) error {
	w, err := c.Watch(ctx, &corev1.EventList{}, append(opts, &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: resourceVersion}})...)
	if err != nil {
		return err
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.ResultChan():
			if !ok {
				return nil
			}
			e, isEvent := ev.Object.(*corev1.Event)
			if !isEvent || (ev.Type != watch.Added && ev.Type != watch.Modified) || !ours(*e) {
				continue
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			eventRow(tw, all, *e)
			if err := tw.Flush(); err != nil {
				return err
			}
		}
	}
}
