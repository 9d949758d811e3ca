package authbridge

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	agentv1 "github.com/trustsync/trustsync/api/agent/v1alpha1"
	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	"github.com/trustsync/trustsync/security/agentid"
	"github.com/trustsync/trustsync/security/identity"
)

// Names of what AuthBridge injects.
const (
	ContainerProxy     = "authbridge-proxy"
	ContainerEnvoy     = "envoy-proxy"
	ContainerProxyInit = "proxy-init"

	VolumeSharedData      = "shared-data"
	VolumeConfig          = "authbridge-config"
	VolumeRoutes          = "authproxy-routes"
	VolumeEnvoyConfig     = "envoy-config"
	VolumeSPIRESocket     = "spire-agent-socket"
	VolumeSpiffeHelper    = "spiffe-helper-config"
	VolumeSVIDOutput      = "svid-output"
	VolumeCredentials     = "keycloak-credentials"
	VolumeTLSBridgeCA     = "tls-bridge-ca"
	VolumeTLSBridgeCACert = "tls-bridge-ca-cert"
	// VolumeSidecarState keeps the proxy sidecar's last good policy bundle across its
	// restarts (an emptyDir lives as long as the pod).
	VolumeSidecarState       = "authbridge-state"
	SPIFFECSIDriver          = identity.CSIDriver
	SidecarUID         int64 = 1337
	envoyOutboundPort  int32 = 15123
	envoyInboundPort   int32 = 15124
	envoyAdminPort     int32 = 9901
	extProcPort        int32 = 9090
)

// caEnv are the variables that point common TLS stacks at the TLS-bridge CA.
var caEnv = []string{"NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO", "AWS_CA_BUNDLE", "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH"}

// InjectInput is what an injection is worked out from.
type InjectInput struct {
	// Family of the agent, which names its credentials Secret.
	Family   agentv1.Family
	Settings Settings
	Ports    PortPlan
	// Workload names the agent's per-agent ConfigMap and TLS-bridge Secret.
	Workload string
	// Namespace of the pod.
	Namespace string
	// Registered says the agent has a Keycloak client, whose credentials are mounted.
	Registered bool
	// OwnRoutes says the agent has routes of its own (HasOwnRoutes), mounted instead of
	// the namespace's authproxy-routes.
	OwnRoutes bool
	// SPIREPresent says the SPIFFE CSI driver exists in the cluster. Without it the
	// socket is never mounted, whatever the settings say: the pod would hang.
	SPIREPresent bool
	// OutboundPortsExclude and InboundPortsExclude come from the pod's annotations.
	OutboundPortsExclude, InboundPortsExclude string
	Platform                                  *gitopsv1.Platform
}

// PortMove moves the agent's container off the port the sidecar takes over.
type PortMove struct {
	Container string
	From, To  int32
	// Name is the port's name, which goes to the sidecar's port with the number.
	Name string
}

// Injection is what AuthBridge adds to a pod: containers, volumes, and what the
// application containers get.
type Injection struct {
	InitContainers []corev1.Container
	Containers     []corev1.Container
	Volumes        []corev1.Volume
	// AppEnv is set in every application container where the name is absent.
	AppEnv []corev1.EnvVar
	// AppMounts go into every application container.
	AppMounts []corev1.VolumeMount
	// AgentPort, when set, moves the agent container's port and sets PORT.
	AgentPort *PortMove
	// SPIRE says whether the pod got the SPIFFE socket.
	SPIRE bool
	// MTLS is the mTLS mode the sidecar runs with.
	MTLS agentv1.MTLSMode
}

// Empty reports whether nothing is injected.
func (i *Injection) Empty() bool { return len(i.Containers) == 0 && len(i.InitContainers) == 0 }

