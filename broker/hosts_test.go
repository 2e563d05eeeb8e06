package broker

import (
	"net/netip"
	"strings"
	"testing"
)

func TestCheckURL(t *testing.T) {
	hosts := []string{"api.example.com", "upload.example.com:8443", "http://127.0.0.1:8787", "10.1.2.3", "[::1]:9000", "https://Grüße.example"}
	tests := []struct {
		url  string
		host string // "" when refused
		err  string
	}{
		{"https://api.example.com/v1/models?x=1", "api.example.com", ""},
		{"https://API.Example.COM/v1", "api.example.com", ""},
		{"https://api.example.com./v1", "api.example.com", ""},
		{"HTTPS://api.example.com", "api.example.com", ""},
		{"https://api.example.com:443/", "api.example.com", ""},
		{"https://api.example.com:0443/", "api.example.com", ""},
		{"https://ａｐｉ．ｅｘａｍｐｌｅ．ｃｏｍ/", "api.example.com", ""}, // full-width letters and dots map to the listed ASCII name
		{"https://upload.example.com:8443/f", "upload.example.com:8443", ""},
		{"http://127.0.0.1:8787/x", "127.0.0.1:8787", ""},
		{"https://10.1.2.3/", "10.1.2.3", ""},
		{"https://[::1]:9000/", "[::1]:9000", ""},
		{"https://xn--gre-6ka8l.example/", "xn--gre-6ka8l.example", ""},
		{"https://grüße.example/", "xn--gre-6ka8l.example", ""},

		{"https://api.example.com:8443/", "", "not among the entry's hosts"},
		{"https://upload.example.com/", "", "not among"},
		{"http://api.example.com/", "", "plain http"},
		{"https://127.0.0.1:8787/", "", "not among"},
		{"http://127.0.0.1:8788/", "", "not among"},
		{"http://localhost:8787/", "", "not among"},
		{"https://evil.example.org/", "", "not among"},
		{"https://evil.example.org/api.example.com", "", "not among"},
		{"https://evil.example.org/?u=https://api.example.com/", "", "not among"},
		{"https://evil.example.org#@api.example.com", "", "not among"},
		{"https://api.example.com.evil.example.org/", "", "not among"},
		{"https://evilapi.example.com/", "", "not among"},
		{"https://x.api.example.com/", "", "not among"},
		{"https://api.example.com@evil.example.org/", "", "user info"},
		{"https://user:pass@api.example.com/", "", "user info"},
		{"https://evil.example.org\\@api.example.com/", "", "backslash"},
		{"https://api.example.com\\.evil.example.org/", "", "backslash"},
		{"https://api%2eexample%2ecom/", "", "percent-escape"},
		{"https://%61pi.example.com/", "", "percent-escape"},
		{"https://api.example.com%00.evil.example.org/", "", "percent-escape"},
		{"https://api.example.com /", "", "space"},
		{"https://api.example.com\t/", "", "control"},
		{"https://api.example.com\n.evil/", "", "control"},
		{"https:api.example.com", "", "absolute"},
		{"//api.example.com/", "", "absolute"},
		{"api.example.com/v1", "", "absolute"},
		{"ftp://api.example.com/", "", "scheme"},
		{"file:///etc/passwd", "", "scheme"},
		{"gopher://api.example.com/", "", "scheme"},
		{"https://", "", "no host"},
		{"https:///api.example.com", "", "no host"},
		{"https://10.1.2.3:443@evil.example.org/", "", "user info"},
		{"https://[::ffff:10.1.2.3]/", "", "not among"},
		{"https://[fe80::1%25eth0]/", "", "percent"},
		{"https://167838211/", "", "numeric"},  // 10.1.2.3 as one number
		{"https://0x0a.1.2.3/", "", "numeric"}, // hex octet
		{"https://10.1.2.3.nip.io/", "", "not among"},
		{"https://012.1.2.3/", "", "numeric"}, // octal octet
		{"https://api.example.com:65536/", "", "port"},
		{"https://api.example.com:-1/", "", "parse"},
		{"https://api.example.com:+443/", "", "parse"},
		{"https://api.example.com:/", "", "empty port"},
		{"https://[::1/", "", "parse"},
		{"https://api..example.com/", "", "host name"},
		{"https://api.example.com../", "", "host name"},
		{"https://api.example.com/%2F..%2F", "api.example.com", ""},
		{"https://api.example.com/" + strings.Repeat("a", maxURL), "", "over the limit"},
	}
	for _, tt := range tests {
		got, err := CheckURL(hosts, tt.url)
		if tt.err == "" {
			if err != nil || got != tt.host {
				t.Errorf("CheckURL(%q) = %q, %v; want %q", tt.url, got, err, tt.host)
			}
			continue
		}
		if err == nil {
			t.Errorf("CheckURL(%q) = %q, want an error containing %q", tt.url, got, tt.err)
		} else if !strings.Contains(err.Error(), tt.err) {
			t.Errorf("CheckURL(%q) error = %q, want it to contain %q", tt.url, err, tt.err)
		}
	}
}

