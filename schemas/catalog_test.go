package schemas

import (
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

var builtinTypes = []string{"api_key", "certificate", "database_url", "file", "memory",
	"oauth", "password", "prompt", "secret", "snippet", "ssh_key"}

func TestBuiltinTypesLoad(t *testing.T) {
	c := Builtin()
	var names []string
	for _, typ := range c.Types() {
		names = append(names, typ.Name)
	}
	if !slices.Equal(names, builtinTypes) {
		t.Fatalf("Types() = %v, want %v", names, builtinTypes)
	}
	files, err := fs.Glob(builtinData, "types/*.yaml")
	if err != nil || len(files) != len(builtinTypes) {
		t.Fatalf("embedded type files %v (%v), want one per built-in type", files, err)
	}
	common := []string{"description", "tags", "env", "rotate_every", "expires", "canary"}
	for _, typ := range c.Types() {
		t.Run(typ.Name, func(t *testing.T) {
			if typ.Description == "" {
				t.Error("no description")
			}
			p, ok := typ.Field(typ.Primary)
			if !ok || p.IsList() {
				t.Errorf("primary %q is not a scalar field", typ.Primary)
			}
			for _, n := range common {
				if _, ok := typ.Field(n); !ok {
					t.Errorf("common field %s missing", n)
				}
			}
			names := typ.FieldNames()
			slices.Sort(names)
			if len(slices.Compact(names)) != len(typ.Fields) {
				t.Errorf("a field is declared twice: %v", typ.FieldNames())
			}
			for _, f := range typ.Fields {
				if f.Doc == "" {
					t.Errorf("field %s has no doc", f.Name)
				}
			}
			if typ.RotateEvery != "" {
				if err := checkDuration(typ.RotateEvery); err != nil {
					t.Errorf("rotate_every: %v", err)
				}
			}
		})
	}
}

func TestBuiltinTypeDetails(t *testing.T) {
	c := Builtin()
	tests := []struct {
		typ, primary, rotate string
		secret               []string
		maxSize              int
	}{
		{"api_key", "value", "90d", []string{"value", "notes"}, 0},
		{"oauth", "access_token", "never", []string{"client_secret", "refresh_token", "access_token"}, 0},
		{"database_url", "value", "90d", []string{"value"}, 0},
		{"password", "password", "180d", []string{"password", "notes"}, 0},
		{"ssh_key", "private_key", "365d", []string{"private_key"}, 0},
		{"certificate", "certificate", "never", []string{"private_key"}, 0},
		{"file", "content", "", []string{"content"}, 8 << 20},
		{"secret", "value", "", []string{"value", "notes"}, 0},
		{"prompt", "text", "never", nil, 0},
		{"memory", "text", "never", nil, 0},
		{"snippet", "text", "never", nil, 0},
	}
	for _, tt := range tests {
		typ, err := c.Type(tt.typ)
		if err != nil {
			t.Fatal(err)
		}
		if typ.Primary != tt.primary || typ.RotateEvery != tt.rotate || typ.MaxSize != tt.maxSize {
			t.Errorf("%s: primary %q rotate %q max %d, want %q %q %d", tt.typ,
				typ.Primary, typ.RotateEvery, typ.MaxSize, tt.primary, tt.rotate, tt.maxSize)
		}
		if got := typ.SecretFields(); !slices.Equal(got, tt.secret) {
			t.Errorf("%s: SecretFields() = %v, want %v", tt.typ, got, tt.secret)
		}
	}
	ssh, _ := c.Type("ssh_key")
	if f, _ := ssh.Field("public_key"); !f.Derived || f.Secret {
		t.Errorf("ssh_key public_key: %+v, want derived and not secret", f)
	}
	for _, name := range []string{"prompt", "memory", "snippet"} {
		if typ, _ := c.Type(name); !typ.NoEnv {
			t.Errorf("%s: NoEnv is false", name)
		}
	}
}

func TestTypeUnknown(t *testing.T) {
	_, err := Builtin().Type("apikey")
	if err == nil || !strings.Contains(err.Error(), `unknown type "apikey"`) || !strings.Contains(err.Error(), "api_key, certificate") {
		t.Fatalf("Type(apikey) error = %v, want unknown type listing the known ones", err)
	}
}

// sampleKeys holds one fake key per catalogue service.
var sampleKeys = map[string]string{
	"openai":      "sk-test-FAKE0000000000000000000000",
	"anthropic":   "sk-ant-api03-FAKE000000000000000000",
	"github":      "ghp_FAKE000000000000000000000000000000",
	"gitlab":      "glpat-FAKE0000000000000000",
	"slack":       "xoxb-FAKE-000000000000",
	"stripe":      "sk_test_FAKE51HxQ0000000000",
	"huggingface": "hf_FAKE0000000000000000000000000000",
	"aws":         "AKIAFAKE000000000000",
	"google":      "AIzaFAKE00000000000000000000000000000",
	"mistral":     "FAKEmistral000000000000000000000",
	"groq":        "gsk_FAKE000000000000000000000000000",
	"cohere":      "FAKEcohere000000000000000000000000000000",
	"replicate":   "r8_FAKE00000000000000000000000000000",
	"perplexity":  "pplx-FAKE00000000000000000000000000",
	"deepseek":    "sk-FAKE0000000000000000000000000000",
	"openrouter":  "sk-or-v1-FAKE0000000000000000000000",
	"together":    "FAKEtogether000000000000000000000000",
	"fireworks":   "fw_FAKE00000000000000000000",
	"xai":         "xai-FAKE000000000000000000000000",
	"sendgrid":    "SG.FAKE0000000000.FAKE000000000000",
	"twilio":      "0123456789abcdef0123456789abcdef",
	"linear":      "lin_api_FAKE00000000000000000000",
	"notion":      "ntn_FAKE000000000000000000000000",
	"cloudflare":  "FAKEcloudflare00000000000000000000000000",
	"vercel":      "FAKEvercel00000000000000",
	"supabase":    "sb_secret_FAKE0000000000000000",
	"npm":         "npm_FAKE000000000000000000000000000000",
	"tavily":      "tvly-FAKE000000000000000000000000",
	"brave":       "FAKEbrave000000000000000000000",
	"elevenlabs":  "sk_FAKE0000000000000000000000000000",
}

func TestServices(t *testing.T) {
	c := Builtin()
	services := c.Services()
	if len(services) < 20 {
		t.Fatalf("%d services, want at least 20", len(services))
	}
	if !slices.IsSortedFunc(services, func(a, b *Service) int { return strings.Compare(a.Name, b.Name) }) {
		t.Error("Services() is not sorted")
	}
	for _, s := range services {
		t.Run(s.Name, func(t *testing.T) {
			re, err := regexp.Compile(s.Pattern)
			if err != nil {
				t.Fatalf("pattern: %v", err)
			}
			key, ok := sampleKeys[s.Name]
			if !ok {
				t.Fatal("no sample key in the test")
			}
			if !strings.Contains(key, "FAKE") && s.Name != "twilio" {
				t.Errorf("sample key is not marked FAKE")
			}
			if !re.MatchString(key) {
				t.Errorf("pattern %s does not match the sample key", s.Pattern)
			}
			if !ValidEnvName(s.Env) || s.Doc == "" {
				t.Errorf("env %q doc %q", s.Env, s.Doc)
			}
			for _, h := range s.Hosts {
				if err := checkHost(h); err != nil {
					t.Errorf("host %s: %v", h, err)
				}
			}
			if got, ok := c.Service(strings.ToUpper(s.Name)); !ok || got != s {
				t.Errorf("Service(%s) not found ignoring case", strings.ToUpper(s.Name))
			}
		})
	}
	if s, ok := c.Service("gemini"); !ok || s.Name != "google" || s.Auth.Query != "key" {
		t.Errorf("Service(gemini) = %+v, %v; want google with query auth", s, ok)
	}
	if _, ok := c.Service("nope"); ok {
		t.Error("Service(nope) found")
	}
}

const vaultType = `name: api_token
description: a token for our internal API
primary: token
rotate_every: 30d
fields:
  - name: token
    kind: string
    secret: true
    required: true
    pattern: '^int_'
    doc: the token
`

func TestWithTypes(t *testing.T) {
	base := Builtin()
	c, err := base.WithTypes(map[string][]byte{".tresor/types/api_token.yaml": []byte(vaultType)})
	if err != nil {
		t.Fatal(err)
	}
	typ, err := c.Type("api_token")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := typ.Field("tags"); !ok {
		t.Error("common fields not appended to a vault type")
	}
	if _, err := base.Type("api_token"); err == nil {
		t.Error("WithTypes changed the receiver")
	}
	if _, err := c.Validate(entry("api_token", "token", "int_FAKE")); err != nil {
		t.Errorf("valid vault entry: %v", err)
	}
	if _, err := c.Validate(entry("api_token", "token", "FAKE-wrong")); err == nil || err.Error() != "$.token: does not match the pattern ^int_" {
		t.Errorf("pattern mismatch: %v", err)
	}
}

func TestWithTypesErrors(t *testing.T) {
	const file = ".tresor/types/x.yaml"
	tests := []struct {
		name, src, want string
	}{
		{"syntax", "name: [x\n", file + ": line "},
		{"empty", "", file + ": $: empty document"},
		{"two documents", "name: a\n---\nname: b\n", "more than one YAML document"},
		{"unknown key", "name: x\nprimary: v\nfields:\n  - name: v\n    kind: string\n    secrett: true\n", file + `: $.fields[0].secrett: unknown field "secrett"`},
		{"wrong type", "name: x\nprimary: v\nfields:\n  - name: v\n    kind: string\n    secret: maybe\n", file + ": $.fields[0].secret: wrong type: want true or false"},
		{"fields not a list", "name: x\nprimary: v\nfields: {name: v}\n", file + ": $.fields: "},
		{"bad kind", "name: x\nprimary: v\nfields:\n  - name: v\n    kind: blob\n", file + `: $.fields[0].kind: unknown kind "blob"`},
		{"bad name", "name: X-Type\nprimary: v\nfields:\n  - name: v\n    kind: string\n", file + ": $.name: want a type name"},
		{"bad field name", "name: x\nprimary: v\nfields:\n  - name: V\n    kind: string\n", file + ": $.fields[0].name: want a field name"},
		{"reserved field", "name: x\nprimary: type\nfields:\n  - name: type\n    kind: string\n", file + ": $.fields[0].name: type is reserved"},
		{"duplicate field", "name: x\nprimary: v\nfields:\n  - name: v\n    kind: string\n  - name: v\n    kind: text\n", file + ": $.fields[1].name: field v is declared twice"},
		{"bad pattern", "name: x\nprimary: v\nfields:\n  - name: v\n    kind: string\n    pattern: '(['\n", file + ": $.fields[0].pattern: not a valid Go regexp"},
		{"required derived", "name: x\nprimary: v\nfields:\n  - name: v\n    kind: string\n    required: true\n    derived: true\n", file + ": $.fields[0].derived: a derived field cannot be required"},
		{"no primary", "name: x\nprimary: w\nfields:\n  - name: v\n    kind: string\n", file + ": $.primary: names no field of the type"},
		{"list primary", "name: x\nprimary: v\nfields:\n  - name: v\n    kind: list\n", file + ": $.primary: the primary field cannot be a list"},
		{"no fields", "name: x\nprimary: tags\n", file + ": $.fields: a type needs at least one field"},
		{"bad env", "name: x\nenv: 1X\nprimary: v\nfields:\n  - name: v\n    kind: string\n", file + ": $.env: not a valid environment variable name"},
		{"bad rotation", "name: x\nrotate_every: soon\nprimary: v\nfields:\n  - name: v\n    kind: string\n", file + ": $.rotate_every: want a number and a unit"},
		{"negative size", "name: x\nmax_size: -1\nprimary: v\nfields:\n  - name: v\n    kind: string\n", file + ": $.max_size: must not be negative"},
		{"unknown check", "name: x\ncheck: magic\nprimary: v\nfields:\n  - name: v\n    kind: string\n", file + `: $.check: unknown check "magic"`},
		{"check needs field", "name: x\ncheck: ssh_key\nprimary: v\nfields:\n  - name: v\n    kind: string\n", file + ": $.check: check ssh_key needs a field named private_key"},
		{"redefine builtin", "name: api_key\nprimary: v\nfields:\n  - name: v\n    kind: string\n", file + ": $.name: type api_key is built in and cannot be redefined"},
		{"anchor", "name: x\nprimary: v\nfields:\n  - &f {name: v, kind: string}\n  - *f\n", file + ": $.fields[0]: anchors and aliases are not allowed"},
		{"too big", "name: x\n#" + strings.Repeat("x", maxTypeFile) + "\n", file + ": $: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Builtin().WithTypes(map[string][]byte{file: []byte(tt.src)})
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) && !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
	_, err := Builtin().WithTypes(map[string][]byte{"a.yaml": []byte(vaultType), "b.yaml": []byte(vaultType)})
	if err == nil || err.Error() != "b.yaml: $.name: type api_token is defined twice" {
		t.Errorf("duplicate vault types: %v", err)
	}
}

// brokenData returns the embedded files with one replaced.
func brokenData(t *testing.T, name, content string) fstest.MapFS {
	t.Helper()
	m := fstest.MapFS{}
	err := fs.WalkDir(builtinData, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(builtinData, p)
		m[p] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if content == "" {
		delete(m, name)
	} else {
		m[name] = &fstest.MapFile{Data: []byte(content)}
	}
	return m
}

func TestLoadBroken(t *testing.T) {
	tests := []struct{ file, content, want string }{
		{"types/api_key.yaml", "name: api_key\nprimary: nope\nfields:\n  - name: value\n    kind: bytes\n", "types/api_key.yaml: $.primary: names no field"},
		{"types/api_key.yaml", "name: apikey\nprimary: value\nfields:\n  - name: value\n    kind: bytes\n", "types/api_key.yaml: $.name: type apikey in a file named for api_key"},
		{"types/secret.yaml", "", "the default type secret is missing"},
		{"services.yaml", "services:\n  - name: a\n    env: A_KEY\n    pattern: '(['\n", "services.yaml: $.services[0].pattern:"},
		{"services.yaml", "services:\n  - name: a\n    env: A_KEY\n    pattern: x\n  - name: b\n    aliases: [a]\n    env: B_KEY\n    pattern: x\n", "services.yaml: $.services[1].aliases[0]: service name a is used twice"},
		{"services.yaml", "services:\n  - name: a\n    env: A_KEY\n    pattern: x\n  - name: b\n    env: A_KEY\n    pattern: x\n", "services.yaml: $.services[1].env: variable A_KEY is already used by service a"},
		{"services.yaml", "services:\n  - name: a\n    env: A KEY\n    pattern: x\n", "services.yaml: $.services[0].env: not a valid"},
		{"services.yaml", "services:\n  - name: a\n    env: A_KEY\n    hosts: [https://x.example/path]\n    pattern: x\n", "services.yaml: $.services[0].hosts[0]: has a path"},
		{"services.yaml", "services:\n  - name: a\n    env: A_KEY\n    auth: {header: A, query: b}\n    pattern: x\n", "services.yaml: $.services[0].auth: a key goes in a header or a query parameter, not both"},
		{"services.yaml", "services:\n  - name: a\n    env: A_KEY\n    auth: {header: 'Bad Header'}\n    pattern: x\n", "services.yaml: $.services[0].auth: not a valid HTTP header name"},
		{"common.yaml", "fields:\n  - name: tags\n    kind: lists\n", "common.yaml: $.fields[0].kind: unknown kind"},
		{"common.yaml", "", "common.yaml"},
	}
	for _, tt := range tests {
		_, err := load(brokenData(t, tt.file, tt.content))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error = %v, want %q", tt.file, err, tt.want)
		}
	}
}

func TestMustLoadPanicsOnBrokenData(t *testing.T) {
	defer func() {
		r := recover()
		if s, _ := r.(string); !strings.Contains(s, "schemas: broken embedded data: types/file.yaml") {
			t.Fatalf("recover() = %v, want a panic naming the file", r)
		}
	}()
	mustLoad(brokenData(t, "types/file.yaml", "name: file\nfields: 3\n"))
	t.Fatal("mustLoad did not panic")
}

func TestBuiltinIsShared(t *testing.T) {
	if Builtin() != Builtin() {
		t.Fatal("Builtin() parses more than once")
	}
	if c, err := load(builtinData); err != nil || len(c.Types()) != len(builtinTypes) {
		t.Fatalf("load(builtinData) = %v", err)
	}
}
