package origdst

import (
	"fmt"
	"net"
	"net/netip"
)

// maxUnwrap bounds the NetConn chain followed to the socket (tls.Conn, mtls's replaying
// conn, ...).
const maxUnwrap = 8

// OriginalDst is the destination c was addressed to before the kernel's NAT redirected
// it. c is a *net.TCPConn, or a connection that leads to one through NetConn() (as
// *tls.Conn does). A connection that was not redirected has no original destination
// recorded unless conntrack tracked it, in which case the destination is its own local
// address.
func OriginalDst(c net.Conn) (netip.AddrPort, error) {
	tc, err := tcpConn(c)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return originalDst(tc)
}

func tcpConn(c net.Conn) (*net.TCPConn, error) {
	for range maxUnwrap {
		switch v := c.(type) {
		case *net.TCPConn:
			return v, nil
		case interface{ NetConn() net.Conn }:
			if c = v.NetConn(); c == nil {
				return nil, fmt.Errorf("origdst: %T wraps no connection", v)
			}
		default:
			return nil, fmt.Errorf("origdst: %T is not a TCP connection", c)
		}
	}
	return nil, fmt.Errorf("origdst: %T: connection wrapped more than %d deep", c, maxUnwrap)
}
