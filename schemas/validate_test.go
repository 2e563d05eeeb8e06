package schemas

import (
	"errors"
	"strings"
	"testing"
	"time"
)

type validateCase struct {
	name  string
	entry *Entry
	err   string // whole error text; "" for valid
	warn  string // substring of one warning; "" for none expected
}

func runValidate(t *testing.T, c *Catalog, tests []validateCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			warnings, err := c.Validate(tt.entry)
			if tt.err == "" && err != nil {
				t.Fatalf("error = %v, want none", err)
			}
			if tt.err != "" {
				var ve *ValidationError
				if !errors.As(err, &ve) {
					t.Fatalf("error = %v (%T), want *ValidationError %q", err, err, tt.err)
				}
				if !strings.HasPrefix(err.Error(), tt.err) {
					t.Fatalf("error = %q, want it to start with %q", err, tt.err)
				}
				if !strings.HasPrefix(ve.Path, "$") || err.Error() != ve.Path+": "+ve.Msg {
					t.Errorf("error %q is not path: msg", err)
				}
				if warnings != nil {
					t.Errorf("warnings %q returned with an error", warnings)
				}
				assertNoValues(t, tt.entry, err.Error())
			}
			found := tt.warn == ""
			for _, w := range warnings {
				assertNoValues(t, tt.entry, w)
				found = found || strings.Contains(w, tt.warn)
			}
			if !found {
				t.Errorf("warnings = %q, want one containing %q", warnings, tt.warn)
			}
			if tt.warn == "" && tt.err == "" && len(warnings) > 0 {
				t.Errorf("unexpected warnings %q", warnings)
			}
		})
	}
}

func TestValidateStructure(t *testing.T) {
	runValidate(t, Builtin(), []validateCase{
		{"nil entry", nil, "$: no entry", ""},
		{"empty type is secret", entry("", "value", "FAKE-secret-value"), "", ""},
		{"unknown type", entry("apikey", "value", "sk-test-FAKE000000"), `$.type: unknown type "apikey" (known: api_key, certificate`, ""},
		{"unknown field", entry("api_key", "value", "sk-test-FAKE000000", "extra", "FAKE-extra-value"), "$.extra: unknown field for type api_key (fields: value, service, env, hosts, auth, notes, username, description", ""},
		{"unknown list field", withList(entry("secret"), "labels", "FAKE-label"), "$.labels: unknown field for type secret", ""},
		{"odd field name quoted", entry("secret", "a b\n", "FAKE-odd-value"), `$."a b\n": unknown field`, ""},
		{"both scalar and list", withList(entry("secret", "tags", "FAKE-tag-one"), "tags", "FAKE-tag-two"), "$.tags: given both as a single value and as a list", ""},
		{"required missing", entry("api_key", "service", "openai"), "$.value: required for type api_key", ""},
		{"required empty", entry("api_key", "value", ""), "$.value: must not be empty", ""},
		{"required empty list is fine when optional", withList(entry("secret", "value", "FAKE-secret-value"), "tags"), "", ""},
		{"secret may be empty", entry("secret", "value", ""), "", ""},
		{"secret may have no value", entry("secret"), "", ""},
		{"list given as scalar", entry("api_key", "value", "sk-test-FAKE000000", "hosts", "api.example.com"), "$.hosts: must be a list", ""},
		{"scalar given as list", withList(entry("api_key"), "value", "sk-test-FAKE000000"), "$.value: must be a single value, not a list", ""},
		{"binary secret", entry("secret", "value", "FAKE\x00\xff\xfe-binary"), "", ""},
		{"optional empty field", entry("secret", "value", "FAKE-secret-value", "expires", ""), "", ""},
	})
}

