package secureprofile

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/manifest"
	"github.com/trustsync/trustsync/security/agentid"
	"github.com/trustsync/trustsync/security/authbridge"
	"github.com/trustsync/trustsync/security/authbridge/sidecarconfig"
	"github.com/trustsync/trustsync/security/identity"
	"github.com/trustsync/trustsync/security/policy"
)

// DefaultNamespace is where namespaced objects without a namespace are applied.
const DefaultNamespace = "default"

// Agent summarises one expanded agent or tool.
type Agent struct {
	Namespace string `json:"namespace"`
	// Name of the AgentRuntime.
	Name string `json:"name"`
	Type string `json:"type"`
	// Workload is Kind/name of the target.
	Workload       string `json:"workload"`
	ServiceAccount string `json:"serviceAccount"`
	// SPIFFEID of the pods; empty without SPIRE.
	SPIFFEID string `json:"spiffeID,omitempty"`
	// ClientID in Keycloak; empty when the agent is not registered.
	ClientID   string `json:"clientID,omitempty"`
	Injected   bool   `json:"injected"`
	Mode       string `json:"mode"`
	MTLS       string `json:"mtls"`
	Egress     string `json:"egress,omitempty"`
	TLSBridge  bool   `json:"tlsBridge,omitempty"`
	ConfigHash string `json:"configHash"`
	// LabelOnly says no AgentRuntime of the repository declares the agent: its pods'
	// kagenti.io/type label enrolled it, with its namespace's defaults.
	LabelOnly bool `json:"labelOnly,omitempty"`
}

// Result is the expanded set of objects.
type Result struct {
	// Objects are the input objects, modified where the profile says so, and the
	// generated ones, in apply order.
	Objects []*manifest.Object
	// Agents in namespace/name order.
	Agents []Agent
}

// agent is an AgentRuntime on its way through the expansion.
type agent struct {
	// obj is what errors about the agent name: its AgentRuntime, or for a label-only
	// agent its workload.
	obj *manifest.Object
	// rtObj is the AgentRuntime applied, into which the resolved settings are written:
	// obj, or the one generated for a label-only agent.
	rtObj *manifest.Object
	rt    *agentv1.AgentRuntime
	// family is the AgentRuntime's: it spells the labels and annotations of its workload.
	family  agentv1.Family
	target  *workload
	summary Agent
	// entries say where each entry of a preset pipeline came from; nil without a preset.
	entries map[string]authbridge.EntrySource
}

// namespaceState is what the expansion knows about one namespace with agents.
type namespaceState struct {
	name       string
	obj        *manifest.Object // the Namespace object, when the build has it
	runtimeCM  *manifest.Object
	runtime    map[string]any
	envCM      *manifest.Object
	env        map[string]string
	needSPIRE  bool
	needBridge bool
	// families of the agents in the namespace, whose enabled labels it gets.
	families map[agentv1.Family]bool
}

// isPolicy says whether o is an AuthorizationPolicy of either family.
func isPolicy(o *manifest.Object) bool {
	gvk := o.GroupVersionKind()
	_, ok := agentv1.FamilyOf(gvk.Group)
	return ok && gvk.Kind == agentv1.AuthorizationPolicyKind
}

// Expand applies the secure profile to the objects of a build. On any error it returns
// every problem found, each naming file, object and field, and no objects.
func Expand(objs []*manifest.Object, p *gitopsv1.Platform) (*Result, error) {
	return ExpandWith(objs, p, nil)
}

// ExpandWith is Expand, reusing what memo remembers of earlier renders; a nil memo
// computes everything.
func ExpandWith(objs []*manifest.Object, p *gitopsv1.Platform, memo *Memo) (*Result, error) {
	e := &expansion{p: p, memo: memo, index: manifest.NewIndex(objs), objs: objs, namespaces: map[string]*namespaceState{}, declared: map[string]*agent{}}
	e.checkFamilies()
	if len(e.errs) > 0 {
		// An object of a family the platform does not read is not expanded at all.
		return nil, errors.Join(e.errs...)
	}
	e.checkSPIRE()
	e.run()
	e.checkSidecarConfigs()
	e.checkCollisions()
	if len(e.errs) > 0 {
		return nil, errors.Join(e.errs...)
	}
	manifest.Sort(e.objs)
	res := &Result{Objects: e.objs}
	for _, a := range e.agents {
		res.Agents = append(res.Agents, a.summary)
	}
	return res, nil
}

