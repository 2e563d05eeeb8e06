package gitdb

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestLockTimeoutAndCancel(t *testing.T) {
	a := newStore(t)
	b, err := Open(a.Dir())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	unlock, err := a.Lock(context.Background(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(a.Dir(), ".git/tresor"))
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf(".git/tresor: %v %v", fi, err)
	}
	start := time.Now()
	_, err = b.Lock(context.Background(), 100*time.Millisecond)
	if !errors.Is(err, ErrLocked) || err.Error() != "vault is locked by another tresor process (waited 100ms)" {
		t.Fatalf("err = %v", err)
	}
	if el := time.Since(start); el < 100*time.Millisecond || el > 2*time.Second {
		t.Fatalf("waited %v", el)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	if _, err := b.Lock(ctx, time.Minute); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: %v", err)
	}
	// Released: the other Store gets it, waiting while it is held.
	released := make(chan struct{})
	go func() { time.Sleep(100 * time.Millisecond); unlock(); close(released) }()
	unlockB, err := b.Lock(context.Background(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	<-released
	unlockB()
	unlockB() // idempotent
	if _, err := b.Lock(context.Background(), 0); err != nil {
		t.Fatalf("free lock with zero timeout: %v", err)
	}
}

func TestRecoverCorruptJournal(t *testing.T) {
	s := newStore(t)
	mustCommit(t, s, "one", put("a.age", "a"))
	os.WriteFile(s.journalPath(), []byte("{not json"), 0o600)
	if _, err := s.Lock(context.Background(), time.Second); err == nil {
		t.Fatal("a corrupt journal went unnoticed")
	}
	ps, _ := s.Check()
	if len(ps) != 1 || ps[0].Path != ".git/tresor/journal.bad" {
		t.Fatalf("%v", problemSummary(ps))
	}
	unlock, err := s.Lock(context.Background(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	if _, err := s.Fix(); err != nil {
		t.Fatal(err)
	}
	if ps, _ := s.Check(); len(ps) != 0 {
		t.Fatalf("%v", problemSummary(ps))
	}
}

// TestRecoverRemovesOnlyOurLocks: a lock that is a hard link of one of our
// temporary files is ours (even without a journal); any other is git's.
func TestRecoverRemovesOnlyOurLocks(t *testing.T) {
	s := newStore(t)
	mustCommit(t, s, "one", put("a.age", "a"))
	tmp, _ := s.tmpDir()
	os.WriteFile(filepath.Join(tmp, "x.index"), []byte("partial"), 0o600)
	os.Link(filepath.Join(tmp, "x.index"), filepath.Join(s.Dir(), ".git/index.lock"))
	os.WriteFile(filepath.Join(tmp, "y.ref"), []byte("0\n"), 0o600)
	os.Link(filepath.Join(tmp, "y.ref"), filepath.Join(s.Dir(), ".git/refs/heads/main.lock"))
	gitsLock := filepath.Join(s.Dir(), ".git/packed-refs.lock")
	os.WriteFile(gitsLock, nil, 0o600)

	unlock, err := s.Lock(context.Background(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	if len(s.Recovered()) != 2 {
		t.Errorf("recovered: %q", s.Recovered())
	}
	for _, f := range []string{".git/index.lock", ".git/refs/heads/main.lock"} {
		if _, err := os.Lstat(filepath.Join(s.Dir(), f)); err == nil {
			t.Errorf("%s not removed", f)
		}
	}
	if _, err := os.Lstat(gitsLock); err != nil {
		t.Error("git's lock was removed")
	}
	os.Remove(gitsLock)
	assertClean(t, s.Dir())
}
