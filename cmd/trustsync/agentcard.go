package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"

	"github.com/trustsync/trustsync/security/agentcard"
)

// workloadAPITimeout bounds fetching the SVID from the Workload API.
const workloadAPITimeout = 30 * time.Second

func newAgentCardCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "agentcard",
		Short: "Sign and verify A2A agent cards with X.509-SVIDs",
		Long: `Sign an A2A agent card with an X.509-SVID (a detached JWS over the canonical card,
with the SVID chain in x5c), or verify a signed card against a SPIRE trust bundle.`,
	}
	cmd.AddCommand(newAgentCardSignCommand(), newAgentCardVerifyCommand())
	return cmd
}

func newAgentCardSignCommand() *cobra.Command {
	var cardFile, certFile, keyFile, workloadAPI, spiffeID string
	cmd := &cobra.Command{
		Use:   "sign --card FILE (--svid-cert FILE --svid-key FILE | --workload-api unix:///PATH)",
		Short: "Sign an agent card and print the signed card",
		Long: `Sign an agent card with an X.509-SVID, read from PEM files or fetched from the SPIFFE
Workload API, and print the signed card on stdout. The card's "signatures" are replaced.`,
		Example: `  trustsync agentcard sign --card agent.json --svid-cert svid.pem --svid-key svid.key
  trustsync agentcard sign --card agent.json --workload-api unix:///run/spire/agent-sockets/spire-agent.sock`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			card, err := readFileOrStdin(cmd, cardFile)
			if err != nil {
				return err
			}
			var svid *x509svid.SVID
			switch {
			case workloadAPI != "":
				svid, err = svidFromWorkloadAPI(cmd.Context(), workloadAPI, spiffeID)
			default:
				svid, err = x509svid.Load(certFile, keyFile)
				if err != nil {
					err = fmt.Errorf("reading the X509-SVID from %s and %s: %w", certFile, keyFile, err)
				}
			}
			if err != nil {
				return err
			}
			signed, err := agentcard.Sign(card, svid, agentcard.SignOptions{})
			if err != nil {
				return fmt.Errorf("%s: %w", cardFile, err)
			}
			_, err = cmd.OutOrStdout().Write(signed)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&cardFile, "card", "", `the unsigned agent card (JSON); "-" reads stdin`)
	f.StringVar(&certFile, "svid-cert", "", "PEM file with the X509-SVID certificate chain, leaf first")
	f.StringVar(&keyFile, "svid-key", "", "PEM file with the SVID's private key (PKCS#8)")
	f.StringVar(&workloadAPI, "workload-api", "", "SPIFFE Workload API address to fetch the SVID from, e.g. unix:///run/spire/agent-sockets/spire-agent.sock")
	f.StringVar(&spiffeID, "spiffe-id", "", "with --workload-api: the SVID to sign with when the workload has several (default: the first)")
	_ = cmd.MarkFlagRequired("card")
	cmd.MarkFlagsRequiredTogether("svid-cert", "svid-key")
	cmd.MarkFlagsMutuallyExclusive("svid-cert", "workload-api")
	cmd.MarkFlagsMutuallyExclusive("svid-key", "workload-api")
	cmd.MarkFlagsOneRequired("svid-cert", "workload-api")
	return cmd
}

func svidFromWorkloadAPI(ctx context.Context, addr, want string) (*x509svid.SVID, error) {
	var wantID spiffeid.ID
	if want != "" {
		var err error
		if wantID, err = spiffeid.FromString(want); err != nil {
			return nil, fmt.Errorf("--spiffe-id %q: %w", want, err)
		}
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, workloadAPITimeout)
	defer cancel()
	svids, err := workloadapi.FetchX509SVIDs(ctx, workloadapi.WithAddr(addr))
	if err != nil {
		return nil, fmt.Errorf("fetching the X509-SVID from the Workload API at %s: %w", addr, err)
	}
	if len(svids) == 0 {
		return nil, fmt.Errorf("the Workload API at %s serves no X509-SVID", addr)
	}
	if wantID.IsZero() {
		return svids[0], nil
	}
	var got []string
	for _, s := range svids {
		if s.ID == wantID {
			return s, nil
		}
		got = append(got, s.ID.String())
	}
	return nil, fmt.Errorf("the Workload API at %s serves no X509-SVID %s (it serves %v)", addr, wantID, got)
}

func newAgentCardVerifyCommand() *cobra.Command {
	var cardFile, bundleFile, trustDomain string
	cmd := &cobra.Command{
		Use:   "verify --card FILE --trust-bundle FILE [--trust-domain TD]",
		Short: "Verify a signed agent card and print the signer's SPIFFE ID",
		Long: `Verify a signed agent card: the x5c chain must validate against the trust bundle, the
leaf carry exactly one SPIFFE ID, the signature cover the canonical card, and — with
--trust-domain — the SPIFFE ID be in that trust domain. Prints the SPIFFE ID and exits 0,
or says why the card is rejected and exits 1.

The trust bundle may be PEM CA certificates (spire-server bundle show) or a SPIFFE JSON
bundle (spire-server bundle show -format spiffe, the spire-bundle ConfigMap's bundle.spiffe).`,
		Example: `  trustsync agentcard verify --card agent-card.json --trust-bundle bundle.spiffe --trust-domain example.org`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			card, err := readFileOrStdin(cmd, cardFile)
			if err != nil {
				return err
			}
			data, err := readBundle(bundleFile)
			if err != nil {
				return err
			}
			bundles, err := agentcard.ParseTrustBundle(data, trustDomain)
			if err != nil {
				return fmt.Errorf("%s: %w", bundleFile, err)
			}
			res, err := agentcard.Verify(card, bundles, agentcard.VerifyOptions{TrustDomain: trustDomain})
			if err != nil {
				if _, ok := errors.AsType[*agentcard.Error](err); ok {
					return fmt.Errorf("%s: signature rejected: %w", cardFile, err)
				}
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), res.SPIFFEID)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&cardFile, "card", "", `the signed agent card (JSON); "-" reads stdin`)
	f.StringVar(&bundleFile, "trust-bundle", "", "the trust bundle: PEM CA certificates or a SPIFFE JSON bundle")
	f.StringVar(&trustDomain, "trust-domain", "", "the trust domain the signer must be in; also names a bundle that does not say its own")
	_ = cmd.MarkFlagRequired("card")
	_ = cmd.MarkFlagRequired("trust-bundle")
	return cmd
}

// readFileOrStdin reads a card from a file or, for "-", stdin, bounded like a fetched
// card: one over the bound is said to be so, not cut and reported as bad JSON.
func readFileOrStdin(cmd *cobra.Command, path string) ([]byte, error) {
	if path == "-" {
		return agentcard.ReadCard(cmd.InOrStdin(), "the card on stdin")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading the card: %w", err)
	}
	defer f.Close()
	return agentcard.ReadCard(f, "the card "+path)
}

// maxBundleBytes bounds a trust bundle file: a SPIFFE bundle of a few dozen authorities
// is tens of kilobytes.
const maxBundleBytes = 4 << 20

func readBundle(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading the trust bundle: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxBundleBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading the trust bundle %s: %w", path, err)
	}
	if len(data) > maxBundleBytes {
		return nil, fmt.Errorf("the trust bundle %s is over the bound of %d bytes (4 MiB)", path, maxBundleBytes)
	}
	return data, nil
}
