//go:build linux

package origdst_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trustsync/trustsync/dataplane/origdst"
)

// childEnv marks the test process re-executed inside a new network namespace.
const childEnv = "TRUSTSYNC_ORIGDST_NETNS_CHILD"

const netnsTimeout = 2 * time.Minute

// TestOriginalDstInNetns re-executes this test inside a new network namespace (unshare
// -n; the machine runs tests as root), where it brings lo up, redirects a port with
// iptables (and ip6tables) REDIRECT as proxy-init does, and asserts that OriginalDst of
// the accepted connection is the address the client dialed. It needs unshare, ip and
// iptables; without them it fails with what to install (it never skips).
func TestOriginalDstInNetns(t *testing.T) {
	if os.Getenv(childEnv) == "1" {
		inNetns(t)
		return
	}
	for _, tool := range []string{"unshare", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed: it is needed to test SO_ORIGINAL_DST in a network namespace (Debian: apt-get install -y util-linux iproute2): %v", tool, err)
		}
	}
	if len(present(iptablesBackends)) == 0 {
		t.Fatalf("none of %v is installed: the test needs iptables to REDIRECT a port (Debian: apt-get install -y iptables)", iptablesBackends)
	}
	ctx, cancel := context.WithTimeout(context.Background(), netnsTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "-n", "--", os.Args[0], "-test.run", "^TestOriginalDstInNetns$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the test in a new network namespace (unshare -n; needs root or CAP_SYS_ADMIN) failed: %v\n%s", err, out)
	}
	t.Logf("in a new network namespace:\n%s", out)
}

var (
	iptablesBackends  = []string{"iptables-nft", "iptables-legacy"}
	ip6tablesBackends = []string{"ip6tables-nft", "ip6tables-legacy"}
)

func present(tools []string) []string {
	var out []string
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err == nil {
			out = append(out, tool)
		}
	}
	return out
}

func run(t *testing.T, name string, args ...string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// inNetns runs in the fresh namespace: every backend that can install the rule is
// checked, and at least one of each family must work.
func inNetns(t *testing.T) {
	if err := run(t, "ip", "link", "set", "lo", "up"); err != nil {
		t.Fatal(err)
	}
	for _, fam := range []struct {
		name     string
		loopback netip.Addr
		backends []string
	}{
		{"IPv4", netip.MustParseAddr("127.0.0.1"), iptablesBackends},
		{"IPv6", netip.IPv6Loopback(), ip6tablesBackends},
	} {
		t.Run(fam.name, func(t *testing.T) {
			worked := 0
			for _, backend := range present(fam.backends) {
				if err := redirected(t, backend, fam.loopback); err != nil {
					t.Logf("%s: %v", backend, err)
					continue
				}
				t.Logf("%s: REDIRECT installed, OriginalDst recovered the dialed address", backend)
				worked++
			}
			if worked == 0 {
				t.Fatalf("no %s backend of %v installed a REDIRECT that OriginalDst could read (see above)", fam.name, fam.backends)
			}
		})
	}
}

// redirected listens on L, redirects loopback:P to L with backend, dials loopback:P and
// checks OriginalDst of the accepted connection, also through a TLS wrapper. A failing
// backend returns the error; a wrong answer fails the test.
func redirected(t *testing.T, backend string, loopback netip.Addr) error {
	ln, err := net.Listen("tcp", netip.AddrPortFrom(loopback, 0).String())
	if err != nil {
		return err
	}
	defer ln.Close()
	l := netip.MustParseAddrPort(ln.Addr().String()).Port()
	p := freePort(t, loopback, l)
	rule := []string{"-t", "nat", "OUTPUT", "-p", "tcp", "-d", loopback.String(), "--dport", strconv.Itoa(int(p)), "-j", "REDIRECT", "--to-ports", strconv.Itoa(int(l))}
	add := append([]string{"-t", "nat", "-A"}, rule[2:]...)
	if err := run(t, backend, add...); err != nil {
		return err
	}
	defer func() {
		if err := run(t, backend, append([]string{"-t", "nat", "-D"}, rule[2:]...)...); err != nil {
			t.Errorf("removing the rule: %v", err)
		}
	}()

	want := netip.AddrPortFrom(loopback, p)
	client, err := net.DialTimeout("tcp", want.String(), 5*time.Second)
	if err != nil {
		return fmt.Errorf("dialing %s through the REDIRECT: %w", want, err)
	}
	defer client.Close()
	if err := ln.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	server, err := ln.Accept()
	if err != nil {
		return fmt.Errorf("accepting the redirected connection: %w", err)
	}
	defer server.Close()
	if got := netip.MustParseAddrPort(server.LocalAddr().String()).Port(); got != l {
		t.Fatalf("%s: accepted on port %d, want the listener's %d", backend, got, l)
	}
	for _, c := range []net.Conn{server, tls.Server(server, &tls.Config{})} {
		got, err := origdst.OriginalDst(c)
		if err != nil {
			t.Fatalf("%s: OriginalDst(%T): %v", backend, c, err)
		}
		if got != want {
			t.Fatalf("%s: OriginalDst(%T) = %s, want %s (the dialed address, not the listener's %d)", backend, c, got, want, l)
		}
	}
	return nil
}

// freePort is a port on addr nobody listens on, other than not.
func freePort(t *testing.T, addr netip.Addr, not uint16) uint16 {
	t.Helper()
	for range 16 {
		ln, err := net.Listen("tcp", netip.AddrPortFrom(addr, 0).String())
		if err != nil {
			t.Fatal(err)
		}
		p := netip.MustParseAddrPort(ln.Addr().String()).Port()
		ln.Close()
		if p != not {
			return p
		}
	}
	t.Fatal("no free port")
	return 0
}

// TestOriginalDstNotRedirected: a connection no NAT touched has no original destination
// unless conntrack tracks it; either way OriginalDst does not invent one.
func TestOriginalDstNotRedirected(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	got, err := origdst.OriginalDst(server)
	switch {
	case err != nil:
		if !strings.Contains(err.Error(), "no original destination") {
			t.Fatalf("error %v does not say what is missing", err)
		}
	case got.String() != ln.Addr().String():
		t.Fatalf("OriginalDst of a connection not redirected = %s, want its own destination %s", got, ln.Addr())
	}
}