func TestParseListed(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{"api.example.com", "https://api.example.com", ""},
		{"API.example.com.", "https://api.example.com", ""},
		{"api.example.com:8443", "https://api.example.com:8443", ""},
		{"http://127.0.0.1:8787", "http://127.0.0.1:8787", ""},
		{"http://127.0.0.1:8787/", "http://127.0.0.1:8787", ""},
		{"https://h.example:443", "https://h.example", ""},
		{"http://h.example", "http://h.example", ""},
		{"::1", "https://[::1]", ""},
		{"[::1]:8080", "https://[::1]:8080", ""},
		{"[::1]", "https://[::1]", ""},
		{"", "", "empty"},
		{"ftp://h.example", "", "scheme"},
		{"h.example/path", "", "path"},
		{"user@h.example", "", "user info"},
		{"h.example:0", "", "port"},
		{"[h.example]:80", "", "IPv6"},
		{"2130706433", "", "numeric"},
	}
	for _, tt := range tests {
		o, err := parseListed(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("parseListed(%q) = %v, %v; want error with %q", tt.in, o, err, tt.err)
			}
			continue
		}
		if err != nil || o.String() != tt.want {
			t.Errorf("parseListed(%q) = %v, %v; want %s", tt.in, o, err, tt.want)
		}
	}
	if _, err := CheckURL(nil, "https://api.example.com/"); err == nil || !strings.Contains(err.Error(), "no hosts") {
		t.Errorf("no hosts: %v", err)
	}
	if _, err := CheckURL([]string{"ok.example", "bad/path"}, "https://ok.example/"); err == nil {
		t.Error("an entry with one bad host was served")
	}
}

func TestIsPublic(t *testing.T) {
	tests := []struct {
		addr   string
		public bool
	}{
		{"8.8.8.8", true}, {"1.1.1.1", true}, {"2606:4700:4700::1111", true},
		{"127.0.0.1", false}, {"127.8.9.10", false}, {"::1", false}, {"0.0.0.0", false}, {"::", false},
		{"10.0.0.1", false}, {"172.16.5.4", false}, {"172.31.255.255", false}, {"192.168.1.1", false},
		{"169.254.169.254", false}, {"fe80::1", false}, {"fc00::1", false}, {"fd12:3456::1", false},
		{"100.64.0.1", false}, {"224.0.0.1", false}, {"ff02::1", false}, {"255.255.255.255", false},
		{"::ffff:127.0.0.1", false}, {"::ffff:10.0.0.1", false}, {"::ffff:169.254.169.254", false},
		{"::ffff:8.8.8.8", true}, {"64:ff9b::7f00:1", false}, {"2002:7f00:1::", false}, {"2002:0808:0808::", true},
		{"2001::1", false}, {"198.18.0.1", false}, {"192.0.2.1", false}, {"::127.0.0.1", false},
	}
	for _, tt := range tests {
		if got := isPublic(netip.MustParseAddr(tt.addr)); got != tt.public {
			t.Errorf("isPublic(%s) = %v, want %v", tt.addr, got, tt.public)
		}
	}
}