func TestValidateKinds(t *testing.T) {
	const key = "sk-test-FAKE-kinds-0000"
	k := func(kv ...string) *Entry { return entry("api_key", append([]string{"value", key}, kv...)...) }
	runValidate(t, Builtin(), []validateCase{
		{"date ok", k("expires", "2027-03-01"), "", ""},
		{"date bad", k("expires", "2027-13-01"), "$.expires: want a date as YYYY-MM-DD", ""},
		{"date with time", k("expires", "2027-03-01T00:00:00Z"), "$.expires: want a date", ""},
		{"time ok", entry("oauth", "expires_at", "2026-03-01T12:00:00Z"), "", ""},
		{"time offset ok", entry("oauth", "expires_at", "2026-03-01T12:00:00+02:00"), "", ""},
		{"time bad", entry("oauth", "expires_at", "2026-03-01 12:00"), "$.expires_at: want an RFC 3339 time", ""},
		{"duration days", k("rotate_every", "90d"), "", ""},
		{"duration weeks", k("rotate_every", "12w"), "", ""},
		{"duration months", k("rotate_every", "6m"), "", ""},
		{"duration years", k("rotate_every", "1y"), "", ""},
		{"duration hours", k("rotate_every", "36h"), "", ""},
		{"duration never", k("rotate_every", "never"), "", ""},
		{"duration no unit", k("rotate_every", "90"), "$.rotate_every: want a number and a unit", ""},
		{"duration zero", k("rotate_every", "0d"), "$.rotate_every: the period must be longer than zero", ""},
		{"duration go syntax", k("rotate_every", "1h30m"), "$.rotate_every: want a number and a unit", ""},
		{"env ok", k("env", "MY_KEY_2"), "", ""},
		{"env digit", k("env", "2KEY"), "$.env: not a valid environment variable name", ""},
		{"env with =", k("env", "A=B"), "$.env: not a valid environment variable name", ""},
		{"bool true", k("canary", "true"), "", ""},
		{"bool false", k("canary", "false"), "", ""},
		{"bool yes", k("canary", "yes"), "$.canary: want true or false", ""},
		{"string newline", k("description", "first line\nsecond"), "$.description: must be one line", ""},
		{"string bad utf8", k("description", "FAKE\xff\xfe"), "$.description: not valid UTF-8", ""},
		{"text bad utf8", entry("memory", "text", "FAKE\xffmemory"), "$.text: not valid UTF-8 text", ""},
		{"text NUL", entry("memory", "text", "FAKE\x00memory"), "$.text: text must not contain NUL bytes", ""},
		{"text multi-line", entry("memory", "text", "line one\nline two\r\n"), "", ""},
		{"url ok", entry("database_url", "value", "postgres://app:FAKEpw@db.internal:5432/app"), "", ""},
		{"url @ in password", entry("database_url", "value", "postgres://app:x7$FAKE@jk@db.internal:5432/app"), "", ""},
		{"url no scheme", entry("database_url", "value", "db.internal:5432/app-FAKE"), "$.value: not a URL with a scheme and a host", ""},
		{"url no host", entry("database_url", "value", "sqlite:///var/FAKE.db"), "$.value: not a URL with a scheme and a host", ""},
		{"url # in password", entry("database_url", "value", "postgres://app:FAKE#pw@db.internal/app"), "$.value: not a URL with a scheme and a host (percent-encode", ""},
		{"https url ok", entry("oauth", "token_url", "https://oauth2.example.com/token"), "", ""},
		{"https url http", entry("oauth", "token_url", "http://oauth2.example.com/token"), "$.token_url: must be an https URL", ""},
		{"https url relative", entry("oauth", "token_url", "/token/FAKE"), "$.token_url: not a URL with a scheme and a host", ""},
		{"auth bearer", k("auth", "bearer"), "", ""},
		{"auth header", k("auth", "header X-Api-Key"), "", ""},
		{"auth header prefix", k("auth", "header Authorization Token"), "", ""},
		{"auth query", k("auth", "query key"), "", ""},
		{"auth bad", k("auth", "cookie session"), `$.auth: want "bearer"`, ""},
		{"auth bad header", k("auth", "header X:Y"), "$.auth: not a valid HTTP header name", ""},
		{"tags", withList(k(), "tags", "prod", "team-a"), "", ""},
		{"tag empty", withList(k(), "tags", "prod", ""), "$.tags[1]: empty list item", ""},
		{"tag newline", withList(k(), "tags", "prod", "FAKE\ntag"), "$.tags[1]: must be one line", ""},
		{"pattern", entry("file", "content", "FAKE", "filename", "dir/name.txt"), `$.filename: does not match the pattern ^[^/\\]+$`, ""},
		{"pattern ok", entry("file", "content", "FAKE", "filename", "name.txt"), "", ""},
	})
}

