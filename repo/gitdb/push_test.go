package gitdb

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func bareRemote(t *testing.T) string {
	dir := filepath.Join(t.TempDir(), "remote.git")
	git(t, ".", "init", "-q", "--bare", "-b", "main", dir)
	return dir
}

func remoteHead(t *testing.T, remote, ref string) string {
	out, err := gitErr(remote, "rev-parse", "--verify", "-q", ref)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(out)
}

func TestPush(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	mustCommit(t, s, "one", put("openai/key.age", "sk-test-FAKE-1"), put("db/pass.age", "FAKE-db-pass"))
	remote := bareRemote(t)

	if err := s.AddRemote("origin", remote); err != nil {
		t.Fatal(err)
	}
	if err := s.AddRemote("origin", remote); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second AddRemote: %v", err)
	}
	for _, bad := range []string{"", "a/b", "has space", "-oProxy", "--upload-pack=x", ".hidden", "x.lock", "a:b", "a\nb", "ü"} {
		if err := s.AddRemote(bad, remote); err == nil {
			t.Errorf("AddRemote(%q) accepted", bad)
		}
	}
	for _, bad := range []string{"", "  ", "--upload-pack=touch /tmp/x", "/tmp/a\nb"} {
		if err := s.AddRemote("u", bad); err == nil {
			t.Errorf("AddRemote(u, %q) accepted", bad)
		}
	}
	if rs, err := s.Remotes(); err != nil || len(rs) != 1 || rs["origin"] != remote {
		t.Fatalf("Remotes = %v, %v", rs, err)
	}

	// 1. First push to an empty bare remote.
	head, _, _ := s.Head()
	res, err := s.Push(ctx, "origin")
	if err != nil {
		t.Fatal(err)
	}
	if res.Remote != "origin" || res.Branch != "main" || !res.From.IsZero() || res.To != head || res.UpToDate {
		t.Fatalf("first push: %+v", res)
	}
	if got := remoteHead(t, remote, "refs/heads/main"); got != head.String() {
		t.Fatalf("remote main = %q, want %s", got, head)
	}
	if got := strings.TrimSpace(git(t, s.Dir(), "rev-parse", "refs/remotes/origin/main")); got != head.String() {
		t.Fatalf("tracking ref = %s", got)
	}
	if got := strings.TrimSpace(git(t, s.Dir(), "rev-parse", "--abbrev-ref", "main@{upstream}")); got != "origin/main" {
		t.Fatalf("upstream = %q", got)
	}
	if out, err := gitErr(remote, "fsck", "--strict", "--no-progress"); err != nil {
		t.Fatalf("remote fsck: %v %s", err, out)
	}

	// 2. Again: up to date.
	res, err = s.Push(ctx, "origin")
	if err != nil || !res.UpToDate || res.From != head || res.To != head {
		t.Fatalf("second push: %+v, %v", res, err)
	}

	// 3. A fast-forward push.
	mustCommit(t, s, "two", put("gh/token.age", "ghp_FAKE0000"))
	head2, _, _ := s.Head()
	res, err = s.Push(ctx, "origin")
	if err != nil || res.UpToDate || res.From != head || res.To != head2 {
		t.Fatalf("third push: %+v, %v", res, err)
	}

	// 4. Someone else pushes first: our push is refused and nothing is
	// forced.
	other := filepath.Join(t.TempDir(), "other")
	git(t, ".", "clone", "-q", remote, other)
	os.WriteFile(filepath.Join(other, "aws.age"), []byte("AKIAFAKEFAKEFAKE0000"), 0o600)
	git(t, other, "add", ".")
	git(t, other, "commit", "-q", "-m", "teammate")
	git(t, other, "push", "-q", "origin", "main")
	theirs := remoteHead(t, remote, "refs/heads/main")

	_, err = s.Push(ctx, "origin") // local is behind
	if !errors.Is(err, ErrNonFastForward) {
		t.Fatalf("behind: %v", err)
	}
	mustCommit(t, s, "three", put("local.age", "mine"))
	_, err = s.Push(ctx, "origin") // diverged
	if !errors.Is(err, ErrNonFastForward) || !strings.Contains(err.Error(), "git pull --rebase") {
		t.Fatalf("diverged: %v", err)
	}
	if got := remoteHead(t, remote, "refs/heads/main"); got != theirs {
		t.Fatalf("remote changed to %s", got)
	}
	// The fetch brought their commit in as the tracking ref.
	if got := strings.TrimSpace(git(t, s.Dir(), "rev-parse", "refs/remotes/origin/main")); got != theirs {
		t.Fatalf("tracking ref = %s, want %s", got, theirs)
	}

	// 5. Unknown remote.
	if _, err := s.Push(ctx, "nope"); !errors.Is(err, ErrUnknownRemote) {
		t.Fatalf("unknown remote: %v", err)
	}
	assertClean(t, s.Dir())
}

func TestPushFileURLAndOtherBranch(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	mustCommit(t, s, "one", put("a.age", "1"))
	head, _, _ := s.Head()

	// A file:// URL to a bare repository that has a different branch only.
	remote := bareRemote(t)
	seed := filepath.Join(t.TempDir(), "seed")
	git(t, ".", "clone", "-q", remote, seed)
	git(t, seed, "commit", "-q", "--allow-empty", "-m", "other")
	git(t, seed, "push", "-q", "origin", "HEAD:refs/heads/other")

	if err := s.AddRemote("backup", "file://"+remote); err != nil {
		t.Fatal(err)
	}
	res, err := s.Push(ctx, "backup")
	if err != nil {
		t.Fatal(err)
	}
	if !res.From.IsZero() || res.To != head {
		t.Fatalf("%+v", res)
	}
	if got := remoteHead(t, remote, "refs/heads/main"); got != head.String() {
		t.Fatalf("remote main = %q", got)
	}
	if res, err := s.Push(ctx, "backup"); err != nil || !res.UpToDate {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestPushUnborn(t *testing.T) {
	s := newStore(t)
	s.AddRemote("origin", bareRemote(t))
	if _, err := s.Push(context.Background(), "origin"); err == nil {
		t.Fatal("pushed an unborn branch")
	}
}
