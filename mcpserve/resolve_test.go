package mcpserve

import (
	"strings"
	"testing"

	"github.com/tresor-dev/tresor/access"
)

// TestBareNamesResolveWithinGrantedScopes: apps start the server with no
// working directory, so there is no project context; a bare name is looked
// up in the scopes the client is granted, most specific first (project,
// device, global), and two matches at the same level are an error naming
// only what the client may see.
func TestBareNamesResolveWithinGrantedScopes(t *testing.T) {
	f := newFixture(t)
	f.put("projects/mercury/db", "api_key", map[string]string{"value": fakeOpenAI}, nil)
	f.put("projects/venus/db", "api_key", map[string]string{"value": fakeVenus}, nil)
	f.put("projects/pluto/db", "api_key", map[string]string{"value": fakeCanary}, nil)
	f.put("global/db", "api_key", map[string]string{"value": fakeGlobal}, nil)
	f.put("devices/box/db", "api_key", map[string]string{"value": fakeStripe}, nil)
	f.put("global/openai", "api_key", map[string]string{"value": fakeGlobal}, nil)
	f.start(Options{}) // no project context, as apps start it

	cases := []struct {
		name   string
		grants []string
		arg    string
		want   string   // value, or "" for a refusal
		says   []string // the refusal mentions these
		never  []string // and never these
	}{
		{"project-only grant finds its project entry", []string{fakeProject}, "db", fakeOpenAI, nil, nil},
		{"project beats global", []string{fakeProject, "global"}, "db", fakeOpenAI, nil, nil},
		{"project beats device", []string{"device:box", fakeProject}, "db", fakeOpenAI, nil, nil},
		{"device beats global", []string{"global", "device:box"}, "db", fakeStripe, nil, nil},
		{"global alone", []string{"global"}, "db", fakeGlobal, nil, nil},
		{"two projects are ambiguous", []string{fakeProject, "project:venus", "global"}, "db", "",
			[]string{"ambiguous", "projects/mercury/db", "projects/venus/db"}, []string{"pluto"}},
		{"all scopes: every project is a candidate", []string{access.AllScopes}, "db", "",
			[]string{"ambiguous", "projects/mercury/db", "projects/pluto/db", "projects/venus/db"}, nil},
		{"name only in an ungranted scope looks absent", []string{fakeProject}, "openai", "",
			[]string{"openai: no such entry"}, []string{"grant", "global"}},
		{"nothing anywhere", []string{fakeProject}, "nope", "", []string{"nope: no such entry"}, nil},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			name := "c" + string(rune('a'+i))
			cs := f.connect(f.client(name, c.grants, true, false), nil)
			res := call(t, cs, ToolGet, map[string]any{"credential": c.arg})
			if c.want != "" {
				if got := ok[GetOut](t, res); got.Value != c.want {
					t.Fatalf("got another entry's value")
				}
				return
			}
			refused(t, res, c.says...)
			noSecrets(t, "refusal", res)
			for _, n := range c.never {
				if strings.Contains(text(res), n) {
					t.Fatalf("refusal %q mentions %q", text(res), n)
				}
			}
		})
	}
}

// TestUngrantedScopeIsNoExistenceOracle: for a client with no grant on a
// scope, an entry there is answered byte for byte like a missing one (by
// reference and by bare name), and the attempt is logged as denied.
func TestUngrantedScopeIsNoExistenceOracle(t *testing.T) {
	f := newFixture(t)
	seed(f)
	f.put("global/openai", "api_key", map[string]string{"value": fakeStripe}, nil)
	f.start(Options{})
	cs := f.connect(f.client("projonly", []string{fakeProject}, true, true), nil)
	pairs := [][2]string{
		{"global/openai", "global/missing"},
		{"projects/venus/openai", "projects/venus/missing"},
		{"mcp/github/token", "mcp/github/missing"},
		{"devices/box/x", "devices/box/y"},
	}
	f.put("devices/box/x", "api_key", map[string]string{"value": fakeGlobal}, nil)
	for _, p := range pairs {
		exists := text(call(t, cs, ToolGet, map[string]any{"credential": p[0]}))
		missing := text(call(t, cs, ToolGet, map[string]any{"credential": p[1]}))
		if want := strings.Replace(missing, p[1], p[0], 1); exists != want {
			t.Fatalf("%s answers %q, a missing entry answers %q", p[0], exists, missing)
		}
		if !strings.Contains(exists, "no such entry") {
			t.Fatalf("%s: %q", p[0], exists)
		}
	}
	// forget (write perm) is no oracle either.
	if got := text(call(t, cs, ToolForget, map[string]any{"ref": "global/openai"})); got != "global/openai: no such entry" {
		t.Fatalf("forget: %q", got)
	}
	// The attempts are in the read log as denials.
	var denied int
	for _, r := range f.records("projonly") {
		if r.Result == access.ResultDenied && (r.Ref == "global/openai" || r.Ref == "projects/venus/openai") {
			denied++
		}
	}
	if denied < 3 {
		t.Fatalf("attempts on ungranted scopes not logged as denied: %+v", f.records("projonly"))
	}
	// A grant without reveal is still told apart: the client may list it.
	lister := f.connect(f.client("lister", []string{"global"}, false, false), nil)
	refused(t, call(t, lister, ToolGet, map[string]any{"credential": "global/openai"}), "no reveal grant")
}