func TestValidateHosts(t *testing.T) {
	h := func(hosts ...string) *Entry {
		return withList(entry("api_key", "value", "sk-test-FAKE-hosts-000"), "hosts", hosts...)
	}
	runValidate(t, Builtin(), []validateCase{
		{"host names", h("api.openai.com", "localhost", "my_host.internal"), "", ""},
		{"host port", h("api.example.com:8443"), "", ""},
		{"ipv4", h("10.0.0.1", "127.0.0.1:8787"), "", ""},
		{"ipv6", h("::1", "[::1]:8080", "[2001:db8::1]"), "", ""},
		{"origins", h("http://127.0.0.1:8787", "https://api.example.com", "http://[::1]:9000", "https://localhost"), "", ""},
		{"path", h("api.example.com", "https://api.example.com/v1"), "$.hosts[1]: has a path or query", ""},
		{"trailing slash", h("https://api.example.com/"), "$.hosts[0]: has a path or query", ""},
		{"query", h("api.example.com?x=1"), "$.hosts[0]: has a path or query", ""},
		{"userinfo", h("https://user:FAKEpw@api.example.com"), "$.hosts[0]: has user info", ""},
		{"whitespace", h("api.example.com "), "$.hosts[0]: only ASCII without spaces", ""},
		{"empty", h(""), "$.hosts[0]: empty host", ""},
		{"ftp origin", h("ftp://files.example.com"), "$.hosts[0]: an origin's scheme must be http or https", ""},
		{"port zero", h("api.example.com:0"), "$.hosts[0]: the port must be a number from 1 to 65535", ""},
		{"port too big", h("api.example.com:70000"), "$.hosts[0]: the port must be a number", ""},
		{"port empty", h("api.example.com:"), "$.hosts[0]: the port must be a number", ""},
		{"ipv6 unbracketed port", h("2001:db8::1:8080:x"), "$.hosts[0]: an IPv6 address with a port", ""},
		{"ipv6 origin unbracketed", h("http://::1"), "$.hosts[0]: an IPv6 address with a port or in an origin needs brackets", ""},
		{"ipv6 zone", h("[fe80::1%eth0]:80"), "$.hosts[0]: not an IPv6 address inside [ ]", ""},
		{"bracketed ipv4", h("[10.0.0.1]"), "$.hosts[0]: not an IPv6 address inside [ ]", ""},
		{"bad label", h("-bad.example.com"), "$.hosts[0]: not a host name", ""},
		{"numeric tld", h("999.1.1.1"), "$.hosts[0]: not a host name", ""},
		{"wildcard", h("*.example.com"), "$.hosts[0]: not a host name", ""},
		{"unicode", h("bücher.example"), "$.hosts[0]: only ASCII", ""},
		{"hosts on secret", withList(entry("secret", "value", "FAKE-hosted"), "hosts", "api.example.com"), "", ""},
	})
}

func TestValidateSizes(t *testing.T) {
	runValidate(t, Builtin(), []validateCase{
		{"1 MiB secret", entry("secret", "value", strings.Repeat("F", 1<<20)), "", ""},
		{"5 MiB file", entry("file", "content", strings.Repeat("F", 5<<20)), "", ""},
		{"file at limit", entry("file", "content", strings.Repeat("\x00", 8<<20)), "", ""},
		{"file over limit", entry("file", "content", strings.Repeat("\x00", 8<<20+1)), "$.content: 8388609 bytes, over the limit of 8388608 bytes for type file", ""},
		{"secret over default", entry("secret", "value", strings.Repeat("F", DefaultMaxSize+1)), "$.value: 1048577 bytes, over the limit of 1048576 bytes for type secret", ""},
		{"tags over limit", withList(entry("secret"), "tags", strings.Repeat("t", DefaultMaxSize/2), strings.Repeat("t", DefaultMaxSize/2+1)), "$.tags: over the limit of 1048576 bytes", ""},
	})
	c, err := Builtin().WithTypes(map[string][]byte{"t.yaml": []byte("name: small\nprimary: v\nmax_size: 4\nfields:\n  - {name: v, kind: bytes, secret: true, doc: x}\n  - {name: w, kind: bytes, doc: x}\n")})
	if err != nil {
		t.Fatal(err)
	}
	runValidate(t, c, []validateCase{
		{"primary under own limit", entry("small", "v", "FAKE"), "", ""},
		{"primary over own limit", entry("small", "v", "FAKE!"), "$.v: 5 bytes, over the limit of 4 bytes for type small", ""},
		{"other field has the default limit", entry("small", "w", "FAKE-longer"), "", ""},
	})
}

