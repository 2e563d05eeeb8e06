package watch

import (
	"strings"
	"testing"
)

func TestTempName(t *testing.T) {
	for _, tt := range []struct {
		name string
		temp bool
	}{
		// vim
		{".x.age.swp", true}, {".x.age.swo", true}, {".x.age.swa", true}, {".x.age.swx", true},
		{"4913", true}, {"5036", true}, {"99983", false}, {"4914", false}, {"x.age~", true},
		// emacs
		{"#x.age#", true}, {".#x.age", true}, {"#", false},
		// JetBrains, VS Code, Kate, sed -i
		{"x.age___jb_tmp___", true}, {"x.age___jb_old___", true}, {"x.age.vsctmp", true},
		{".x.age.kate-swp", true}, {"sedAb3xY9", true}, {"sedan.age", false},
		// renameio: "." + name + rand.Int64; os.CreateTemp(".cache-*")
		{".x.age5577006791947779410", true}, {".cache-2871623407", true}, {".clients.yaml123456789", true},
		// real files
		{"x.age", false}, {"x.swp", false}, {".gitignore", false}, {".tresor.yaml", false},
		{"icon.svg", false}, {".env2", false}, {".backup-2024", false}, {"123456789", false},
		{".123456789", false}, {"a", false},
	} {
		if got := tempName(tt.name); got != tt.temp {
			t.Errorf("tempName(%q) = %v, want %v", tt.name, got, tt.temp)
		}
	}
}

func TestClassifyGit(t *testing.T) {
	for _, tt := range []struct {
		rel  string
		want gitKind
	}{
		{".git/HEAD", gitRefs}, {".git/packed-refs", gitRefs}, {".git/refs", gitRefsDir},
		{".git/refs/heads/main", gitRefs}, {".git/refs/heads/feature", gitRefs},
		{".git/refs/heads/main.lock", gitIgnored}, {".git/HEAD.lock", gitIgnored},
		{".git/packed-refs.lock", gitIgnored}, {".git/index", gitIgnored}, {".git/index.lock", gitIgnored},
		{".git/ORIG_HEAD", gitIgnored}, {".git/objects", gitIgnored}, {".git/logs", gitIgnored},
		{".git/tresor", gitStateDir}, {".git/tresor/clients.yaml", gitClients},
		{".git/tresor/access.log", gitIgnored}, {".git/tresor/access.log.lock", gitIgnored},
		{".git/tresor/.clients.yaml5577006791947779410", gitIgnored}, {".git/tresor/tmp", gitIgnored},
		{".git/tresor/journal", gitIgnored},
	} {
		if got := classifyGit(tt.rel); got != tt.want {
			t.Errorf("classifyGit(%q) = %v, want %v", tt.rel, got, tt.want)
		}
	}
}

func TestHasGitSegment(t *testing.T) {
	for rel, want := range map[string]bool{
		"sub/.git": true, "sub/.GIT/config": true, ".git": true, "a/b.age": false, ".gitignore": false, "x.git/y": false,
	} {
		if got := hasGitSegment(rel); got != want {
			t.Errorf("hasGitSegment(%q) = %v, want %v", rel, got, want)
		}
	}
}

// FuzzFilters checks that the name filters never panic, that an entry
// file name ("<letter...>.age") is never taken for a temp file, and that
// nothing outside .git/ is classified as a ref.
func FuzzFilters(f *testing.F) {
	for _, s := range []string{"", "4913", ".x.swp", "#x#", ".#", "~", ".git/refs/heads/x", ".clients.yaml1234567890", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tempName(s)
		hasGitSegment(s)
		if k := classifyGit(s); k != gitIgnored && !strings.HasPrefix(s, ".git/") {
			t.Fatalf("classifyGit(%q) = %v outside .git/", s, k)
		}
		name := "e" + strings.ReplaceAll(s, "/", "_") + ".age"
		if tempName(name) {
			t.Fatalf("entry file %q taken for a temp file", name)
		}
	})
}
