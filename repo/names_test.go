package repo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestCleanNameAcceptsCases(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "shared", "cases", "H06-entry-names-paths", "names-accept.txt"))
	if err != nil {
		t.Fatalf("shared cases missing: %v", err)
	}
	for _, n := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		c, err := CleanName(n)
		if err != nil {
			t.Errorf("CleanName(%q): %v", n, err)
			continue
		}
		if c != n {
			t.Errorf("CleanName(%q) = %q", n, c)
		}
		p := NamePath(c)
		back, ok := PathName(p)
		if !ok || back != n {
			t.Errorf("PathName(NamePath(%q)) = %q, %v (path %q)", n, back, ok, p)
		}
		checkPortable(t, p)
	}
}

func TestCleanNameRejectsCases(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "shared", "cases", "H06-entry-names-paths", "names-reject.txt"))
	if err != nil {
		t.Fatalf("shared cases missing: %v", err)
	}
	names := append(strings.Split(strings.TrimSuffix(string(data), "\n"), "\n"), "", "a\x00b", "a\nb", "tab\there", ".", "..", "a/.", strings.Repeat("x", 252))
	for _, n := range names {
		_, err := CleanName(n)
		if err == nil {
			t.Errorf("CleanName(%q) accepted", n)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, "invalid name") || strings.Contains(msg, "\n") {
			t.Errorf("CleanName(%q): message %q", n, msg)
		}
	}
}

func checkPortable(t testing.TB, p string) {
	t.Helper()
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || strings.ContainsAny(seg, ":*?\"<>|\\ ") || strings.HasSuffix(seg, ".") || strings.HasSuffix(seg, " ") {
			t.Errorf("path %q: segment %q is not portable", p, seg)
		}
		for _, r := range seg {
			if r < 0x20 {
				t.Errorf("path %q has a control character", p)
			}
		}
		if isDeviceName(seg) {
			t.Errorf("path %q: segment %q is a Windows device name", p, seg)
		}
		if len(seg) > MaxSegmentBytes {
			t.Errorf("path %q: segment of %d bytes", p, len(seg))
		}
	}
}

func TestEncodeSegment(t *testing.T) {
	for in, want := range map[string]string{
		"Papa Johns":    "Papa%20Johns",
		"prod:readonly": "prod%3Areadonly",
		"CON":           "%43ON",
		"con.txt":       "%63on.txt",
		"COM1":          "%43OM1",
		"trailing.":     "trailing%2E",
		"100%":          "100%25",
		"ci-bot@x":      "ci-bot@x",
		"clés":          "clés",
		"日本":            "日本",
		"emoji😀":        "emoji%F0%9F%98%80",
		`a\b`:           "a%5Cb",
	} {
		if got := encodeSegment(in); got != want {
			t.Errorf("encodeSegment(%q) = %q, want %q", in, got, want)
		}
		if back, err := decodeSegment(want); err != nil || back != in {
			t.Errorf("decodeSegment(%q) = %q, %v", want, back, err)
		}
	}
}

func TestNFCAndFold(t *testing.T) {
	nfd := "cle\u0301s"
	c, err := CleanName(nfd)
	if err != nil || c != "clés" {
		t.Fatalf("CleanName(NFD) = %q, %v", c, err)
	}
	if FoldName("OpenAI/Key") != FoldName("openai/key") {
		t.Error("fold differs by case")
	}
}

func TestRefs(t *testing.T) {
	for _, s := range []string{"global/openai", "projects/mercury/openai", "devices/laptop/ssh/id", "mcp/github/token", "global/Shopping/Papa Johns"} {
		r, err := ParseRef(s)
		if err != nil {
			t.Fatalf("ParseRef(%q): %v", s, err)
		}
		if r.String() != s {
			t.Errorf("String() = %q, want %q", r.String(), s)
		}
		back, ok := PathRef(r.Path())
		if !ok || back != r {
			t.Errorf("PathRef(%q) = %v, %v", r.Path(), back, ok)
		}
		u, err := ParseRef(r.URL())
		if err != nil || u != r {
			t.Errorf("ParseRef(%q) = %v, %v", r.URL(), u, err)
		}
	}
	for _, s := range []string{"global", "global/", "projects/mercury", "projects/../x", "projects/.x/y", "nope/x", "global/../../etc/passwd", "tresor://global/%zz"} {
		if _, err := ParseRef(s); err == nil {
			t.Errorf("ParseRef(%q) accepted", s)
		}
	}
	for _, s := range []string{"global", "project:mercury", "device:laptop", "mcp:github"} {
		sc, err := ParseScope(s)
		if err != nil || sc.String() != s {
			t.Errorf("ParseScope(%q) = %v, %v", s, sc, err)
		}
	}
	for _, s := range []string{"", "project:", "project:../x", "team:x", "project:a/b", "global:x"} {
		if _, err := ParseScope(s); err == nil {
			t.Errorf("ParseScope(%q) accepted", s)
		}
	}
}