func TestValidateServiceKey(t *testing.T) {
	runValidate(t, Builtin(), []validateCase{
		{"matching key", entry("api_key", "service", "github", "value", "ghp_FAKE000000000000"), "", ""},
		{"service any case", entry("api_key", "service", "GitHub", "value", "ghp_FAKE000000000000"), "", ""},
		{"mismatch warns", entry("api_key", "service", "openai", "value", "FAKE-not-an-openai-key"), "", "$.value: does not look like a key for service openai (its keys usually match ^sk-)"},
		{"mismatch on secret type", entry("secret", "service", "anthropic", "value", "FAKE-not-anthropic"), "", "$.value: does not look like a key for service anthropic"},
		{"unknown service is fine", entry("api_key", "service", "internal", "value", "FAKE-internal-key"), "", ""},
	})
}

func TestValidateOAuth(t *testing.T) {
	runValidate(t, Builtin(), []validateCase{
		{"full", withList(entry("oauth", "client_id", "FAKE-client", "client_secret", "FAKE-client-secret",
			"refresh_token", "FAKE-refresh", "access_token", "FAKE-access", "token_url", "https://oauth2.example.com/token",
			"expires_at", "2026-03-01T12:00:00Z"), "scopes", "read", "write"), "", ""},
		{"refresh without token_url", entry("oauth", "refresh_token", "FAKE-refresh-token"), "", "$.token_url: not set"},
	})
}

func TestValidateSSHKey(t *testing.T) {
	priv, pub := testSSHKey(t, "")
	locked, lockedPub := testSSHKey(t, "FAKE-passphrase")
	_, otherPub := testSSHKey(t, "")
	runValidate(t, Builtin(), []validateCase{
		{"openssh key", entry("ssh_key", "private_key", priv), "", ""},
		{"with its public key", entry("ssh_key", "private_key", priv, "public_key", pub), "", ""},
		{"with a comment", entry("ssh_key", "private_key", priv, "public_key", pub+" me@laptop"), "", ""},
		{"passphrase protected", entry("ssh_key", "private_key", locked), "", ""},
		{"passphrase protected with public key", entry("ssh_key", "private_key", locked, "public_key", lockedPub), "", ""},
		{"passphrase protected, wrong public key", entry("ssh_key", "private_key", locked, "public_key", otherPub), "$.public_key: does not match private_key", ""},
		{"wrong public key", entry("ssh_key", "private_key", priv, "public_key", otherPub), "$.public_key: does not match private_key", ""},
		{"bad public key", entry("ssh_key", "private_key", priv, "public_key", "ssh-ed25519 FAKEFAKE"), "$.public_key: not an authorized_keys line", ""},
		{"not PEM", entry("ssh_key", "private_key", "FAKE-not-a-key-at-all"), "$.private_key: not an OpenSSH or PEM private key (no -----BEGIN line)", ""},
		{"bad PEM", entry("ssh_key", "private_key", "-----BEGIN OPENSSH PRIVATE KEY-----\nFAKEFAKEFAKE\n-----END OPENSSH PRIVATE KEY-----\n"), "$.private_key: not a valid OpenSSH or PEM private key", ""},
		{"truncated", entry("ssh_key", "private_key", priv[:len(priv)/2]), "$.private_key: not a valid OpenSSH or PEM private key", ""},
		{"missing", entry("ssh_key"), "$.private_key: required for type ssh_key", ""},
	})
}