type expansion struct {
	p          *gitopsv1.Platform
	memo       *Memo
	index      manifest.Index
	objs       []*manifest.Object
	errs       []error
	agents     []*agent
	namespaces map[string]*namespaceState
	policies   int
	// declared are the repository's AgentRuntimes by namespace/name, of every family.
	declared map[string]*agent
}

func (e *expansion) fail(err error) { e.errs = append(e.errs, err) }

func (e *expansion) add(o *manifest.Object) {
	e.objs = append(e.objs, o)
	e.index[o.Ref()] = o
}

func (e *expansion) run() {
	for _, o := range e.objs {
		gvk := o.GroupVersionKind()
		f, ok := agentv1.FamilyOf(gvk.Group)
		if !ok {
			continue
		}
		switch gvk.Kind {
		case agentv1.AgentRuntimeKind:
			e.collectAgent(o, f)
		case agentv1.AgentCardKind:
			var card agentv1.AgentCard
			e.decode(o, &card)
		case agentv1.AuthorizationPolicyKind:
			e.policies++
		}
	}
	slices.SortFunc(e.agents, func(a, b *agent) int {
		return strings.Compare(a.rt.Namespace+"/"+a.rt.Name, b.rt.Namespace+"/"+b.rt.Name)
	})
	// Each phase skips the agents an earlier phase failed, so one run reports every
	// problem of the revision.
	e.resolveTargets()
	e.enrolLabelled()
	e.checkServiceAccounts()
	for _, a := range e.agents {
		if a.target != nil {
			e.expandAgent(a)
		}
	}
	if len(e.errs) > 0 {
		return
	}
	names := make([]string, 0, len(e.namespaces))
	for n := range e.namespaces {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		e.expandNamespace(e.namespaces[n])
	}
	if len(e.agents) > 0 || e.policies > 0 {
		e.expandPlatform()
	}
}

// decode converts an object to its Go type, refusing fields the API does not have.
func (e *expansion) decode(o *manifest.Object, into any) bool {
	if err := manifest.Decode(o, into); err != nil {
		e.fail(err)
		return false
	}
	return true
}

func (e *expansion) collectAgent(o *manifest.Object, f agentv1.Family) {
	rt := &agentv1.AgentRuntime{}
	if !e.decode(o, rt) {
		return
	}
	if rt.Namespace == "" {
		rt.Namespace = DefaultNamespace
	}
	if _, set := rt.Annotations[gitopsv1.AnnotationEnrolment]; set {
		// trustsync's mark of the AgentRuntimes it generates; on a repository's it would
		// show a declared agent as running with defaults only.
		e.fail(manifest.Errorf(o, "metadata.annotations."+gitopsv1.AnnotationEnrolment, "trustsync sets this on the AgentRuntimes it generates for label-only agents; remove it"))
		return
	}
	switch rt.Spec.Type {
	case agentv1.AgentTypeAgent, agentv1.AgentTypeTool:
	case "":
		e.fail(manifest.Errorf(o, "spec.type", "required: agent or tool"))
		return
	default:
		e.fail(manifest.Errorf(o, "spec.type", "unknown value %q; valid values are agent, tool", rt.Spec.Type))
		return
	}
	ref := rt.Spec.TargetRef
	for _, f := range []struct{ field, value string }{
		{"spec.targetRef.apiVersion", ref.APIVersion}, {"spec.targetRef.kind", ref.Kind}, {"spec.targetRef.name", ref.Name},
	} {
		if f.value == "" {
			e.fail(manifest.Errorf(o, f.field, "required"))
			return
		}
	}
	if td := trustDomainOverride(rt); td != "" {
		if _, err := identity.SPIFFEID(td, "x", "x"); err != nil {
			e.fail(manifest.Errorf(o, "spec.identity.spiffe.trustDomain", "%v", err))
			return
		}
	}
	key := rt.Namespace + "/" + rt.Name
	if other := e.declared[key]; other != nil {
		// Two objects to the API server, one agent's status, identity and client: which
		// one the agent is would not be said.
		e.fail(manifest.Errorf(o, "metadata.name", "AgentRuntime %s is also declared in %s (%s); one agent per namespace and name across the families", key, other.obj.GetAPIVersion(), other.obj.Source))
		return
	}
	a := &agent{obj: o, rtObj: o, rt: rt, family: f}
	e.declared[key] = a
	e.agents = append(e.agents, a)
}