// Inject works out the injection for an agent's pod; empty when nothing is injected.
// It fails where the pod cannot run as its AgentRuntime asks: strict mTLS without SPIRE,
// or an application port the sidecar needs.
func Inject(spec *corev1.PodSpec, in InjectInput) (*Injection, error) {
	s := in.Settings
	inj := &Injection{SPIRE: s.SPIRE && in.SPIREPresent, MTLS: s.MTLS}
	if !s.Injected || s.Mode == agentv1.AuthBridgeWaypoint {
		return inj, nil
	}
	if c := CheckPorts(spec, s.Mode); c != nil {
		return nil, c
	}
	mtls, err := mtlsMode(s, inj.SPIRE)
	if err != nil {
		return nil, err
	}
	inj.MTLS = mtls
	mounts := inj.addSidecarVolumes(in)
	env := sidecarEnv(inj.SPIRE, inj.MTLS)
	switch s.Mode {
	case agentv1.AuthBridgeEnvoySidecar:
		inj.addEnvoy(in, mounts, env)
	default: // proxy-sidecar and lite
		inj.addProxy(in, mounts, env)
	}
	return inj, nil
}

// mtlsMode is the mTLS mode the sidecar can run with: without SPIRE there is no SVID, and
// rather than hang it runs in plaintext, unless the mode is strict.
func mtlsMode(s Settings, spire bool) (agentv1.MTLSMode, error) {
	if spire {
		return s.MTLS, nil
	}
	if s.MTLS == agentv1.MTLSStrict {
		return "", fmt.Errorf("mtlsMode strict needs an X.509-SVID, but SPIRE is not installed (no CSIDriver %s); install SPIRE or use permissive", SPIFFECSIDriver)
	}
	return agentv1.MTLSDisabled, nil
}

// addSidecarVolumes adds the volumes every sidecar mounts: shared data and its config,
// the SPIFFE socket and helper with SPIRE, the Keycloak credentials when registered. It
// returns the sidecar's mounts of them.
func (inj *Injection) addSidecarVolumes(in InjectInput) []corev1.VolumeMount {
	mounts := []corev1.VolumeMount{
		{Name: VolumeSharedData, MountPath: "/shared"},
		{Name: VolumeConfig, MountPath: "/etc/authbridge", ReadOnly: true},
		{Name: VolumeRoutes, MountPath: "/etc/authproxy", ReadOnly: true},
	}
	// The agent's own routes are rendered from Git with its config, so not optional: a
	// pod admitted before they are applied waits for them rather than run without.
	routes := configMapVolume(VolumeRoutes, agentv1.ConfigMapAuthProxyRoutes, true)
	if in.OwnRoutes {
		routes = configMapVolume(VolumeRoutes, agentv1.ConfigMapAgentRoutesPrefix+in.Workload, false)
	}
	inj.Volumes = []corev1.Volume{
		{Name: VolumeSharedData, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		configMapVolume(VolumeConfig, agentv1.ConfigMapAgentConfigPrefix+in.Workload, false),
		routes,
	}
	if inj.SPIRE {
		mounts = inj.addSPIREVolumes(in.Platform, mounts)
	}
	if in.Registered {
		mounts = inj.addCredentialVolumes(in, mounts)
	}
	return mounts
}

func (inj *Injection) addSPIREVolumes(p *gitopsv1.Platform, mounts []corev1.VolumeMount) []corev1.VolumeMount {
	socketDir := strings.TrimPrefix(p.Spire.SocketPath, "unix://")
	if i := strings.LastIndex(socketDir, "/"); i > 0 {
		socketDir = socketDir[:i]
	}
	mounts = append(mounts,
		corev1.VolumeMount{Name: VolumeSPIRESocket, MountPath: socketDir, ReadOnly: true},
		corev1.VolumeMount{Name: VolumeSpiffeHelper, MountPath: "/etc/spiffe-helper", ReadOnly: true},
		corev1.VolumeMount{Name: VolumeSVIDOutput, MountPath: "/opt"},
	)
	inj.Volumes = append(inj.Volumes,
		corev1.Volume{Name: VolumeSPIRESocket, VolumeSource: corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{Driver: SPIFFECSIDriver, ReadOnly: ptr.To(true)}}},
		configMapVolume(VolumeSpiffeHelper, agentv1.ConfigMapSpiffeHelperConfig, false),
		corev1.Volume{Name: VolumeSVIDOutput, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	)
	return mounts
}

func (inj *Injection) addCredentialVolumes(in InjectInput, mounts []corev1.VolumeMount) []corev1.VolumeMount {
	// Not optional: the kubelet waits for the Secret the Keycloak controller writes.
	secret := agentid.CredentialsSecretName(in.Family, in.Namespace, in.Workload)
	inj.Volumes = append(inj.Volumes, corev1.Volume{Name: VolumeCredentials, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: secret}}})
	return append(mounts,
		corev1.VolumeMount{Name: VolumeCredentials, MountPath: "/shared/" + agentid.SecretKeyClientID, SubPath: agentid.SecretKeyClientID, ReadOnly: true},
		corev1.VolumeMount{Name: VolumeCredentials, MountPath: "/shared/" + agentid.SecretKeyClientSecret, SubPath: agentid.SecretKeyClientSecret, ReadOnly: true},
	)
}

