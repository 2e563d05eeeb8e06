package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tresor-dev/tresor/codec"
	"github.com/tresor-dev/tresor/repo"
)

// ls lists the committed vault from a cache keyed by HEAD; these check that
// the cache never shows a stale or wrong listing.
func TestLsCacheFollowsHead(t *testing.T) {
	h := newHome(t)
	h.ok("", "init")
	h.ok("sk-test-FAKE0000000000000000000000", "set", "openai", "--type", "api_key")
	h.ok("v-FAKE", "set", "db/pass")
	state := filepath.Join(h.vault(), ".git", "tresor")
	lines := func() string { return h.ok("", "ls").stdout }

	first := lines()
	if !matches(first, `global/openai\s+api_key\s+OPENAI_API_KEY`) || !strings.Contains(first, "global/db/pass") {
		t.Fatalf("ls:\n%s", first)
	}
	if _, err := os.Stat(filepath.Join(state, "ls.cache")); err != nil {
		t.Fatalf("no ls cache after ls: %v", err)
	}
	// Warm: same answer, and it needs no identity (nothing is decrypted).
	id := filepath.Join(h.dir, "config", "tresor", "identity")
	os.Rename(id, id+".away")
	if got := lines(); got != first {
		t.Fatalf("warm ls without identity:\n%s\nwant:\n%s", got, first)
	}
	os.Rename(id+".away", id)

	// Every kind of change moves HEAD and shows at once.
	h.ok("v2-FAKE", "rotate", "db/pass")
	h.ok("", "mv", "db/pass", "db/password")
	h.ok("", "set", "openai", "--field", "description=renamed")
	h.ok("p-FAKE", "set", "projects/mercury/key", "--type", "password")
	h.ok("", "rm", "--force", "openai")
	got := lines()
	if strings.Contains(got, "global/openai") || matches(got, `global/db/pass\s`) ||
		!matches(got, `global/db/password\s+secret`) || !matches(got, `projects/mercury/key\s+password`) {
		t.Fatalf("ls after changes:\n%s", got)
	}
	if r := h.ok("", "ls", "--json"); !strings.Contains(r.stdout, `"scope": "project:mercury"`) {
		t.Fatalf("ls --json:\n%s", r.stdout)
	}

	// A damaged or foreign cache file is ignored and rewritten.
	for _, junk := range []string{"", "tresor-ls-cache-2\n", "garbage", strings.Repeat("\xff", 200)} {
		os.WriteFile(filepath.Join(state, "ls.cache"), []byte(junk), 0o600)
		if again := lines(); again != got {
			t.Fatalf("ls with cache %q:\n%s\nwant:\n%s", junk, again, got)
		}
	}
	// A cache for this HEAD that was truncated mid-row.
	data, _ := os.ReadFile(filepath.Join(state, "ls.cache"))
	os.WriteFile(filepath.Join(state, "ls.cache"), data[:len(data)-3], 0o600)
	if again := lines(); again != got {
		t.Fatalf("ls with a truncated cache:\n%s", again)
	}
	gitClean(t, h.vault())
}

// Without the identity, a cold listing still lists every name, says why the
// types are missing, and caches nothing it could not read.
func TestLsWithoutIdentity(t *testing.T) {
	h := newHome(t)
	h.ok("", "init")
	h.ok("v-FAKE", "set", "a")
	id := filepath.Join(h.dir, "config", "tresor", "identity")
	os.Rename(id, id+".away")
	r := h.ok("", "ls")
	if !matches(r.stdout, `global/a\s+\?`) || !strings.Contains(r.stdout, "no identity") || !strings.Contains(r.stderr, "warning:") {
		t.Fatalf("ls without identity:\nstdout: %s\nstderr: %s", r.stdout, r.stderr)
	}
	os.Rename(id+".away", id)
	if r := h.ok("", "ls"); !matches(r.stdout, `global/a\s+secret`) {
		t.Fatalf("ls with identity back:\n%s", r.stdout)
	}
}

func matches(s, pattern string) bool { return regexp.MustCompile(pattern).MatchString(s) }

func TestAlignColumns(t *testing.T) {
	got := string(alignColumns([][5]string{
		{"global/ä", "secret", "-", "2026-12-01", ""},
		{"global/long/name", "api_key", "OPENAI_API_KEY", "2026-12-02", "corrupted"},
	}))
	want := "global/ä          secret   -               2026-12-01\n" +
		"global/long/name  api_key  OPENAI_API_KEY  2026-12-02  corrupted\n"
	if got != want {
		t.Fatalf("got:\n%q\nwant:\n%q", got, want)
	}
}