func trustDomainOverride(rt *agentv1.AgentRuntime) string {
	if rt.Spec.Identity != nil && rt.Spec.Identity.SPIFFE != nil {
		return rt.Spec.Identity.SPIFFE.TrustDomain
	}
	return ""
}

// resolveTargets finds every agent's workload and checks that no workload serves two
// agents.
func (e *expansion) resolveTargets() {
	targets := map[manifest.Ref]*agent{}
	for _, a := range e.agents {
		ref := a.rt.Spec.TargetRef
		gv, err := schema.ParseGroupVersion(ref.APIVersion)
		if err != nil {
			e.fail(manifest.Errorf(a.obj, "spec.targetRef.apiVersion", "%v", err))
			continue
		}
		kind, ok := kindOf(gv.Group, ref.Kind)
		if !ok {
			e.fail(manifest.Errorf(a.obj, "spec.targetRef.kind", "%s %q is not a supported workload; supported: %s", ref.APIVersion, ref.Kind, supportedKinds()))
			continue
		}
		key := manifest.Ref{Group: gv.Group, Kind: ref.Kind, Namespace: a.rt.Namespace, Name: ref.Name}
		obj := e.lookup(key)
		if obj == nil {
			e.fail(manifest.Errorf(a.obj, "spec.targetRef", "%s %s/%s is not in the build", ref.Kind, a.rt.Namespace, ref.Name))
			continue
		}
		if other, dup := targets[key]; dup {
			e.fail(manifest.Errorf(a.obj, "spec.targetRef", "%s %s/%s is already the target of AgentRuntime %s; one AgentRuntime per workload", ref.Kind, a.rt.Namespace, ref.Name, other.rt.Name))
			continue
		}
		targets[key] = a
		w, err := newWorkload(obj, kind)
		if err != nil {
			e.fail(err)
			continue
		}
		a.target = w
	}
}

// checkServiceAccounts refuses two agents running as one ServiceAccount: each agent
// needs an identity of its own.
func (e *expansion) checkServiceAccounts() {
	accounts := map[string]*agent{}
	for _, a := range e.agents {
		if a.target == nil {
			continue
		}
		sa := agentid.ServiceAccountOf(a.target.obj.GetName(), a.target.serviceAccount())
		key := a.rt.Namespace + "/" + sa
		if other, dup := accounts[key]; dup {
			field := "spec.targetRef"
			if a.labelOnly() {
				field = strings.Join(a.target.path("spec", "serviceAccountName"), ".")
			}
			e.fail(manifest.Errorf(a.obj, field, "%s runs as ServiceAccount %s, as does %s of %s; each agent needs its own ServiceAccount to have its own identity",
				a.target.ref(), key, other.target.ref(), other.describe()))
			a.target = nil
			continue
		}
		accounts[key] = a
	}
}

// lookup finds an object, treating an empty namespace as the default one.
func (e *expansion) lookup(ref manifest.Ref) *manifest.Object {
	if o := e.index[ref]; o != nil {
		return o
	}
	if ref.Namespace == DefaultNamespace {
		ref.Namespace = ""
		return e.index[ref]
	}
	return nil
}

