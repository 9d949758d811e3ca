package mtls

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/trustsync/trustsync/security/authbridge/sidecarconfig"
)

// Defaults of ListenOptions.
const (
	DefaultPeekTimeout      = 5 * time.Second  // upstream's
	DefaultHandshakeTimeout = 10 * time.Second // upstream's outbound handshake bound
	DefaultMaxPending       = 1024
)

// recordTypeHandshake is the first byte of every TLS connection (a handshake record).
const recordTypeHandshake = 0x16

// ListenOptions tune Listen; zero fields take the defaults.
type ListenOptions struct {
	// PeekTimeout bounds the wait for a connection's first byte; a connection silent
	// that long is closed.
	PeekTimeout time.Duration
	// HandshakeTimeout bounds the TLS handshake, done before Accept returns the
	// connection so that it is counted and never reaches the server unverified.
	HandshakeTimeout time.Duration
	// MaxPending bounds the connections being classified (peeked at, handshaking) or
	// waiting to be accepted at once; beyond it, new ones wait in the kernel backlog.
	MaxPending int
	// Metrics counts the inbound results; nil counts nothing.
	Metrics *Metrics
}

func (o ListenOptions) withDefaults() ListenOptions {
	if o.PeekTimeout <= 0 {
		o.PeekTimeout = DefaultPeekTimeout
	}
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if o.MaxPending <= 0 {
		o.MaxPending = DefaultMaxPending
	}
	return o
}

// Listen serves TLS with cfg (ServerConfig's) and, in permissive mode, plaintext on the
// same port as inner. Each accepted connection is classified in its own goroutine, so a
// silent client delays no other: its first byte is awaited for PeekTimeout; 0x16 (a TLS
// handshake record) means TLS, and Accept returns a *tls.Conn whose handshake is done
// (net/http then sets Request.TLS from it); anything else is served as plaintext (the
// byte replayed) in permissive mode and closed in strict mode. A silent, closed or
// failing connection is closed. An empty mode is permissive (as upstream); any mode but
// permissive and empty is strict.
//
// Close closes inner and every connection not yet accepted, and unblocks Accept with
// net.ErrClosed.
func Listen(inner net.Listener, mode sidecarconfig.MTLSMode, cfg *tls.Config, o ListenOptions) net.Listener {
	o = o.withDefaults()
	l := &listener{
		inner:   inner,
		strict:  mode != sidecarconfig.MTLSPermissive && mode != "",
		cfg:     cfg,
		o:       o,
		m:       o.Metrics,
		ready:   make(chan net.Conn),
		acceptE: make(chan error),
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
		slots:   make(chan struct{}, o.MaxPending),
		pending: make(map[net.Conn]struct{}),
	}
	l.wg.Add(1)
	go l.loop()
	return l
}

type listener struct {
	inner  net.Listener
	strict bool
	cfg    *tls.Config
	o      ListenOptions
	m      *Metrics

	ready   chan net.Conn // classified connections, to Accept
	acceptE chan error    // inner Accept errors, to Accept (http.Server backs off on them)
	done    chan struct{} // closed by Close
	stopped chan struct{} // closed when the accept loop ended on its own (inner closed)
	slots   chan struct{} // one token per connection between inner.Accept and Accept

	mu      sync.Mutex
	closed  bool
	pending map[net.Conn]struct{} // not yet handed to Accept; closed by Close

	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

func (l *listener) Addr() net.Addr { return l.inner.Addr() }

func (l *listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case err := <-l.acceptE:
		return nil, err
	case <-l.done:
		return nil, net.ErrClosed
	case <-l.stopped:
		return nil, net.ErrClosed
	}
}

func (l *listener) Close() error {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closed = true
		pending := l.pending
		l.pending = nil
		l.mu.Unlock()
		close(l.done)
		l.closeErr = l.inner.Close()
		for c := range pending {
			_ = c.Close()
		}
		// Every goroutine now returns promptly: inner.Accept and the peeks and
		// handshakes fail on closed sockets, hand-offs see done.
		l.wg.Wait()
	})
	return l.closeErr
}

// loop accepts from inner while a slot is free and starts a classifier per connection.
func (l *listener) loop() {
	defer l.wg.Done()
	for {
		select {
		case l.slots <- struct{}{}:
		case <-l.done:
			return
		}
		c, err := l.inner.Accept()
		if err != nil {
			<-l.slots
			if errors.Is(err, net.ErrClosed) {
				close(l.stopped)
				return
			}
			// Paced by the caller: the next inner.Accept waits for it to take this error.
			select {
			case l.acceptE <- err:
				continue
			case <-l.done:
				return
			}
		}
		if !l.track(c) {
			_ = c.Close()
			<-l.slots
			return
		}
		l.wg.Add(1)
		go l.classify(c)
	}
}

func (l *listener) track(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.pending[c] = struct{}{}
	return true
}

// untrack reports false when Close has taken c (and closes or has closed it).
func (l *listener) untrack(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	delete(l.pending, c)
	return true
}

func (l *listener) classify(c net.Conn) {
	defer l.wg.Done()
	defer func() { <-l.slots }()
	out := l.sniff(c)
	if out == nil {
		if l.untrack(c) {
			_ = c.Close()
		}
		return
	}
	if !l.untrack(c) {
		return
	}
	select {
	case l.ready <- out:
	case <-l.done:
		_ = out.Close()
	}
}

// sniff classifies c; nil means c is to be closed.
func (l *listener) sniff(c net.Conn) net.Conn {
	if c.SetReadDeadline(time.Now().Add(l.o.PeekTimeout)) != nil {
		return nil
	}
	var first [1]byte
	if _, err := io.ReadFull(c, first[:]); err != nil {
		return nil // silent past the deadline, or gone
	}
	pc := &peekedConn{Conn: c, first: first[0], replay: true}
	if first[0] != recordTypeHandshake {
		if l.strict {
			l.m.inc(inPlainRejected)
			return nil
		}
		if c.SetReadDeadline(time.Time{}) != nil {
			return nil
		}
		l.m.inc(inPlainAccepted)
		return pc
	}
	if l.cfg == nil {
		l.m.inc(inHandshakeFailed)
		return nil
	}
	tc := tls.Server(pc, l.cfg)
	if c.SetDeadline(time.Now().Add(l.o.HandshakeTimeout)) != nil {
		return nil
	}
	if err := tc.Handshake(); err != nil {
		select {
		case <-l.done: // closed under it: not the peer's failure
		default:
			if !errors.Is(err, ErrPeerUnauthorized) { // counted by cfg's authorizer
				l.m.inc(inHandshakeFailed)
			}
		}
		return nil
	}
	if c.SetDeadline(time.Time{}) != nil {
		return nil
	}
	l.m.inc(inTLSAccepted)
	return tc
}

// peekedConn replays the byte the listener read to classify the connection.
type peekedConn struct {
	net.Conn
	first  byte
	replay bool
}

func (c *peekedConn) Read(p []byte) (int, error) {
	if c.replay && len(p) > 0 {
		// Only the byte: a read that waits for more could block on a peer that sent one.
		p[0] = c.first
		c.replay = false
		return 1, nil
	}
	return c.Conn.Read(p)
}

// NetConn is the accepted connection, e.g. for origdst.OriginalDst (as tls.Conn's).
func (c *peekedConn) NetConn() net.Conn { return c.Conn }
