package broker

import "net/netip"

// nonPublic are the address ranges a credential is never sent to unless the
// entry lists that address itself: loopback, private, link-local (cloud
// metadata at 169.254.169.254), unspecified, multicast, carrier-grade NAT,
// benchmarking, reserved, and the IPv6 prefixes that embed or translate to
// IPv4 (their embedded address is checked separately).
var nonPublic = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
		"172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
		"198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
		"::/128", "::1/128", "::/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64",
		"2001::/23", "2001:db8::/32", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// isPublic reports whether a is a global unicast address that is not in any
// special-purpose range. IPv4-mapped (::ffff:a.b.c.d) addresses are judged
// as the IPv4 address they map to, and 6to4 (2002::/16) by the IPv4 address
// inside it.
func isPublic(a netip.Addr) bool {
	if !a.IsValid() || a.Zone() != "" {
		return false
	}
	a = a.Unmap()
	if a.Is6() {
		if b := a.As16(); b[0] == 0x20 && b[1] == 0x02 { // 6to4: 2002:AABB:CCDD::/48
			return isPublic(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}))
		}
	}
	if !a.IsGlobalUnicast() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return false
		}
	}
	return true
}