// addEnvoy adds the Envoy sidecar and the init container that redirects the pod's
// traffic, both ways, through it.
func (inj *Injection) addEnvoy(in InjectInput, mounts []corev1.VolumeMount, env []corev1.EnvVar) {
	mounts = append(mounts, corev1.VolumeMount{Name: VolumeEnvoyConfig, MountPath: EnvoyConfigDir, ReadOnly: true})
	// The agent's own configuration, rendered from Git (not the namespace's envoy-config):
	// not optional, so a pod admitted before its ConfigMap is applied waits for it rather
	// than start an Envoy without listeners.
	config := configMapVolume(VolumeEnvoyConfig, EnvoyConfigPrefix+in.Workload, false)
	if in.Settings.MTLS != agentv1.MTLSDisabled && inj.MTLS == agentv1.MTLSDisabled {
		// SPIRE is absent after all, so there are no SVID files for the TLS the agent's
		// mode asks for: Envoy gets the plaintext variant the renderer wrote beside it.
		config.ConfigMap.Items = []corev1.KeyToPath{{Key: KeyEnvoyPlaintextYAML, Path: KeyEnvoyYAML}}
	}
	inj.Volumes = append(inj.Volumes, config)
	inj.Containers = []corev1.Container{envoyContainer(in.Platform, mounts, env)}
	inj.InitContainers = []corev1.Container{envoyRedirect(in)}
}

func envoyContainer(p *gitopsv1.Platform, mounts []corev1.VolumeMount, env []corev1.EnvVar) corev1.Container {
	envoyEnv := []corev1.EnvVar{
		fromConfigMap("KEYCLOAK_URL"), fromConfigMap("KEYCLOAK_REALM"), fromConfigMap("TOKEN_URL"),
		fromConfigMap("ISSUER"), fromConfigMap("EXPECTED_AUDIENCE"), fromConfigMap("TARGET_AUDIENCE"),
		fromConfigMap("TARGET_SCOPES"), fromConfigMap("DEFAULT_OUTBOUND_POLICY"),
		{Name: "CLIENT_ID_FILE", Value: "/shared/" + agentid.SecretKeyClientID},
		{Name: "CLIENT_SECRET_FILE", Value: "/shared/" + agentid.SecretKeyClientSecret},
		{Name: "ROUTES_CONFIG_PATH", Value: "/etc/authproxy/routes.yaml"},
	}
	return corev1.Container{
		Name:  ContainerEnvoy,
		Image: p.Images.AuthBridgeEnvoy,
		Args:  []string{"--config", "/etc/authbridge/" + agentv1.KeyConfigYAML},
		Ports: []corev1.ContainerPort{
			{Name: "envoy-outbound", ContainerPort: envoyOutboundPort},
			{Name: "envoy-inbound", ContainerPort: envoyInboundPort},
			{Name: "envoy-admin", ContainerPort: envoyAdminPort},
			{Name: "ext-proc", ContainerPort: extProcPort},
		},
		Env:             append(envoyEnv, env...),
		Resources:       resources("50m", "64Mi", "200m", "256Mi"),
		SecurityContext: sidecarSecurity(),
		VolumeMounts:    mounts,
	}
}