func TestValidateCertificate(t *testing.T) {
	notAfter := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	cert, key := testCertificate(t, notAfter)
	cert2, key2 := testCertificate(t, notAfter)
	sshKey, _ := testSSHKey(t, "")
	runValidate(t, Builtin(), []validateCase{
		{"certificate", entry("certificate", "certificate", cert), "", ""},
		{"chain", entry("certificate", "certificate", cert+cert2), "", ""},
		{"with its key", entry("certificate", "certificate", cert, "private_key", key), "", ""},
		{"with another key", entry("certificate", "certificate", cert, "private_key", key2), "$.private_key: does not match the certificate's public key", ""},
		{"with an ssh key", entry("certificate", "certificate", cert, "private_key", sshKey), "$.private_key: does not match", ""},
		{"bad key", entry("certificate", "certificate", cert, "private_key", "-----BEGIN PRIVATE KEY-----\nMIIEvFAKE\n-----END PRIVATE KEY-----\n"), "$.private_key: not a valid OpenSSH or PEM private key", ""},
		{"not PEM", entry("certificate", "certificate", "FAKE certificate text"), "$.certificate: no PEM certificate", ""},
		{"fake PEM", entry("certificate", "certificate", "-----BEGIN CERTIFICATE-----\nMIIBFAKEFAKEFAKE\n-----END CERTIFICATE-----"), "$.certificate: PEM block 1 is not a valid X.509 certificate", ""},
		{"key in certificate field", entry("certificate", "certificate", key), "$.certificate: PEM block 1 is not a CERTIFICATE", ""},
	})
	got, ok := CertificateNotAfter(entry("certificate", "certificate", cert+cert2))
	if !ok || !got.Equal(notAfter) {
		t.Errorf("CertificateNotAfter = %v, %v; want %v", got, ok, notAfter)
	}
	if _, ok := CertificateNotAfter(entry("certificate", "certificate", "FAKE")); ok {
		t.Error("CertificateNotAfter of garbage is ok")
	}
	if _, ok := CertificateNotAfter(nil); ok {
		t.Error("CertificateNotAfter(nil) is ok")
	}
}

func TestValidatePrompt(t *testing.T) {
	p := func(text string, args ...string) *Entry {
		e := entry("prompt", "text", text)
		if args != nil {
			e.SetList("arguments", args)
		}
		return e
	}
	runValidate(t, Builtin(), []validateCase{
		{"no placeholders", p("Summarise the thread."), "", ""},
		{"matching", p("Review {{file}} for {{ concern }}; again {{file}}.", "file", "concern"), "", ""},
		{"undeclared", p("Review {{file}} for {{concern}}.", "file"), "$.text: placeholder {{concern}} is not declared in arguments", ""},
		{"unused", p("Review {{file}}.", "file", "style"), "", "$.arguments[1]: argument style is not used in text"},
		{"not placeholders", p("Use {{ tresor://global/x }} and {{}} and {{1x}} and { {a} }."), "", ""},
		{"bad argument", p("x", "two words"), "$.arguments[0]: an argument name is letters", ""},
		{"duplicate argument", p("{{a}}", "a", "a"), "$.arguments[1]: argument a is declared twice", ""},
		{"missing text", entry("prompt"), "$.text: required for type prompt", ""},
	})
}

func TestValidateNeverLeaksSecrets(t *testing.T) {
	// Every secret below holds a marker; no error or warning may show it.
	const marker = "FAKEMARKER"
	c := Builtin()
	for _, e := range []*Entry{
		entry("database_url", "value", "postgres://app:"+marker+"#x@db/app"),
		entry("database_url", "value", "db.internal/"+marker),
		entry("database_url", "value", "postgres://app:pw@db.internal:"+marker+"/app"),
		entry("api_key", "service", "openai", "value", marker),
		entry("api_key", "value", marker, "env", marker+"="),
		entry("oauth", "token_url", "http://"+marker+".example/token"),
		entry("oauth", "access_token", marker+"\n"),
		entry("ssh_key", "private_key", "-----BEGIN OPENSSH PRIVATE KEY-----\n"+marker+"\n-----END OPENSSH PRIVATE KEY-----\n"),
		entry("ssh_key", "private_key", marker),
		entry("certificate", "certificate", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", "private_key", "-----BEGIN RSA PRIVATE KEY-----\n"+marker+"\n-----END RSA PRIVATE KEY-----\n"),
		entry("password", "password", marker, "username", "u\n"),
		entry("file", "content", marker, "filename", "a/"+marker),
		entry("secret", "value", marker, "expires", marker),
		entry("secret", "value", marker, "rotate_every", marker),
		entry("secret", "value", marker, "canary", marker),
		entry("secret", "value", marker, "description", marker+"\n"),
		withList(entry("secret", "value", marker), "hosts", "https://u:"+marker+"@x"),
		withList(entry("secret", "value", marker), "tags", marker+"\n"),
	} {
		warnings, err := c.Validate(e)
		msgs := warnings
		if err != nil {
			msgs = append(msgs, err.Error())
		}
		for _, m := range msgs {
			if strings.Contains(m, marker) {
				t.Errorf("%s entry: message %q shows a value", e.Type, m)
			}
		}
	}
}
