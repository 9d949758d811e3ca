package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/trustsync/trustsync/dataplane/pipeline"
)

type frames struct{ got []string }

func (f *frames) Name() string { return "frames" }
func (f *frames) OnFrame(_ context.Context, _ *pipeline.Request, b []byte) *pipeline.Deny {
	f.got = append(f.got, string(b))
	return nil
}

func TestFramerSplitsEvents(t *testing.T) {
	for _, tc := range []struct {
		name, in   string
		wantFrames []string
	}{
		{"lf", "data: a\n\ndata: b\n\n", []string{"data: a", "data: b"}},
		{"crlf", "data: a\r\n\r\nid: 2\r\ndata: b\r\n\r\n", []string{"data: a", "id: 2\r\ndata: b"}},
		{"mixed, first terminator wins", "data: a\n\ndata: b\r\n\r\n", []string{"data: a", "data: b"}},
		{"trailing partial event at EOF", "data: a\n\ndata: tail", []string{"data: a", "data: tail"}},
		{"empty", "", nil},
	} {
		for _, oneByte := range []bool{false, true} {
			name := tc.name
			if oneByte {
				name += ", a byte per read"
			}
			t.Run(name, func(t *testing.T) {
				fp := &frames{}
				p, err := pipeline.New(pipeline.Inbound, []pipeline.Entry{{Plugin: fp}})
				if err != nil {
					t.Fatal(err)
				}
				var src io.Reader = strings.NewReader(tc.in)
				if oneByte {
					src = iotest.OneByteReader(src)
				}
				ex := &exchange{p: p}
				f := newFramer(context.Background(), io.NopCloser(src), ex)
				out, err := io.ReadAll(f)
				if err != nil {
					t.Fatal(err)
				}
				if string(out) != tc.in {
					t.Errorf("relayed %q, want the stream unchanged %q", out, tc.in)
				}
				if strings.Join(fp.got, "|") != strings.Join(tc.wantFrames, "|") {
					t.Errorf("frames %q, want %q", fp.got, tc.wantFrames)
				}
			})
		}
	}
}

func TestFramerPassesSourceError(t *testing.T) {
	p, _ := pipeline.New(pipeline.Inbound, []pipeline.Entry{{Plugin: &frames{}}})
	boom := io.ErrUnexpectedEOF
	f := newFramer(context.Background(), io.NopCloser(io.MultiReader(strings.NewReader("data: a\n\n"), iotest.ErrReader(boom))), &exchange{p: p})
	out, err := io.ReadAll(f)
	if string(out) != "data: a\n\n" || err != boom {
		t.Fatalf("got %q, %v", out, err)
	}
}

func TestLooksHTTP(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"GET / HTTP/1.1\r\n", true},
		{"OPTIONS * HTTP/1.1\r\n", true},
		{"DELETE /x HTTP/1.1\r\n", true},
		{"GETX / HTTP/1.1", false},
		{"get / HTTP/1.1", false},
		{"\x00\x01\x02", false},
		{"GE", false}, // the client stopped: not HTTP
		{"SSH-2.0-OpenSSH_9.6\r\n", false},
	} {
		br := bufio.NewReaderSize(iotest.OneByteReader(strings.NewReader(tc.in)), peekBytes)
		_, _ = br.Peek(1)
		if got := looksHTTP(br); got != tc.want {
			t.Errorf("looksHTTP(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// clientHello is the first flight of a TLS client naming sni.
func clientHello(t *testing.T, sni string) []byte {
	t.Helper()
	c, s := net.Pipe()
	defer c.Close()
	defer s.Close()
	go func() {
		_ = tls.Client(c, &tls.Config{ServerName: sni, InsecureSkipVerify: true}).Handshake()
	}()
	_ = s.SetReadDeadline(time.Now().Add(5 * time.Second))
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(s, hdr); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, int(hdr[3])<<8|int(hdr[4]))
	if _, err := io.ReadFull(s, body); err != nil {
		t.Fatal(err)
	}
	return append(hdr, body...)
}

func TestServerName(t *testing.T) {
	hello := clientHello(t, "api.example.com")
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"whole hello", hello, "api.example.com"},
		{"cut off", hello[:len(hello)/2], ""},
		{"not tls", []byte("GET / HTTP/1.1\r\n\r\n"), ""},
		{"empty", nil, ""},
		{"record header only", hello[:5], ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := serverName(tc.in); got != tc.want {
				t.Fatalf("serverName = %q, want %q", got, tc.want)
			}
		})
	}
	if !bytes.Equal(hello[:1], []byte{0x16}) {
		t.Fatal("not a handshake record")
	}
}

func TestSelf(t *testing.T) {
	tr := &transparent{o: TransparentOptions{Self: []netip.AddrPort{
		netip.MustParseAddrPort("0.0.0.0:8081"), netip.MustParseAddrPort("10.1.2.3:8080"), netip.MustParseAddrPort("[::ffff:10.9.9.9]:9091"),
	}}}
	for _, tc := range []struct {
		dst  string
		want bool
	}{
		{"127.0.0.1:8081", true},
		{"127.0.0.5:8081", true},
		{"10.1.2.3:8081", false}, // another pod's 8081
		{"10.1.2.3:8080", true},
		{"10.1.2.3:8082", false},
		{"10.9.9.9:9091", true},
		{"[::1]:8081", true},
	} {
		if got := tr.self(netip.MustParseAddrPort(tc.dst)); got != tc.want {
			t.Errorf("self(%s) = %v, want %v", tc.dst, got, tc.want)
		}
	}
}

func TestSameAuthority(t *testing.T) {
	for _, tc := range []struct {
		header, hostport string
		want             bool
	}{
		{"api.example.com", "api.example.com:443", true},
		{"API.example.com.", "api.example.com:443", true},
		{"api.example.com:443", "api.example.com:443", true},
		{"api.example.com:8443", "api.example.com:8443", true},
		{"api.example.com", "api.example.com:8443", false},
		{"api.example.com:8443", "api.example.com:443", false},
		{"other.example.com", "api.example.com:443", false},
		{"[2001:db8::1]", "[2001:db8::1]:443", true},
		{"[2001:db8::1]:443", "[2001:db8::1]:443", true},
		{"", "api.example.com:443", true},
		{"api.example.com", "not-a-hostport", false},
	} {
		if got := sameAuthority(tc.header, tc.hostport); got != tc.want {
			t.Errorf("sameAuthority(%q, %q) = %v, want %v", tc.header, tc.hostport, got, tc.want)
		}
	}
}
