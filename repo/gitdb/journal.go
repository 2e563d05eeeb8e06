package gitdb

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/renameio/v2"
)

// journal records a write in progress (.git/tresor/journal). It names no
// content, only what Recover needs to bring the touched paths back in line
// with HEAD after a crash: the paths, and the temporary files whose hard
// links are our <ref>.lock and index.lock (so that Recover removes only
// locks it can prove are ours).
type journal struct {
	Version  int       `json:"version"`
	Op       string    `json:"op"` // what was interrupted, for messages ("commit")
	Started  time.Time `json:"started"`
	PID      int       `json:"pid"`
	Ref      string    `json:"ref"`           // e.g. refs/heads/main
	Old      string    `json:"old,omitempty"` // branch value before; "" when unborn
	Paths    []string  `json:"paths"`
	RefLock  string    `json:"ref_lock"`  // <ref>.lock, relative to .git
	RefTmp   string    `json:"ref_tmp"`   // relative to .git
	IndexTmp string    `json:"index_tmp"` // relative to .git; its link is index.lock
}

func (s *Store) journalPath() string { return filepath.Join(s.gitDir, "tresor", "journal") }

// newJournal prepares (but does not write) a journal for op on ref.
func (s *Store) newJournal(op, ref string, old plumbing.Hash, hadOld bool, paths []string) *journal {
	var nonce [8]byte
	rand.Read(nonce[:])
	n := hex.EncodeToString(nonce[:])
	j := &journal{
		Version: 1, Op: op, Started: time.Now().UTC(), PID: os.Getpid(), Ref: ref, Paths: paths,
		RefLock:  ref + ".lock",
		RefTmp:   "tresor/tmp/" + n + ".ref",
		IndexTmp: "tresor/tmp/" + n + ".index",
	}
	if hadOld {
		j.Old = old.String()
	}
	return j
}

// writeJournal stores the journal atomically and durably (file and directory
// fsynced): everything after it may be torn by a crash.
func (s *Store) writeJournal(j *journal) error {
	tmp, err := s.tmpDir()
	if err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	b, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return err
	}
	if err := renameio.WriteFile(s.journalPath(), append(b, '\n'), 0o600, renameio.WithTempDir(tmp)); err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	if err := syncDir(filepath.Dir(s.journalPath())); err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	return nil
}

// readJournal returns the pending journal, or nil when there is none.
func (s *Store) readJournal() (*journal, error) {
	b, err := os.ReadFile(s.journalPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	j := &journal{}
	if err := json.Unmarshal(b, j); err != nil {
		return nil, fmt.Errorf("read journal %s: %w", s.journalPath(), err)
	}
	if j.Version != 1 {
		return nil, fmt.Errorf("read journal %s: unknown version %d", s.journalPath(), j.Version)
	}
	if !validJournalFile(j.RefLock, "refs/heads/", ".lock") || j.RefLock != j.Ref+".lock" ||
		!validJournalFile(j.RefTmp, "tresor/tmp/", ".ref") || !validJournalFile(j.IndexTmp, "tresor/tmp/", ".index") {
		return nil, fmt.Errorf("read journal %s: unexpected file names", s.journalPath())
	}
	for _, p := range j.Paths {
		if err := checkPath(p); err != nil {
			return nil, fmt.Errorf("read journal %s: %w", s.journalPath(), err)
		}
	}
	return j, nil
}

// removeJournal deletes the journal: the write it describes is complete.
func (s *Store) removeJournal() error {
	if err := os.Remove(s.journalPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove journal: %w", err)
	}
	return nil
}

// gitPath turns a journal path (relative to .git, slash-separated) into an
// absolute path.
func (s *Store) gitPath(rel string) string {
	return filepath.Join(s.gitDir, filepath.FromSlash(rel))
}