func (e *expansion) namespace(name string) *namespaceState {
	if ns, ok := e.namespaces[name]; ok {
		return ns
	}
	ns := &namespaceState{name: name, obj: e.index[manifest.Ref{Kind: "Namespace", Name: name}], families: map[agentv1.Family]bool{}}
	e.namespaces[name] = ns
	var repoEnv map[string]string
	if cm := e.lookup(manifest.Ref{Kind: "ConfigMap", Namespace: name, Name: agentv1.ConfigMapAuthBridgeConfig}); cm != nil {
		ns.envCM = cm
		repoEnv, _, _ = unstructured.NestedStringMap(cm.Object, "data")
	}
	ns.env = authbridge.NamespaceEnv(e.p, repoEnv)
	if cm := e.lookup(manifest.Ref{Kind: "ConfigMap", Namespace: name, Name: agentv1.ConfigMapAuthBridgeRuntimeConfig}); cm != nil {
		ns.runtimeCM = cm
		data, _, _ := unstructured.NestedString(cm.Object, "data", agentv1.KeyConfigYAML)
		doc, err := authbridge.ParseRuntimeConfig(data)
		if err != nil {
			e.fail(manifest.Errorf(cm, "data."+agentv1.KeyConfigYAML, "%v", err))
		}
		ns.runtime = doc
	} else {
		// Built from the namespace's authbridge-config, so Keycloak settings a repository
		// gives there reach the sidecars.
		ns.runtime = authbridge.RuntimeConfig(ns.env, e.p.SPIREEnabled())
	}
	return ns
}

func (e *expansion) expandAgent(a *agent) {
	ns := e.namespace(a.rt.Namespace)
	ns.families[a.family] = true
	settings, ok := e.resolveSettings(a, ns)
	if !ok {
		return
	}
	fillResolved(a.rtObj, settings)
	ns.needSPIRE = ns.needSPIRE || (settings.SPIRE && settings.Injected)
	ns.needBridge = ns.needBridge || (settings.TLSBridge && settings.Injected)

	// The agent's pipeline and routes are checked whether or not it is injected, so a
	// bad value is reported even where it does not apply yet.
	preset, ok := e.resolvePreset(a)
	if !ok {
		return
	}
	routes, ok := e.agentRoutes(a, ns)
	if !ok {
		return
	}
	sa := e.ensureServiceAccount(a)
	spiffeID, ok := e.addSPIFFEID(a, settings, sa)
	if !ok {
		return
	}
	agentConfig, ok := e.addAgentConfig(a, ns, settings, preset, routes)
	if !ok {
		return
	}
	if !settings.Injected {
		routes = nil // nothing reads them
	}
	envoyConfig, ok := e.addEnvoyConfig(a, ns, settings, agentConfig)
	if !ok {
		return
	}

	registered := agentid.Registered(e.p, a.rt.Spec.Type)
	clientID := ""
	if registered {
		clientID = agentid.ClientID(spiffeID, a.rt.Namespace, a.target.obj.GetName())
	}
	hash := configHash(settings, agentConfig, envoyConfig, routes, authbridge.HelperConf(e.p, ns.env), e.p)
	markWorkload(a, settings, hash, registered)
	a.summary = summarize(a, settings, sa, spiffeID, clientID, hash)
}

// resolveSettings resolves the agent's AuthBridge settings and, when its sidecars are
// injected, checks they do not take the workload's ports.
func (e *expansion) resolveSettings(a *agent, ns *namespaceState) (authbridge.Settings, bool) {
	w := a.target
	labels, annotations := w.templateLabels(), w.templateAnnotations()
	settings, err := authbridge.Resolve(a.family, a.rt, ns.runtime, labels, annotations, e.p)
	if err != nil {
		e.fail(settingError(a, ns, err))
		return authbridge.Settings{}, false
	}
	if settings.Injected {
		if c := authbridge.CheckPorts(&w.spec, settings.Mode); c != nil {
			e.fail(manifest.Errorf(w.obj, strings.Join(w.path("spec"), ".")+"."+c.Field, "%v (AgentRuntime %s)", c, a.rt.Name))
			return authbridge.Settings{}, false
		}
	}
	return settings, true
}