func TestMessageTrailers(t *testing.T) {
	m := Message{Op: "set", Entries: []string{"global/openai"}, Type: "api_key", ValueChanged: true, Device: "laptop", Client: "claude-code"}
	tr := Trailers(m.String())
	if first(tr, "Tresor-Op") != "set" || first(tr, "Tresor-Entry") != "global/openai" || first(tr, "Tresor-Value-Changed") != "yes" || first(tr, "Tresor-Client") != "claude-code" {
		t.Errorf("trailers %v from\n%s", tr, m.String())
	}
	if !strings.HasPrefix(m.String(), "set global/openai (api_key)\n\n") {
		t.Errorf("summary: %q", m.String())
	}
}

// FuzzCleanName: whatever is accepted maps to a portable path that maps back
// to the same name, and stays inside its scope directory.
func FuzzCleanName(f *testing.F) {
	for _, s := range []string{"a", "a/b", "../x", "Papa Johns", "CON", "x.", "é", "a//b", "/abs", ".git/x", "%41", "日本/語"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		c, err := CleanName(name)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		if !utf8.ValidString(c) {
			t.Fatalf("accepted invalid UTF-8 %q", c)
		}
		p := NamePath(c)
		checkPortable(t, p)
		if filepath.Clean("/vault/global/"+p) != "/vault/global/"+p || strings.Contains(p, "..") && strings.Contains("/"+p+"/", "/../") {
			t.Fatalf("path %q escapes or is not clean", p)
		}
		back, ok := PathName(p)
		if !ok || back != c {
			t.Fatalf("PathName(%q) = %q, %v; want %q", p, back, ok, c)
		}
	})
}

// No entry's directory can be another entry's file, in any letter case:
// "x" is x.age, so the directory of "x.age/y" must not be x.age. Every
// H06 name, with ".age" and ".AGE" appended to each of its segments, maps to
// one canonical path and back.
func TestNamePathDirNeverAFile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "shared", "cases", "H06-entry-names-paths", "names-accept.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		names = append(names, n)
		segs := strings.Split(n, "/")
		for i := range segs {
			for _, ext := range []string{".age", ".AGE", ".Age"} {
				v := append([]string(nil), segs...)
				v[i] += ext
				names = append(names, strings.Join(v, "/"), strings.Join(v, "/")+"/child")
			}
		}
	}
	files, dirs := map[string]string{}, map[string]string{}
	for _, n := range names {
		c, err := CleanName(n)
		if err != nil {
			t.Fatalf("CleanName(%q): %v", n, err)
		}
		p := NamePath(c)
		if back, ok := PathName(p); !ok || back != c {
			t.Errorf("PathName(NamePath(%q) = %q) = %q, %v", c, p, back, ok)
		}
		files[FoldName(p)] = c
		segs := strings.Split(p, "/")
		for i := 1; i < len(segs); i++ {
			dirs[FoldName(strings.Join(segs[:i], "/"))] = c
		}
	}
	for d, n := range dirs {
		if f, ok := files[d]; ok {
			t.Errorf("the directory of %q is the file of %q (%s)", n, f, d)
		}
	}
	// Non-canonical spellings are not entries: one file per name.
	for _, p := range []string{"x.age/y.age", "x.AGE/y.age", "%41.age", "a%2Fb.age"} {
		if n, ok := PathName(p); ok {
			t.Errorf("PathName(%q) = %q, want not an entry", p, n)
		}
	}
}

func TestStatus(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	rot := now.Add(-10 * 24 * time.Hour)
	for _, c := range []struct {
		expires, every, def string
		rotated             time.Time
		want                string
	}{
		{"", "", "", rot, StatusOK},
		{"2020-01-01", "", "", rot, StatusExpired},
		{"2026-12-01", "", "", rot, StatusExpired}, // the day itself
		{"2026-12-20", "", "", rot, StatusExpiring},
		{"2027-06-01", "", "", rot, StatusOK},
		{"not-a-date", "", "", rot, StatusOK},
		{"", "7d", "", rot, StatusStale},
		{"", "30d", "", rot, StatusOK},
		{"", "", "7d", rot, StatusStale}, // vault default
		{"", "never", "7d", rot, StatusOK},
		{"", "7d", "", time.Time{}, StatusOK}, // history does not say
		{"2020-01-01", "7d", "", rot, StatusExpired},
	} {
		if got := Status(c.expires, c.every, c.def, c.rotated, now); got != c.want {
			t.Errorf("Status(%q, %q, %q) = %q, want %q", c.expires, c.every, c.def, got, c.want)
		}
	}
}

// A file an older tresor wrote for "q.age/z" (directory q.age) is not an
// entry now; MisplacedEntry names the entry and its proper path.
func TestMisplacedEntry(t *testing.T) {
	for p, want := range map[string]string{
		"global/q.age/z.age":         "global/q%2Eage/z.age",
		"projects/web/a/B.AGE/c.age": "projects/web/a/B%2EAGE/c.age",
		"global/%41.age":             "global/A.age",
	} {
		r, ok := MisplacedEntry(p)
		if !ok || r.Path() != want {
			t.Errorf("MisplacedEntry(%q) = %v (%s), %v; want %s", p, r, r.Path(), ok, want)
		}
	}
	for _, p := range []string{"global/ok.age", "global/.hidden.age", "global/x.txt", "global/a%2Fb.age"} {
		if r, ok := MisplacedEntry(p); ok {
			t.Errorf("MisplacedEntry(%q) = %v, want not misplaced", p, r)
		}
	}
}
