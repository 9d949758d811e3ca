package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// KubeConfigReference is the Secret holding a cluster's kubeconfig, in Cluster API's
// shape, which Flux and Rancher Fleet read too.
type KubeConfigReference struct {
	// SecretRef names the Secret in the Cluster's namespace; <cluster name>-kubeconfig
	// when empty, as Cluster API writes it.
	// +optional
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`
	// Key of the kubeconfig in the Secret; "value" when empty.
	// +optional
	Key string `json:"key,omitempty"`
}

// ClusterPlatform is what differs from the hub's Platform file on a cluster: its own
// SPIFFE trust domain above all. Unset fields keep the hub's value.
type ClusterPlatform struct {
	// TrustDomain of the cluster's SPIRE; every cluster with its own SPIRE has one.
	// +kubebuilder:validation:Pattern=`^[a-z0-9._-]+$`
	// +kubebuilder:validation:MaxLength=255
	// +optional
	TrustDomain string `json:"trustDomain,omitempty"`
	// Keycloak the cluster's agents register in.
	// +optional
	Keycloak *ClusterKeycloak `json:"keycloak,omitempty"`
	// SpireEnabled says whether the cluster runs SPIRE.
	// +optional
	SpireEnabled *bool `json:"spireEnabled,omitempty"`
	// FeatureGates of the cluster.
	// +optional
	FeatureGates *FeatureGates `json:"featureGates,omitempty"`
}

// ClusterKeycloak is a cluster's Keycloak.
type ClusterKeycloak struct {
	// +kubebuilder:validation:Pattern=`^https?://`
	// +optional
	URL string `json:"url,omitempty"`
	// +optional
	Realm string `json:"realm,omitempty"`
}

// ClusterSpec says how to reach a member cluster and what its platform is.
type ClusterSpec struct {
	// KubeConfig is where the cluster's credentials are. Exec and auth-provider plugins
	// are refused: a kubeconfig runs no program on the hub.
	// +optional
	KubeConfig KubeConfigReference `json:"kubeConfig,omitempty"`
	// ServiceAccountName, when set, is impersonated in the cluster
	// (system:serviceaccount:<namespace>:<name>, with namespace ServiceAccountNamespace),
	// so the hub's credentials act with that account's rights only.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
	// ServiceAccountNamespace of ServiceAccountName; the platform namespace when empty.
	// +optional
	ServiceAccountNamespace string `json:"serviceAccountNamespace,omitempty"`
	// Platform overrides of the cluster.
	// +optional
	Platform *ClusterPlatform `json:"platform,omitempty"`
	// Interval between contacts. Default 1m.
	// +optional
	Interval *metav1.Duration `json:"interval,omitempty"`
	// Suspend stops contacting the cluster.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// ClusterStatus is what the hub last found of the cluster.
type ClusterStatus struct {
	// ObservedGeneration is the generation last reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready says the cluster answered with its credentials.
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// ServerVersion is the cluster's Kubernetes version (its API server's gitVersion).
	// +optional
	ServerVersion string `json:"serverVersion,omitempty"`
	// LastContact is when the cluster last answered.
	// +optional
	LastContact *metav1.Time `json:"lastContact,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.status.serverVersion`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
// +kubebuilder:printcolumn:name="Last contact",type=date,JSONPath=`.status.lastContact`

// Cluster is a member cluster of the fleet, registered on the hub with its credentials
// and its platform.
type Cluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ClusterSpec   `json:"spec,omitempty"`
	Status ClusterStatus `json:"status,omitempty"`
}

// KubeConfigSecret is the name and key of the Secret holding the cluster's kubeconfig.
func (c *Cluster) KubeConfigSecret() (name, key string) {
	name, key = c.Name+"-kubeconfig", "value"
	if r := c.Spec.KubeConfig.SecretRef; r != nil && r.Name != "" {
		name = r.Name
	}
	if c.Spec.KubeConfig.Key != "" {
		key = c.Spec.KubeConfig.Key
	}
	return name, key
}

// +kubebuilder:object:root=true

// ClusterList is a list of Clusters.
type ClusterList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Cluster `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Cluster{}, &ClusterList{})
}