// settingError blames the namespace's runtime config when the bad setting came from
// there, and the AgentRuntime otherwise.
func settingError(a *agent, ns *namespaceState, err error) *manifest.Error {
	var se *authbridge.SettingError
	if errors.As(err, &se) && se.InNamespaceConfig && ns != nil && ns.runtimeCM != nil {
		return manifest.Errorf(ns.runtimeCM, "data."+agentv1.KeyConfigYAML+": "+se.Field, "%v (used by AgentRuntime %s)", se.Err, a.rt.Name)
	} else if errors.As(err, &se) {
		return manifest.Errorf(a.obj, se.Field, "%v", se.Err)
	}
	return manifest.Errorf(a.obj, "", "%v", err)
}

// ensureServiceAccount gives the workload a ServiceAccount of its own, generated unless
// the build has it, and returns its name: the SPIFFE ID, the Keycloak client and the
// client policy are all keyed by it.
func (e *expansion) ensureServiceAccount(a *agent) string {
	w := a.target
	sa := agentid.ServiceAccountOf(w.obj.GetName(), w.serviceAccount())
	if sa != w.serviceAccount() {
		w.setServiceAccount(sa)
		if e.lookup(manifest.Ref{Kind: "ServiceAccount", Namespace: a.rt.Namespace, Name: sa}) == nil {
			e.add(forAgent("v1", "ServiceAccount", a.rt.Namespace, sa, a))
		}
	}
	return sa
}

// addSPIFFEID adds the ClusterSPIFFEID of the agent's pods when it uses SPIRE, and
// returns their SPIFFE ID; empty without SPIRE.
func (e *expansion) addSPIFFEID(a *agent, settings authbridge.Settings, sa string) (string, bool) {
	if !settings.SPIRE {
		return "", true
	}
	td := trustDomainOverride(a.rt)
	if td == "" {
		td = e.p.TrustDomain
	}
	id, err := identity.SPIFFEID(td, a.rt.Namespace, sa)
	if err != nil {
		e.fail(manifest.Errorf(a.obj, "spec.targetRef", "%v", err))
		return "", false
	}
	sel, err := a.target.podSelector()
	if err != nil {
		e.fail(err)
		return "", false
	}
	e.add(clusterSPIFFEID(a, td, sel, e.p.Spire.ClassName))
	return id.String(), true
}

// resolvePreset resolves the agent's spec.pluginPreset, spec.plugins and spec.onError;
// nil without a preset.
func (e *expansion) resolvePreset(a *agent) ([]authbridge.PresetChoice, bool) {
	choices, err := authbridge.ResolvePreset(&a.rt.Spec)
	for _, p := range manifest.Errors(err) {
		e.fail(settingError(a, nil, p))
	}
	return choices, err == nil
}

// agentRoutes renders the agent's own routes.yaml from spec.auth.outbound, followed by
// the routes of the namespace's authproxy-routes in the build; nil when the agent has
// none of its own.
func (e *expansion) agentRoutes(a *agent, ns *namespaceState) ([]byte, bool) {
	if !authbridge.HasOwnRoutes(a.rt) {
		return nil, true
	}
	var namespace []sidecarconfig.Route
	if cm := e.lookup(manifest.Ref{Kind: "ConfigMap", Namespace: ns.name, Name: agentv1.ConfigMapAuthProxyRoutes}); cm != nil {
		data, _, _ := unstructured.NestedString(cm.Object, "data", agentv1.KeyRoutesYAML)
		// A file the sidecar would refuse is reported at the ConfigMap (checkRoutes).
		namespace, _ = sidecarconfig.LoadRoutes([]byte(data))
	}
	routes, err := authbridge.AgentRoutes(a.rt.Spec.Auth.Outbound, namespace)
	for _, p := range manifest.Errors(err) {
		e.fail(settingError(a, nil, p))
	}
	return routes, err == nil
}

