//go:build linux

package origdst

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ip6tSOOriginalDst is IP6T_SO_ORIGINAL_DST (linux/netfilter_ipv6/ip6_tables.h), the same
// number as SO_ORIGINAL_DST at level SOL_IPV6.
const ip6tSOOriginalDst = 80

func originalDst(tc *net.TCPConn) (netip.AddrPort, error) {
	rc, err := tc.SyscallConn()
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("origdst: connection from %s: %w", tc.RemoteAddr(), err)
	}
	// Ask the family of the local address first; an IPv6 socket may carry IPv4
	// (4-in-6), so the other one is the fallback, as upstream.
	v4First := true
	if la, ok := tc.LocalAddr().(*net.TCPAddr); ok && la.IP.To4() == nil {
		v4First = false
	}
	var (
		dst      netip.AddrPort
		err4, e6 error
	)
	ctrl := rc.Control(func(fd uintptr) {
		if v4First {
			if dst, err4 = ipv4(int(fd)); err4 == nil {
				return
			}
			dst, e6 = ipv6(int(fd))
			return
		}
		if dst, e6 = ipv6(int(fd)); e6 == nil {
			return
		}
		dst, err4 = ipv4(int(fd))
	})
	switch {
	case ctrl != nil:
		return netip.AddrPort{}, fmt.Errorf("origdst: connection from %s: %w", tc.RemoteAddr(), ctrl)
	case dst.IsValid():
		return dst, nil
	}
	return netip.AddrPort{}, fmt.Errorf("origdst: no original destination for the connection from %s to %s (not redirected?): %w",
		tc.RemoteAddr(), tc.LocalAddr(), errors.Join(err4, e6))
}

// ipv4 reads the struct sockaddr_in the kernel writes for SOL_IP/SO_ORIGINAL_DST. x/sys
// has no sockaddr getsockopt; IPv6Mreq is 20 bytes, room for the 16 of sockaddr_in.
func ipv4(fd int) (netip.AddrPort, error) {
	m, err := unix.GetsockoptIPv6Mreq(fd, unix.SOL_IP, unix.SO_ORIGINAL_DST)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("getsockopt SOL_IP SO_ORIGINAL_DST: %w", err)
	}
	b := m.Multiaddr[:]
	if fam := *(*uint16)(unsafe.Pointer(&b[0])); fam != unix.AF_INET {
		return netip.AddrPort{}, fmt.Errorf("getsockopt SOL_IP SO_ORIGINAL_DST: address family %d, want AF_INET", fam)
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), binary.BigEndian.Uint16(b[2:4])), nil
}

// ipv6 reads the struct sockaddr_in6 of SOL_IPV6/IP6T_SO_ORIGINAL_DST. IPv6MTUInfo
// begins with a RawSockaddrInet6 (28 bytes), which is what the kernel fills.
func ipv6(fd int) (netip.AddrPort, error) {
	info, err := unix.GetsockoptIPv6MTUInfo(fd, unix.SOL_IPV6, ip6tSOOriginalDst)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("getsockopt SOL_IPV6 IP6T_SO_ORIGINAL_DST: %w", err)
	}
	sa := &info.Addr
	if sa.Family != unix.AF_INET6 {
		return netip.AddrPort{}, fmt.Errorf("getsockopt SOL_IPV6 IP6T_SO_ORIGINAL_DST: address family %d, want AF_INET6", sa.Family)
	}
	port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:]) // network byte order
	return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), port), nil
}
