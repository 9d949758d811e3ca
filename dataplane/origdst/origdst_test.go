package origdst_test

import (
	"net"
	"strings"
	"testing"

	"github.com/trustsync/trustsync/dataplane/origdst"
)

type wrapper struct {
	net.Conn
	inner net.Conn
}

func (w wrapper) NetConn() net.Conn { return w.inner }

func TestOriginalDstRefusesNonTCP(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	var deep net.Conn = a
	for range 10 {
		deep = wrapper{Conn: a, inner: deep}
	}
	tests := []struct {
		name string
		c    net.Conn
		want string
	}{
		{"pipe", a, "is not a TCP connection"},
		{"wrapped pipe", wrapper{Conn: a, inner: a}, "is not a TCP connection"},
		{"wrapping nothing", wrapper{Conn: a}, "wraps no connection"},
		{"wrapped too deep", deep, "wrapped more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if dst, err := origdst.OriginalDst(tt.c); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("OriginalDst = %v, %v; want an error containing %q", dst, err, tt.want)
			}
		})
	}
}
