package gittest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSHServer serves the repositories of a Server over SSH, by running git-upload-pack
// and git-receive-pack for clients with an authorised key.
type SSHServer struct {
	// Addr is host:port on 127.0.0.1.
	Addr string
	// HostKey is the server's public host key.
	HostKey ssh.PublicKey
	// KnownHosts is a known_hosts line for Addr and HostKey.
	KnownHosts []byte

	root string
	env  []string
}

// ServeSSH starts an SSH server over the repositories of s that accepts the given client
// keys (user name ignored); it is closed through t.Cleanup.
func (s *Server) ServeSSH(t testing.TB, authorized ...ssh.PublicKey) *SSHServer {
	t.Helper()
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("gittest: host key: %v", err)
	}
	signer, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		t.Fatalf("gittest: host key: %v", err)
	}
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			for _, k := range authorized {
				if bytes.Equal(k.Marshal(), key.Marshal()) {
					return nil, nil
				}
			}
			return nil, errors.New("key not authorised")
		},
	}
	cfg.AddHostKey(signer)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("gittest: listen: %v", err)
	}
	srv := &SSHServer{
		Addr:    ln.Addr().String(),
		HostKey: signer.PublicKey(),
		root:    s.Root,
		env:     s.env(),
	}
	srv.KnownHosts = []byte(knownhosts.Line([]string{knownhosts.Normalize(srv.Addr)}, srv.HostKey) + "\n")

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Go(func() {
				defer func() {
					mu.Lock()
					delete(conns, c)
					mu.Unlock()
					c.Close()
				}()
				srv.serveConn(ctx, c, cfg)
			})
		}
	})
	t.Cleanup(func() {
		cancel()
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return srv
}

// RepoURL is the ssh:// clone URL of repository name.
func (s *SSHServer) RepoURL(name string) string {
	return "ssh://git@" + s.Addr + "/" + name + ".git"
}

func (s *SSHServer) serveConn(ctx context.Context, c net.Conn, cfg *ssh.ServerConfig) {
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	conn, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	defer conn.Close()
	_ = c.SetDeadline(time.Now().Add(CommandTimeout))
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			return
		}
		go s.serveSession(ctx, ch, chReqs)
	}
}

func (s *SSHServer) serveSession(ctx context.Context, ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		if req.Type != "exec" {
			// env, pty-req and the like are not needed by git.
			_ = req.Reply(false, nil)
			continue
		}
		var payload struct{ Command string }
		if err := ssh.Unmarshal(req.Payload, &payload); err != nil {
			_ = req.Reply(false, nil)
			return
		}
		_ = req.Reply(true, nil)
		status := s.exec(ctx, ch, payload.Command)
		_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
		return
	}
}

// exec runs one git service command, e.g. git-upload-pack '/demo.git'.
func (s *SSHServer) exec(ctx context.Context, ch ssh.Channel, command string) uint32 {
	service, arg, _ := strings.Cut(command, " ")
	switch service {
	case "git-upload-pack", "git-receive-pack":
	default:
		fmt.Fprintf(ch.Stderr(), "gittest: command %q not allowed\n", service)
		return 1
	}
	name := strings.TrimPrefix(strings.Trim(arg, `'"`), "/")
	clean := filepath.ToSlash(filepath.Clean(name))
	if name == "" || clean != name || clean == ".." || strings.HasPrefix(clean, "../") {
		fmt.Fprintf(ch.Stderr(), "gittest: bad repository path %q\n", arg)
		return 1
	}

	ctx, cancel := context.WithTimeout(ctx, CommandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", strings.TrimPrefix(service, "git-"), filepath.Join(s.root, filepath.FromSlash(clean)))
	cmd.Env = s.env
	cmd.Stdout, cmd.Stderr = ch, ch.Stderr()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return 1
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(ch.Stderr(), "gittest: %v\n", err)
		return 1
	}
	// Not waited for: the client need not close its side before the service exits.
	go func() {
		_, _ = io.Copy(stdin, ch)
		stdin.Close()
	}()
	if err := cmd.Wait(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) && exitErr.ExitCode() > 0 {
			return uint32(exitErr.ExitCode())
		}
		return 1
	}
	return 0
}