// addAgentConfig adds, for an injected agent, the ConfigMap of its sidecar's config,
// with its own routes their ConfigMap, and with the TLS bridge its Certificate; it
// returns the config, nil when not injected.
func (e *expansion) addAgentConfig(a *agent, ns *namespaceState, settings authbridge.Settings, preset []authbridge.PresetChoice, routes []byte) ([]byte, bool) {
	if !settings.Injected {
		return nil, true
	}
	w := a.target
	agentConfig, entries, err := e.agentConfig(authbridge.AgentInput{
		Runtime:          ns.runtime,
		Env:              ns.env,
		Settings:         settings,
		Ports:            authbridge.PlanPorts(&w.spec),
		AllowedAudiences: allowedAudiences(a.rt),
		SPIFFESocket:     e.p.Spire.SocketPath,
		Preset:           preset,
		OwnRoutes:        routes != nil,
	})
	if err != nil {
		for _, p := range manifest.Errors(err) {
			e.fail(settingError(a, nil, p))
		}
		return nil, false
	}
	a.entries = entries
	name := agentv1.ConfigMapAgentConfigPrefix + w.obj.GetName()
	e.add(configMap(forAgent("v1", "ConfigMap", a.rt.Namespace, name, a), map[string]string{agentv1.KeyConfigYAML: string(agentConfig)}))
	if routes != nil {
		e.add(configMap(forAgent("v1", "ConfigMap", a.rt.Namespace, agentv1.ConfigMapAgentRoutesPrefix+w.obj.GetName(), a), map[string]string{agentv1.KeyRoutesYAML: string(routes)}))
	}
	if settings.TLSBridge {
		e.add(tlsBridgeCertificate(a))
	}
	return agentConfig, true
}

// addEnvoyConfig adds, for an injected envoy-sidecar agent, the ConfigMap of its Envoy's
// configuration (envoy-config-<workload>, key envoy.yaml), which the webhook mounts into the
// Envoy sidecar: its listeners, the ext_proc cluster its config.yaml serves, and the TLS
// of its mTLS mode. It returns the ConfigMap's data, nil for any other agent.
func (e *expansion) addEnvoyConfig(a *agent, ns *namespaceState, settings authbridge.Settings, agentConfig []byte) (map[string]string, bool) {
	if !settings.Injected || settings.Mode != agentv1.AuthBridgeEnvoySidecar {
		return nil, true
	}
	name := authbridge.EnvoyConfigPrefix + a.target.obj.GetName()
	// Envoy must dial the ext_proc server where the sidecar's config.yaml puts it. A
	// config.yaml that does not load is reported by checkSidecarConfigs, at its source.
	var extProc string
	if cfg, err := sidecarconfig.Load(agentConfig, nil); err == nil {
		extProc = cfg.Listener.ExtProcAddr
	}
	data, err := authbridge.EnvoyConfig(authbridge.EnvoyInput{MTLS: settings.MTLS, ExtProcAddr: extProc})
	if err != nil {
		msg := "trustsync would generate ConfigMap %s/%s for AgentRuntime %s, whose Envoy cannot reach the ext_proc server at %v"
		if ns.runtimeCM != nil {
			e.fail(manifest.Errorf(ns.runtimeCM, "data."+agentv1.KeyConfigYAML+": listener.ext_proc_addr", msg, a.rt.Namespace, name, a.rt.Name, err))
		} else {
			e.fail(manifest.Errorf(a.obj, "", msg, a.rt.Namespace, name, a.rt.Name, err))
		}
		return nil, false
	}
	e.add(configMap(forAgent("v1", "ConfigMap", a.rt.Namespace, name, a), data))
	return data, true
}

// markWorkload labels the workload and its pods with the agent's type and annotates the
// pods; the config hash rolls them when what they are built from changes.
func markWorkload(a *agent, settings authbridge.Settings, hash string, registered bool) {
	w, f := a.target, a.family
	typ := string(a.rt.Spec.Type)
	setLabel(w.obj.Unstructured, f.LabelType(), typ)
	// As Kagenti's operator marks the workloads it manages, on the workload only; a
	// manager the repository names (Helm, a chart's own) is kept, not claimed.
	if _, set := w.obj.GetLabels()[LabelManagedBy]; !set {
		setLabel(w.obj.Unstructured, LabelManagedBy, ManagedBy)
	}
	w.setTemplateLabel(f.LabelType(), typ)
	podAnnotations := map[string]string{
		f.AnnotationConfigHash(): hash,
		f.AnnotationMTLSMode():   string(settings.MTLS),
	}
	if registered {
		podAnnotations[f.AnnotationClientCredentialsSecret()] = agentid.CredentialsSecretName(f, a.rt.Namespace, w.obj.GetName())
	}
	w.setTemplateAnnotations(podAnnotations)
}