func envoyRedirect(in InjectInput) corev1.Container {
	outbound := "8080"
	if in.OutboundPortsExclude != "" {
		outbound += "," + in.OutboundPortsExclude
	}
	return proxyInit(in.Platform, []corev1.EnvVar{
		{Name: "MODE", Value: "redirect"},
		{Name: "PROXY_PORT", Value: strconv.Itoa(int(envoyOutboundPort))},
		{Name: "INBOUND_PROXY_PORT", Value: strconv.Itoa(int(envoyInboundPort))},
		{Name: "PROXY_UID", Value: strconv.FormatInt(SidecarUID, 10)},
		{Name: "OUTBOUND_PORTS_EXCLUDE", Value: outbound},
		{Name: "INBOUND_PORTS_EXCLUDE", Value: in.InboundPortsExclude},
		{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
	})
}

// addProxy adds the AuthBridge proxy sidecar (full or lite), which fronts the agent's port
// and is the application's HTTP proxy, and, when egress is enforced by redirect, the init
// container that enforces it.
func (inj *Injection) addProxy(in InjectInput, mounts []corev1.VolumeMount, env []corev1.EnvVar) {
	s := in.Settings
	if s.TLSBridge {
		mounts = inj.addTLSBridgeCA(in.Workload, mounts)
	}
	proxy := "http://127.0.0.1:" + strconv.Itoa(int(in.Ports.ForwardPort))
	inj.AppEnv = append(inj.AppEnv,
		corev1.EnvVar{Name: "HTTP_PROXY", Value: proxy},
		corev1.EnvVar{Name: "HTTPS_PROXY", Value: proxy},
		corev1.EnvVar{Name: "NO_PROXY", Value: "127.0.0.1,localhost"},
	)
	mounts = append(mounts, corev1.VolumeMount{Name: VolumeSidecarState, MountPath: SidecarStateDir})
	inj.Volumes = append(inj.Volumes, corev1.Volume{Name: VolumeSidecarState, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	inj.Containers = []corev1.Container{proxyContainer(in, mounts, env)}
	if in.Ports.AgentContainer != "" {
		inj.AgentPort = &PortMove{Container: in.Ports.AgentContainer, From: in.Ports.AgentPort, To: in.Ports.BackendPort, Name: in.Ports.AgentPortName}
	}
	if s.Egress == agentv1.EgressEnforceRedirect {
		inj.InitContainers = []corev1.Container{proxyInit(in.Platform, []corev1.EnvVar{
			{Name: "MODE", Value: string(agentv1.EgressEnforceRedirect)},
			{Name: "PROXY_UID", Value: strconv.FormatInt(SidecarUID, 10)},
			{Name: "TRANSPARENT_PORT", Value: strconv.Itoa(int(TransparentPort))},
		})}
	}
}

// addTLSBridgeCA mounts the TLS bridge's CA Secret into the sidecar and its certificate
// alone into the application containers, with the common TLS stacks pointed at it.
func (inj *Injection) addTLSBridgeCA(workload string, mounts []corev1.VolumeMount) []corev1.VolumeMount {
	mounts = append(mounts, corev1.VolumeMount{Name: VolumeTLSBridgeCA, MountPath: TLSBridgeCADir, ReadOnly: true})
	secret := workload + "-tls-bridge-ca"
	inj.Volumes = append(inj.Volumes,
		corev1.Volume{Name: VolumeTLSBridgeCA, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: secret, DefaultMode: ptr.To[int32](0o444)}}},
		corev1.Volume{Name: VolumeTLSBridgeCACert, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: secret, DefaultMode: ptr.To[int32](0o444),
			Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}}},
	)
	inj.AppMounts = []corev1.VolumeMount{{Name: VolumeTLSBridgeCACert, MountPath: TLSBridgeCADir, ReadOnly: true}}
	for _, name := range caEnv {
		inj.AppEnv = append(inj.AppEnv, corev1.EnvVar{Name: name, Value: TLSBridgeCADir + "/ca.crt"})
	}
	return mounts
}

