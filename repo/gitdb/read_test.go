package gitdb

import (
	"fmt"
	"testing"
)

func TestReadBlobAndFiles(t *testing.T) {
	s := newStore(t)
	mustCommit(t, s, "one", put("global/a.age", "A"), put("projects/p/x/b.age", "B"), put("top.age", ""))
	h1, _, _ := s.Head()
	mustCommit(t, s, "two", put("global/a.age", "A2"), del("top.age"))
	h2, _, _ := s.Head()

	for _, c := range []struct {
		commit     string
		path, want string
		ok         bool
	}{
		{"h1", "global/a.age", "A", true},
		{"h2", "global/a.age", "A2", true},
		{"h1", "top.age", "", true},
		{"h2", "top.age", "", false},
		{"h1", "projects/p/x/b.age", "B", true},
		{"h1", "projects/p", "", false}, // a directory
		{"h1", "global/a.age/x", "", false},
		{"h1", "nope", "", false},
	} {
		h := h1
		if c.commit == "h2" {
			h = h2
		}
		data, ok, err := s.ReadBlob(h, c.path)
		if err != nil || ok != c.ok || string(data) != c.want {
			t.Errorf("ReadBlob(%s, %s) = %q, %v, %v", c.commit, c.path, data, ok, err)
		}
	}
	if _, _, err := s.ReadBlob(h1, "../x"); err == nil {
		t.Error("bad path accepted")
	}
	files, err := s.Files(h1)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(files); got != fmt.Sprintf("map[global/a.age:%s projects/p/x/b.age:%s top.age:%s]",
		blobHash([]byte("A")), blobHash([]byte("B")), blobHash(nil)) {
		t.Fatalf("Files = %s", got)
	}
	mustCommit(t, s, "empty", del("global/a.age"), del("projects/p/x/b.age"))
	h3, _, _ := s.Head()
	if files, err := s.Files(h3); err != nil || len(files) != 0 {
		t.Fatalf("Files(empty) = %v, %v", files, err)
	}
}
