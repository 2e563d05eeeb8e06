package schemas

import (
	"slices"
	"testing"
)

func TestNormalize(t *testing.T) {
	c := Builtin()
	tests := []struct {
		name        string
		e           *Entry
		last        string
		wantType    string
		wantService string
	}{
		{"empty type", entry(""), "x", "secret", ""},
		{"service from name", entry("api_key", "value", "sk-test-FAKE0"), "openai", "api_key", "openai"},
		{"service from name ignoring case", entry("api_key"), "OpenAI", "api_key", "openai"},
		{"service from alias", entry("api_key"), "gemini", "api_key", "google"},
		{"service from env name", entry("api_key"), "GH_TOKEN", "api_key", "github"},
		{"service kept", entry("api_key", "service", "internal"), "openai", "api_key", "internal"},
		{"no such service", entry("api_key"), "mercury", "api_key", ""},
		{"only api_key", entry("secret"), "openai", "secret", ""},
	}
	for _, tt := range tests {
		c.Normalize(tt.e, tt.last)
		if tt.e.Type != tt.wantType || tt.e.Get("service") != tt.wantService {
			t.Errorf("%s: type %q service %q, want %q %q", tt.name, tt.e.Type, tt.e.Get("service"), tt.wantType, tt.wantService)
		}
	}
	c.Normalize(nil, "x") // must not panic
}

func TestNormalizeSSHPublicKey(t *testing.T) {
	c := Builtin()
	priv, pub := testSSHKey(t, "")
	e := entry("ssh_key", "private_key", priv)
	c.Normalize(e, "deploy")
	if got := e.Get("public_key"); got != pub {
		t.Fatalf("public_key = %q, want %q", got, pub)
	}
	if _, err := c.Validate(e); err != nil {
		t.Fatal(err)
	}

	// Rotating the private key recomputes the derived public key.
	priv2, pub2 := testSSHKey(t, "")
	e.Set("private_key", priv2)
	c.Normalize(e, "deploy")
	if got := e.Get("public_key"); got != pub2 {
		t.Errorf("after rotation public_key = %q, want %q", got, pub2)
	}

	locked, _ := testSSHKey(t, "FAKE-passphrase")
	e = entry("ssh_key", "private_key", locked)
	c.Normalize(e, "deploy")
	if e.Has("public_key") {
		t.Error("public_key derived from a passphrase-protected key")
	}
	e = entry("ssh_key", "private_key", "FAKE-garbage")
	c.Normalize(e, "deploy")
	if e.Has("public_key") {
		t.Error("public_key derived from garbage")
	}
}

func TestEnvName(t *testing.T) {
	c, err := Builtin().WithTypes(map[string][]byte{"t.yaml": []byte("name: kube\nprimary: v\nenv: KUBECONFIG_DATA\nfields:\n  - {name: v, kind: text, secret: true, doc: x}\n")})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		e    *Entry
		last string
		want string
	}{
		{"env field", entry("api_key", "env", "MY_KEY", "service", "openai"), "openai", "MY_KEY"},
		{"empty env field turns it off", entry("secret", "env", ""), "TOKEN", ""},
		{"invalid env field", entry("secret", "env", "A=B"), "TOKEN", ""},
		{"service default", entry("api_key", "service", "openai"), "work", "OPENAI_API_KEY"},
		{"service from last segment", entry("api_key"), "anthropic", "ANTHROPIC_API_KEY"},
		{"service field any type", entry("secret", "service", "github"), "x", "GITHUB_TOKEN"},
		{"type default", entry("kube"), "prod", "KUBECONFIG_DATA"},
		{"last segment", entry("secret"), "GITHUB_TOKEN", "GITHUB_TOKEN"},
		{"empty type", entry(""), "SOME_VAR", "SOME_VAR"},
		{"last segment not a name", entry("secret"), "Papa Johns", ""},
		{"unknown service", entry("api_key", "service", "internal"), "INTERNAL_KEY", "INTERNAL_KEY"},
		{"memory not exported", entry("memory"), "NODE_OPTIONS", ""},
		{"prompt not exported", entry("prompt"), "review", ""},
		{"snippet with env field", entry("snippet", "env", "SNIPPET"), "x", "SNIPPET"},
		{"unknown type", entry("nope"), "VAR", "VAR"},
	}
	for _, tt := range tests {
		if got := c.EnvName(tt.e, tt.last); got != tt.want {
			t.Errorf("%s: EnvName = %q, want %q", tt.name, got, tt.want)
		}
	}
	if got := c.EnvName(nil, "X"); got != "" {
		t.Errorf("EnvName(nil) = %q", got)
	}
}

func TestHostsAndAuth(t *testing.T) {
	c := Builtin()
	e := entry("api_key", "value", "sk-test-FAKE0")
	if got := c.Hosts(e, "openai"); !slices.Equal(got, []string{"api.openai.com"}) {
		t.Errorf("Hosts from service = %v", got)
	}
	got := c.Hosts(e, "openai")
	got[0] = "evil.example"
	if s, _ := c.Service("openai"); s.Hosts[0] != "api.openai.com" {
		t.Fatal("Hosts returned the catalogue's own slice")
	}
	withList(e, "hosts", "http://127.0.0.1:8787")
	if got := c.Hosts(e, "openai"); !slices.Equal(got, []string{"http://127.0.0.1:8787"}) {
		t.Errorf("Hosts from entry = %v", got)
	}
	if got := c.Hosts(entry("secret"), "x"); got != nil {
		t.Errorf("Hosts of a bare secret = %v", got)
	}

	tests := []struct {
		name string
		e    *Entry
		last string
		want Auth
		err  string
	}{
		{"service", entry("api_key", "service", "anthropic"), "x", Auth{Header: "x-api-key"}, ""},
		{"service from name", entry("api_key"), "gemini", Auth{Query: "key"}, ""},
		{"field wins", entry("api_key", "service", "anthropic", "auth", "query k"), "x", Auth{Query: "k"}, ""},
		{"default bearer", entry("secret"), "x", Auth{Header: "Authorization", Prefix: "Bearer "}, ""},
		{"bad field", entry("api_key", "auth", "FAKE nonsense here x"), "x", Auth{}, "$.auth: want"},
		{"service without auth", entry("api_key", "service", "aws"), "x", Auth{}, "service aws does not take its key"},
	}
	for _, tt := range tests {
		got, err := c.Auth(tt.e, tt.last)
		if tt.err == "" && (err != nil || got != tt.want) {
			t.Errorf("%s: Auth = %+v, %v; want %+v", tt.name, got, err, tt.want)
		}
		if tt.err != "" && (err == nil || len(err.Error()) < len(tt.err) || err.Error()[:len(tt.err)] != tt.err) {
			t.Errorf("%s: Auth error = %v, want %q", tt.name, err, tt.err)
		}
	}
}

func TestRotateEvery(t *testing.T) {
	c := Builtin()
	tests := []struct {
		e    *Entry
		want string
	}{
		{entry("api_key"), "90d"},
		{entry("api_key", "rotate_every", "30d"), "30d"},
		{entry("oauth"), Never},
		{entry("secret"), ""},
		{entry(""), ""},
		{entry("prompt"), Never},
		{entry("ssh_key", "rotate_every", Never), Never},
		{entry("nope"), ""},
		{nil, ""},
	}
	for _, tt := range tests {
		if got := c.RotateEvery(tt.e); got != tt.want {
			t.Errorf("RotateEvery(%v) = %q, want %q", tt.e, got, tt.want)
		}
	}
}
