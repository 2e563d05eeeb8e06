package inject

import (
	"bytes"
	"strings"
	"testing"
)

func TestParseCredential(t *testing.T) {
	tests := []struct {
		name, in string
		want     CredentialRequest
		err      string
	}{
		{name: "basic", in: "protocol=https\nhost=github.com\n\n", want: CredentialRequest{Protocol: "https", Host: "github.com"}},
		{name: "no blank line", in: "protocol=https\nhost=example.test:8443", want: CredentialRequest{Protocol: "https", Host: "example.test:8443"}},
		{name: "stops at blank", in: "protocol=https\n\nhost=evil.test\n", want: CredentialRequest{Protocol: "https"}},
		{name: "crlf", in: "protocol=http\r\nhost=127.0.0.1:8080\r\n\r\n", want: CredentialRequest{Protocol: "http", Host: "127.0.0.1:8080"}},
		{name: "all fields", in: "protocol=https\nhost=h.test\npath=org/repo.git\nusername=bob\npassword=pw=with=equals-FAKE\n",
			want: CredentialRequest{Protocol: "https", Host: "h.test", Path: "org/repo.git", Username: "bob", Password: "pw=with=equals-FAKE"}},
		{name: "unknown keys ignored", in: "capability[]=authtype\nwwwauth[]=Basic realm=\"x\"\nprotocol=https\nhost=h.test\npassword_expiry_utc=1\n",
			want: CredentialRequest{Protocol: "https", Host: "h.test"}},
		{name: "url", in: "url=https://bob@h.test:444/a/b.git\n", want: CredentialRequest{Protocol: "https", Host: "h.test:444", Path: "a/b.git", Username: "bob"}},
		{name: "url then override", in: "url=https://h.test/\nhost=other.test\n", want: CredentialRequest{Protocol: "https", Host: "other.test"}},
		{name: "empty value", in: "protocol=https\nhost=\n", want: CredentialRequest{Protocol: "https"}},
		{name: "empty input", in: "", want: CredentialRequest{}},
		{name: "no equals", in: "protocol=https\nhost github.com-FAKE\n", err: "line 2: not a key=value line"},
		{name: "empty key", in: "=x-FAKE\n", err: "line 1: not a key=value line"},
		{name: "nul", in: "protocol=https\nhost=a\x00b\n", err: "NUL"},
		{name: "bad url", in: "url=::not-FAKE\n", err: "line 1: url is not a URL"},
		{name: "huge", in: "host=" + strings.Repeat("a", MaxCredentialInput) + "\n", err: "over 65536 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCredential(strings.NewReader(tt.in))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				if strings.Contains(err.Error(), "FAKE") {
					t.Fatalf("error quotes the input: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *got != tt.want {
				t.Fatalf("got %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestWriteCredential(t *testing.T) {
	var b bytes.Buffer
	if err := WriteCredential(&b, "x-access-token", "tok=FAKE with spaces"); err != nil {
		t.Fatal(err)
	}
	if b.String() != "username=x-access-token\npassword=tok=FAKE with spaces\n" {
		t.Fatalf("%q", b.String())
	}
	for _, bad := range []string{"a\nb", "a\rb", "a\x00b"} {
		b.Reset()
		if err := WriteCredential(&b, "u", bad); err == nil || b.Len() != 0 {
			t.Errorf("%q: err %v, wrote %q", bad, err, b.String())
		}
	}
	// A line break in the password would let it inject another attribute.
	b.Reset()
	if WriteCredential(&b, "u\nprotocol=http", "p") == nil {
		t.Error("username with a line break accepted")
	}
}

func TestOriginMatching(t *testing.T) {
	tests := []struct {
		host, want string
		match      bool
	}{
		{"github.com", "https://github.com", true},
		{"GitHub.com", "https://github.com", true},
		{"github.com", "http://github.com", false}, // no downgrade to plain http
		{"github.com:443", "https://github.com", true},
		{"https://github.com", "https://github.com", true},
		{"http://127.0.0.1:8787", "http://127.0.0.1:8787", true},
		{"http://127.0.0.1:8787", "http://127.0.0.1:8788", false},
		{"127.0.0.1:8787", "http://127.0.0.1:8787", false},
		{"github.com", "https://github.com.evil.test", false},
		{"github.com", "https://evilgithub.com", false},
		{"example.test", "https://example.test:8443", false},
		{"http://example.test:80", "http://example.test", true},
	}
	for _, tt := range tests {
		if got := hostsMatch([]string{tt.host}, tt.want); got != tt.match {
			t.Errorf("host %s vs %s: %v, want %v", tt.host, tt.want, got, tt.match)
		}
	}
	urls := []struct {
		url, want string
		match     bool
	}{
		{"https://papajohns.example/login?x=1", "https://papajohns.example", true},
		{"papajohns.example/login", "https://papajohns.example", true},
		{"http://papajohns.example", "https://papajohns.example", false},
		{"https://user@h.test:8443/", "https://h.test:8443", true},
		{"", "https://h.test", false},
		{"://", "https://h.test", false},
	}
	paths := []struct {
		url, path string
		match     bool
	}{
		{"https://h.test/org/repo.git", "org/repo.git", true},
		{"https://h.test/org/repo", "org/repo.git", true},
		{"https://h.test/org", "org/repo.git", true},
		{"https://h.test/org/", "org/repo.git", true},
		{"https://h.test/or", "org/repo.git", false},
		{"https://h.test/org/repo-b.git", "org/repo.git", false},
		{"https://h.test/", "org/repo.git", false},
		{"h.test/org", "org/x", true},
	}
	for _, tt := range paths {
		if got := pathMatches(tt.url, tt.path); got != tt.match {
			t.Errorf("path %s vs %s: %v, want %v", tt.url, tt.path, got, tt.match)
		}
	}
	for _, tt := range urls {
		if got := urlMatches(tt.url, tt.want); got != tt.match {
			t.Errorf("url %s vs %s: %v, want %v", tt.url, tt.want, got, tt.match)
		}
	}
}

// FuzzParseCredential: the parser never panics, never reads past the
// first blank line, and a parsed request never holds a line break or NUL
// (so an answer built from it cannot smuggle attributes).
func FuzzParseCredential(f *testing.F) {
	for _, s := range []string{
		"protocol=https\nhost=github.com\n\n",
		"url=https://u:p@h.test:1/x\n",
		"capability[]=authtype\nwwwauth[]=Basic realm=\"x\"\n",
		"host=a\r\n\r\nhost=b\n",
		"=\n", "a\n", "url=%zz\n", "\x00",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := ParseCredential(bytes.NewReader(data))
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		for _, v := range []string{req.Protocol, req.Host, req.Path, req.Username, req.Password} {
			if strings.ContainsAny(v, "\n\x00") {
				t.Fatalf("field holds a line break or NUL: %q", v)
			}
		}
		if i := bytes.Index(data, []byte("\n\n")); i >= 0 {
			again, err := ParseCredential(bytes.NewReader(data[:i+1]))
			if err != nil || *again != *req {
				t.Fatalf("input after the blank line changed the result: %+v vs %+v (%v)", again, req, err)
			}
		}
	})
}