func summarize(a *agent, settings authbridge.Settings, sa, spiffeID, clientID, hash string) Agent {
	return Agent{
		Namespace:      a.rt.Namespace,
		Name:           a.rt.Name,
		Type:           string(a.rt.Spec.Type),
		Workload:       a.target.ref(),
		ServiceAccount: sa,
		SPIFFEID:       spiffeID,
		ClientID:       clientID,
		Injected:       settings.Injected,
		Mode:           string(settings.Mode),
		MTLS:           string(settings.MTLS),
		Egress:         string(settings.Egress),
		TLSBridge:      settings.TLSBridge,
		ConfigHash:     hash,
		LabelOnly:      a.labelOnly(),
	}
}

// fillResolved writes the settings an AgentRuntime leaves open into the rendered object,
// so the AgentRuntime in the cluster states what its agent runs with (the namespace or
// platform default), and what the API server would default is never at odds with it.
func fillResolved(o *manifest.Object, s authbridge.Settings) {
	set := func(field, value string) {
		if value == "" {
			return
		}
		if _, found, _ := unstructured.NestedString(o.Object, "spec", field); !found {
			_ = unstructured.SetNestedField(o.Object, value, "spec", field)
		}
	}
	tls := agentv1.TLSBridgeDisabled
	if s.TLSBridge {
		tls = agentv1.TLSBridgeEnabled
	}
	set("authBridgeMode", string(s.Mode))
	set("mtlsMode", string(s.MTLS))
	set("tlsBridgeMode", string(tls))
	set("egressEnforcement", string(s.Egress))
}

func allowedAudiences(rt *agentv1.AgentRuntime) []string {
	if rt.Spec.Identity == nil {
		return nil
	}
	return rt.Spec.Identity.AllowedAudiences
}

