//go:build !linux

package origdst

import (
	"errors"
	"net"
	"net/netip"
)

func originalDst(*net.TCPConn) (netip.AddrPort, error) {
	return netip.AddrPort{}, errors.New("origdst: SO_ORIGINAL_DST exists only on Linux")
}
