package renderers

import (
	"errors"
	"fmt"
	"strings"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	"github.com/trustsync/trustsync/manifest"
	"github.com/trustsync/trustsync/renderers/schema"
	"github.com/trustsync/trustsync/renderers/secureprofile"
)

// checkGenerated validates the objects the expansion generated as the API server will,
// and reports one it would refuse at the AgentRuntime it was generated for: the names
// and labels trustsync derives (authbridge-config-<workload>, the AgentRuntime's name as
// a label value) can outgrow what the API server accepts even when every input is valid.
func checkGenerated(build, expanded []*manifest.Object, memo *schema.Memo) error {
	runtimes := map[string]*manifest.Object{}
	for _, o := range build {
		if _, ok := agentv1.FamilyOf(o.GroupVersionKind().Group); ok && o.GetKind() == agentv1.AgentRuntimeKind {
			ns := o.GetNamespace()
			if ns == "" {
				ns = secureprofile.DefaultNamespace
			}
			runtimes[ns+"/"+o.GetName()] = o
		}
	}
	var generated []*manifest.Object
	for _, o := range expanded {
		if o.Source == "" {
			generated = append(generated, o)
		}
	}
	var errs []error
	seen := map[string]bool{}
	for _, err := range manifest.Errors(schema.CheckWith(generated, memo)) {
		var me *manifest.Error
		if !errors.As(err, &me) {
			errs = append(errs, err)
			continue
		}
		var gen *manifest.Object
		for _, o := range generated {
			if o.Ref() == me.Object {
				gen = o
				break
			}
		}
		var rt *manifest.Object
		if gen != nil {
			l := gen.GetLabels()
			rt = runtimes[l[secureprofile.LabelAgentRuntimeNamespace]+"/"+l[secureprofile.LabelAgentRuntime]]
		}
		if rt == nil {
			errs = append(errs, fmt.Errorf("trustsync generated %s, which the API server refuses: %w", me.Object, err))
			continue
		}
		// One agent's label is on all its objects: say it once.
		key := rt.Source + rt.Ref().String() + me.Field + me.Err.Error()
		if seen[key] {
			continue
		}
		seen[key] = true
		errs = append(errs, manifest.Errorf(rt, "", "trustsync would generate %s for this agent, which the API server refuses: %s: %v", me.Object, me.Field, me.Err))
	}
	return errors.Join(errs...)
}

// withoutCovered drops the problems of the API server's rules (schema errors) that
// another check already reported, with its own words, for the same object and field or
// a field inside it: the more specific message is the one to read.
func withoutCovered(schemaErr error, others ...error) error {
	type at struct {
		file   string
		object manifest.Ref
	}
	fields := map[at][]string{}
	for _, err := range others {
		for _, e := range manifest.Errors(err) {
			var me *manifest.Error
			if errors.As(e, &me) {
				k := at{me.File, me.Object}
				fields[k] = append(fields[k], me.Field)
			}
		}
	}
	var kept []error
	for _, e := range manifest.Errors(schemaErr) {
		var me *manifest.Error
		if errors.As(e, &me) && covered(me.Field, fields[at{me.File, me.Object}]) {
			continue
		}
		kept = append(kept, e)
	}
	return errors.Join(kept...)
}

func covered(field string, reported []string) bool {
	for _, f := range reported {
		if f == field || field != "" && (strings.HasPrefix(f, field+".") || strings.HasPrefix(f, field+"[")) {
			return true
		}
	}
	return false
}