// configHash changes whenever anything the agent's pods are built from changes, so that
// a new revision rolls them; equal inputs give equal hashes.
func configHash(s authbridge.Settings, agentConfig []byte, envoyConfig map[string]string, routes []byte, helperConf string, p *gitopsv1.Platform) string {
	in := map[string]any{
		"settings":     s,
		"config":       string(agentConfig),
		"featureGates": authbridge.FeatureGatesYAML(p),
	}
	if envoyConfig != nil { // only envoy-sidecar agents: the others' hashes stay as they were
		in["envoy"] = envoyConfig
	}
	if routes != nil { // only agents with routes of their own, which the sidecar reads at start
		in["routes"] = string(routes)
	}
	// Only what the pods really get: the images and spiffe-helper of injected agents.
	if s.Injected {
		in["image"] = authbridge.Image(s.Mode, p)
		if s.Egress == agentv1.EgressEnforceRedirect || s.Mode == agentv1.AuthBridgeEnvoySidecar {
			in["proxyInit"] = p.Images.ProxyInit
		}
		if s.SPIRE {
			in["helper"] = helperConf
		}
	}
	data, _ := json.Marshal(in) // maps marshal with sorted keys
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func (e *expansion) expandNamespace(ns *namespaceState) {
	enrol := func(u *unstructured.Unstructured) {
		meshOff := false
		for _, f := range agentv1.Families { // in a fixed order
			if !ns.families[f] {
				continue
			}
			setLabel(u, f.LabelEnabledNamespace(), "true")
			meshOff = meshOff || u.GetAnnotations()[f.AnnotationIstioMesh()] == "disabled"
		}
		if !meshOff {
			setLabel(u, agentv1.LabelIstioDataplaneMode, "ambient")
			setLabel(u, agentv1.LabelIstioDiscovery, "enabled")
		}
	}
	if ns.obj != nil {
		enrol(ns.obj.Unstructured)
	} else {
		o := generated("v1", "Namespace", "", ns.name, componentNamespace)
		enrol(o.Unstructured)
		e.add(o)
	}

	if ns.runtimeCM == nil {
		data, _ := marshalYAML(ns.runtime)
		e.add(configMap(generated("v1", "ConfigMap", ns.name, agentv1.ConfigMapAuthBridgeRuntimeConfig, componentNamespace),
			map[string]string{agentv1.KeyConfigYAML: data}))
	}
	if e.p.AuthbridgeConfig.Enabled {
		if ns.envCM == nil {
			o := configMap(generated("v1", "ConfigMap", ns.name, agentv1.ConfigMapAuthBridgeConfig, componentNamespace), ns.env)
			for _, f := range agentv1.Families {
				if ns.families[f] {
					setLabel(o.Unstructured, f.LabelDefaults(), "true")
				}
			}
			e.add(o)
		} else {
			// Keys the repository sets win; the platform fills the rest.
			_ = unstructured.SetNestedStringMap(ns.envCM.Object, ns.env, "data")
		}
	}
	if ns.needSPIRE && e.lookup(manifest.Ref{Kind: "ConfigMap", Namespace: ns.name, Name: agentv1.ConfigMapSpiffeHelperConfig}) == nil {
		e.add(configMap(generated("v1", "ConfigMap", ns.name, agentv1.ConfigMapSpiffeHelperConfig, componentNamespace),
			map[string]string{agentv1.KeyHelperConf: authbridge.HelperConf(e.p, ns.env)}))
	}
	if ns.needBridge {
		e.add(tlsBridgeIssuer(ns.name))
	}
}

func (e *expansion) expandPlatform() {
	var global *manifest.Object
	for _, o := range e.objs {
		if isPolicy(o) {
			if scope, _, _ := unstructured.NestedString(o.Object, "spec", "scope"); scope == string(agentv1.ScopeGlobal) && global == nil {
				global = o
			}
		}
	}
	if global != nil && e.p.Policy.RequireClientPolicy {
		e.fail(manifest.Errorf(global, "spec.scope", "the platform's policy.requireClientPolicy is enforced by trustsync's default global policy, which a repository's own global policies replace; remove them or the setting"))
	}
	kuadrant := e.p.Kuadrant.Enabled && len(e.agents) > 0
	objs, err := platformObjects(e.p, global == nil, kuadrant)
	if err != nil {
		e.fail(err)
		return
	}
	if kuadrant && e.index[manifest.Ref{Kind: "Namespace", Name: kuadrantNamespace}] == nil {
		e.add(generated("v1", "Namespace", "", kuadrantNamespace, componentPlatform))
	}
	for _, o := range objs {
		e.add(o)
	}
}

// platformObjects are what trustsync generates for the platform as a whole: the feature
// gates (in each enabled family's ConfigMap, kagenti-feature-gates, rossoctl-feature-gates,
// as each family's tools read them), the default global policy unless the repository has
// its own (in the platform family's group: one global policy, not one per family), and the
// Kuadrant CR. Every Sync renders the same ones.
func platformObjects(p *gitopsv1.Platform, defaultPolicy, kuadrant bool) ([]*manifest.Object, error) {
	var out []*manifest.Object
	for _, f := range p.EnabledFamilies() {
		out = append(out, configMap(generated("v1", "ConfigMap", p.Namespace, f.ConfigMapFeatureGates(), componentPlatform),
			map[string]string{agentv1.KeyFeatureGatesYAML: authbridge.FeatureGatesYAML(p)}))
	}
	if defaultPolicy {
		def := policy.DefaultGlobalPolicy(p.Namespace, p.Policy.RequireClientPolicy)
		def.APIVersion = p.PlatformFamily().APIVersion()
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(def)
		if err != nil {
			return nil, fmt.Errorf("default global policy: %w", err)
		}
		o := manifest.New(&unstructured.Unstructured{Object: u}, "")
		unstructured.RemoveNestedField(o.Object, "status")
		unstructured.RemoveNestedField(o.Object, "metadata", "creationTimestamp")
		o.SetLabels(map[string]string{LabelManagedBy: ManagedBy, LabelComponent: componentPlatform})
		out = append(out, o)
	}
	if kuadrant {
		out = append(out, generated("kuadrant.io/v1beta1", "Kuadrant", kuadrantNamespace, "kuadrant", componentPlatform))
	}
	return out, nil
}
