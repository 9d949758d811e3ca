package main

import (
	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	gitopsv1 "github.com/trustsync/trustsync/api/gitops/v1alpha1"
	apischeme "github.com/trustsync/trustsync/api/scheme"
)

// kubeFlags are the flags of commands that talk to a cluster.
type kubeFlags struct {
	kubeconfig string
	namespace  string
	context    string
}

func (k *kubeFlags) add(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&k.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster)")
	cmd.PersistentFlags().StringVar(&k.context, "context", "", "kubeconfig context")
	cmd.PersistentFlags().StringVarP(&k.namespace, "namespace", "n", "", "namespace (default: the context's, else default)")
}

func (k *kubeFlags) loader() clientcmd.ClientConfig {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = k.kubeconfig
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: k.context})
}

func (k *kubeFlags) config() (*rest.Config, error) { return k.loader().ClientConfig() }

// ns is the namespace to work in.
func (k *kubeFlags) ns() string {
	if k.namespace != "" {
		return k.namespace
	}
	if ns, _, err := k.loader().Namespace(); err == nil && ns != "" {
		return ns
	}
	return "default"
}

func (k *kubeFlags) client() (client.Client, error) {
	cfg, err := k.config()
	if err != nil {
		return nil, err
	}
	return client.New(cfg, client.Options{Scheme: apischeme.New()})
}

// serverSetup is what the long-running commands start with: logging, the platform file
// and the cluster's configuration.
func (k *kubeFlags) serverSetup(platformFile string, development bool) (*gitopsv1.Platform, *rest.Config, error) {
	ctrl.SetLogger(zap.New(zap.UseDevMode(development)))
	p, err := gitopsv1.LoadPlatform(platformFile)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := k.config()
	return p, cfg, err
}