// SidecarStateDir is where the proxy sidecar keeps its last good policy bundle.
const SidecarStateDir = "/var/lib/authbridge"

func proxyContainer(in InjectInput, mounts []corev1.VolumeMount, env []corev1.EnvVar) corev1.Container {
	image := in.Platform.Images.AuthBridge
	lite := in.Settings.Mode == agentv1.AuthBridgeLite
	if lite {
		image = in.Platform.Images.AuthBridgeLite
	}
	// trustsync's image runs the data plane as a subcommand; upstream's images run
	// their proxy as the entrypoint and take the same --config.
	var command []string
	if IsTrustsyncImage(image) {
		command = []string{"/usr/local/bin/trustsync", "authbridge"}
		if lite {
			command = append(command, "--lite")
		}
	}
	reverse := "reverse-proxy"
	if in.Ports.AgentPortName != "" {
		reverse = in.Ports.AgentPortName
	}
	return corev1.Container{
		Name:    ContainerProxy,
		Image:   image,
		Command: command,
		Args:    []string{"--config", "/etc/authbridge/" + agentv1.KeyConfigYAML},
		Ports: []corev1.ContainerPort{
			{Name: reverse, ContainerPort: in.Ports.AgentPort},
			{Name: "forward-proxy", ContainerPort: in.Ports.ForwardPort},
		},
		Env:             env,
		Resources:       resources("100m", "128Mi", "300m", "384Mi"),
		SecurityContext: sidecarSecurity(),
		VolumeMounts:    mounts,
	}
}

// proxyInit is the init container that installs the iptables rules: it runs as root
// with NET_ADMIN and NET_RAW only, and exits before the agent starts.
func proxyInit(p *gitopsv1.Platform, env []corev1.EnvVar) corev1.Container {
	return corev1.Container{
		Name:      ContainerProxyInit,
		Image:     p.Images.ProxyInit,
		Env:       env,
		Resources: resources("10m", "10Mi", "10m", "10Mi"),
		SecurityContext: &corev1.SecurityContext{
			RunAsUser:                ptr.To[int64](0),
			RunAsNonRoot:             ptr.To(false),
			AllowPrivilegeEscalation: ptr.To(false),
			Capabilities:             &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN", "NET_RAW"}, Drop: []corev1.Capability{"ALL"}},
		},
	}
}

func sidecarSecurity() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		RunAsUser:                ptr.To(SidecarUID),
		RunAsGroup:               ptr.To(SidecarUID),
		RunAsNonRoot:             ptr.To(true),
		AllowPrivilegeEscalation: ptr.To(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
}

func resources(cpuReq, memReq, cpuLim, memLim string) corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpuReq), corev1.ResourceMemory: resource.MustParse(memReq)},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpuLim), corev1.ResourceMemory: resource.MustParse(memLim)},
	}
}

func configMapVolume(volume, configMap string, optional bool) corev1.Volume {
	src := &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: configMap}}
	if optional {
		src.Optional = ptr.To(true)
	}
	return corev1.Volume{Name: volume, VolumeSource: corev1.VolumeSource{ConfigMap: src}}
}

