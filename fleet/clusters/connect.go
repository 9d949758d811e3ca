package clusters

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
)

// MaxKubeConfig bounds a kubeconfig; a Secret holds at most 1 MiB anyway.
const MaxKubeConfig = 1 << 20

// Connect builds the client configuration of c from its kubeconfig: the current
// context's cluster and user, with inline credentials only, impersonating c's
// ServiceAccount when it names one. platformNamespace is the ServiceAccount's namespace
// when c does not say.
func Connect(c *gitopsv1.Cluster, kubeconfig []byte, platformNamespace string, timeout time.Duration) (*rest.Config, error) {
	if len(kubeconfig) > MaxKubeConfig {
		return nil, fmt.Errorf("the kubeconfig is %d bytes, more than %d", len(kubeconfig), MaxKubeConfig)
	}
	kc, err := clientcmd.Load(kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("the kubeconfig does not parse: %w", err)
	}
	if err := inlineOnly(kc); err != nil {
		return nil, err
	}
	cfg, err := clientcmd.NewNonInteractiveClientConfig(*kc, kc.CurrentContext, &clientcmd.ConfigOverrides{}, nil).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("the kubeconfig: %w", err)
	}
	if sa := c.Spec.ServiceAccountName; sa != "" {
		ns := c.Spec.ServiceAccountNamespace
		if ns == "" {
			ns = platformNamespace
		}
		cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + ns + ":" + sa}
	}
	cfg.Timeout = timeout
	cfg.UserAgent = "trustsync-fleet"
	return cfg, nil
}

// inlineOnly refuses what would make the hub run a program or read its own files for a
// kubeconfig that came from a Secret.
func inlineOnly(kc *clientcmdapi.Config) error {
	var problems []string
	for _, name := range sortedKeys(kc.AuthInfos) {
		u := kc.AuthInfos[name]
		if u.Exec != nil {
			problems = append(problems, fmt.Sprintf("user %q runs a program (exec %q)", name, u.Exec.Command))
		}
		if u.AuthProvider != nil {
			problems = append(problems, fmt.Sprintf("user %q uses the auth-provider plugin %q", name, u.AuthProvider.Name))
		}
		for field, path := range map[string]string{"client-certificate": u.ClientCertificate, "client-key": u.ClientKey, "tokenFile": u.TokenFile} {
			if path != "" {
				problems = append(problems, fmt.Sprintf("user %q reads %s from the file %q", name, field, path))
			}
		}
		if u.Username != "" || u.Password != "" {
			problems = append(problems, fmt.Sprintf("user %q has a username and password (basic auth)", name))
		}
	}
	for _, name := range sortedKeys(kc.Clusters) {
		if p := kc.Clusters[name].CertificateAuthority; p != "" {
			problems = append(problems, fmt.Sprintf("cluster %q reads certificate-authority from the file %q", name, p))
		}
		if kc.Clusters[name].InsecureSkipTLSVerify {
			problems = append(problems, fmt.Sprintf("cluster %q skips TLS verification", name))
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("the kubeconfig is refused: %s; a Cluster's kubeconfig carries its credentials inline", strings.Join(problems, "; "))
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Contact is what a cluster said when asked.
type Contact struct {
	// Version is its Kubernetes version.
	Version string
	// User is whom it took the hub for.
	User string
}

// Probe asks the cluster for its version and whom it takes the caller for.
func Probe(ctx context.Context, cfg *rest.Config) (Contact, error) {
	d, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return Contact{}, err
	}
	v, err := d.ServerVersion()
	if err != nil {
		return Contact{}, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return Contact{}, err
	}
	review, err := cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return Contact{}, fmt.Errorf("asking who the hub is there: %w", err)
	}
	if review.Status.UserInfo.Username == "" {
		return Contact{}, errors.New("the cluster did not say whom it took the hub for")
	}
	return Contact{Version: v.GitVersion, User: review.Status.UserInfo.Username}, nil
}