// The incremental update of the listing (replaying new commits onto the
// rows cached for an older HEAD) gives exactly what a listing from scratch
// gives, after every kind of change, including plain git commits.
func TestLsIncrementalMatchesFull(t *testing.T) {
	h := newHome(t)
	h.ok("", "init")
	state := filepath.Join(h.vault(), ".git", "tresor")
	kr, err := codec.LoadIdentity(filepath.Join(h.dir, "config", "tresor", "identity"), false)
	if err != nil {
		t.Fatal(err)
	}
	unlock := func() (*codec.Keyring, error) { return kr, nil }
	listing := func(fresh bool) string {
		t.Helper()
		if fresh {
			os.Remove(filepath.Join(state, "ls.cache"))
			os.Remove(filepath.Join(state, "blobmeta-2.cache"))
			os.Remove(filepath.Join(state, "rotated.cache"))
		}
		v, err := repo.Open(h.vault(), repo.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		rows, err := v.Listing(unlock)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, r := range rows {
			fmt.Fprintf(&b, "%s %s %s %s %v %s %s\n", r.Key, r.Path, r.Meta.Type, r.Meta.Env, r.Meta.Hosts, r.Meta.Description, r.Rotated.UTC().Format(time.RFC3339))
		}
		return b.String()
	}
	steps := []func(){
		func() { h.ok("sk-test-FAKE0000000000000000000000", "set", "openai", "--type", "api_key") },
		func() { h.ok("v-FAKE", "set", "db/pass") },
		func() { h.ok("v2-FAKE", "rotate", "db/pass") },
		func() { h.ok("", "set", "openai", "--field", "description=meta only") },
		func() { h.ok("", "mv", "db/pass", "db/password") },
		func() { h.ok("", "mv", "openai", "projects/mercury/openai") },
		func() {
			os.WriteFile(filepath.Join(h.dir, "a.env"), []byte("A_TOKEN=a-FAKE\nB_TOKEN=b-FAKE\nGITHUB_TOKEN=ghp_FAKE0000000000000000000000000000\n"), 0o600)
			h.ok("", "import", filepath.Join(h.dir, "a.env"))
		},
		func() { h.ok("", "rm", "--force", "A_TOKEN") },
		func() {
			// Two commits between listings, one of them by hand with git.
			h.ok("c-FAKE", "set", "c")
			os.Rename(filepath.Join(h.vault(), "global", "c.age"), filepath.Join(h.vault(), "global", "c2.age"))
			git(t, h.vault(), "add", "-A")
			git(t, h.vault(), "-c", "user.name=T", "-c", "user.email=t@example.test", "commit", "-qm", "by hand")
		},
	}
	for i, step := range steps {
		listing(false) // cache the listing at the current HEAD
		step()
		inc := listing(false)
		if full := listing(true); inc != full {
			t.Fatalf("step %d: incremental listing:\n%s\nfrom scratch:\n%s", i, inc, full)
		}
	}
}

// ls shows expired, expiring and stale by the rule MCP's list_credentials
// uses (repo.Status), from a cold listing and from the cache.
func TestLsStatusExpiryAndStale(t *testing.T) {
	h := newHome(t) // clock: 2026-12-01
	h.ok("", "init")
	h.ok("x-FAKE", "set", "exp1", "--field", "expires=2020-01-01")
	h.ok("x-FAKE", "set", "soon", "--field", "expires=2026-12-20")
	h.ok("x-FAKE", "set", "later", "--field", "expires=2027-06-01")
	h.ok("x-FAKE", "set", "weekly", "--field", "rotate_every=7d")
	h.ok("x-FAKE", "set", "plain")
	want := map[string]string{"global/exp1": "expired", "global/soon": "expiring", "global/later": "", "global/weekly": "", "global/plain": ""}
	check := func(when string) {
		t.Helper()
		var rows []lsRow
		if err := json.Unmarshal([]byte(h.ok("", "ls", "--json").stdout), &rows); err != nil {
			t.Fatal(err)
		}
		text := h.ok("", "ls").stdout
		for _, r := range rows {
			if r.Status != want[r.Ref] {
				t.Errorf("%s: ls --json status of %s = %q, want %q", when, r.Ref, r.Status, want[r.Ref])
			}
			for _, line := range strings.Split(text, "\n") {
				if f := strings.Fields(line); len(f) > 0 && f[0] == r.Ref {
					if got := f[len(f)-1]; want[r.Ref] != "" && got != want[r.Ref] {
						t.Errorf("%s: ls line %q does not end in %q", when, line, want[r.Ref])
					}
				}
			}
		}
	}
	check("cold")
	check("warm")
	h.clock = h.clock.Add(8 * 24 * time.Hour)
	want["global/weekly"] = "stale"
	check("a week later")
}