// fromConfigMap reads a key of the namespace's authbridge-config; absent keys are empty.
// sidecarEnv is the environment every sidecar gets from the webhook, whatever its mode.
func sidecarEnv(spire bool, mtls agentv1.MTLSMode) []corev1.EnvVar {
	return []corev1.EnvVar{
		{Name: "SPIRE_ENABLED", Value: strconv.FormatBool(spire)},
		{Name: "MTLS_MODE", Value: string(mtls)},
	}
}

// ProxyEnvNames are the variables a proxy-sidecar or lite sidecar's config.yaml may
// refer to: its container has no others.
func ProxyEnvNames() []string {
	var names []string
	for _, e := range sidecarEnv(false, "") {
		names = append(names, e.Name)
	}
	return names
}

func fromConfigMap(key string) corev1.EnvVar {
	return corev1.EnvVar{Name: key, ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: agentv1.ConfigMapAuthBridgeConfig}, Key: key, Optional: ptr.To(true)}}}
}

// IsTrustsyncImage says image is trustsync's own (its repository is named trustsync),
// whose sidecar is the `trustsync authbridge` subcommand.
func IsTrustsyncImage(image string) bool {
	repo := image
	if i := strings.Index(repo, "@"); i >= 0 {
		repo = repo[:i]
	}
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	return repo == "trustsync" || strings.HasSuffix(repo, "/trustsync")
}

// CheckOwnVolume says whether a pod's own volume can stand in for the one AuthBridge
// injects under the same name; nil means the sidecars mount the pod's. Upstream reuses any
// volume of the name (its demos declare shared-data, the SPIRE-signing demo
// spire-agent-socket); trustsync only one of the same kind, so that no sidecar reads
// configuration, credentials or a node's files the pod put under that name:
//
//   - shared-data: an emptyDir, with whatever medium and sizeLimit the pod chose;
//   - spire-agent-socket: the SPIFFE CSI driver's volume (csi.spiffe.io), read-only. A
//     hostPath is refused even at the SPIRE agent's socket directory: it takes a pod
//     security level that admits any host path, and no injected upstream demo uses one.
//
// Every other name of an AuthBridge volume is reserved.
func CheckOwnVolume(own corev1.Volume) error {
	kind := volumeKind(own.VolumeSource)
	switch own.Name {
	case VolumeSharedData:
		if own.EmptyDir == nil {
			return fmt.Errorf("volume %q is %s; AuthBridge shares it with its sidecar as scratch space, so it must be an emptyDir (any medium or sizeLimit): make it one or rename it", own.Name, kind)
		}
		return nil
	case VolumeSPIRESocket:
		want := fmt.Sprintf("csi: {driver: %s, readOnly: true}", SPIFFECSIDriver)
		switch {
		case own.CSI == nil:
			return fmt.Errorf("volume %q is %s; it must be the SPIFFE CSI driver's (%s), the only source of the SPIRE agent's socket AuthBridge trusts: make it one or rename it", own.Name, kind, want)
		case own.CSI.Driver != SPIFFECSIDriver:
			return fmt.Errorf("volume %q is a CSI volume of driver %q; it must be the SPIFFE CSI driver's (%s): make it one or rename it", own.Name, own.CSI.Driver, want)
		case own.CSI.ReadOnly == nil || !*own.CSI.ReadOnly:
			return fmt.Errorf("volume %q of driver %s is not readOnly; it must be %s", own.Name, SPIFFECSIDriver, want)
		}
		return nil
	}
	return fmt.Errorf("volume name %q is reserved for AuthBridge; rename the pod's volume", own.Name)
}

// volumeKind names the source of a volume as the pod spec spells it, e.g. "a configMap
// volume".
func volumeKind(src corev1.VolumeSource) string {
	b, _ := json.Marshal(src)
	var fields map[string]json.RawMessage
	_ = json.Unmarshal(b, &fields)
	for k := range fields { // a valid volume has one source
		if strings.ContainsRune("aeiou", rune(k[0])) {
			return "an " + k + " volume"
		}
		return "a " + k + " volume"
	}
	return "a volume without a source"
}
