package gitdb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// CheckRemoteName accepts the remote names git users type (origin, backup,
// my-nas.2): letters, digits, '.', '_' and '-', not starting with '-' or
// '.' (a leading '-' would read as an option to git commands run on the
// vault by hand).
func CheckRemoteName(name string) error {
	ok := name != "" && len(name) <= 64 && name[0] != '-' && name[0] != '.' && !strings.HasSuffix(name, ".lock")
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
	}
	if !ok || plumbing.NewRemoteReferenceName(name, "x").Validate() != nil {
		return fmt.Errorf("invalid remote name %q: use letters, digits, '.', '_' and '-', not starting with '-' or '.'", name)
	}
	return nil
}

// AddRemote configures a new remote (with git's default fetch refspec). It
// fails if a remote of that name exists.
func (s *Store) AddRemote(name, url string) error {
	if err := CheckRemoteName(name); err != nil {
		return fmt.Errorf("add remote: %w", err)
	}
	if strings.TrimSpace(url) == "" {
		return fmt.Errorf("add remote %s: empty URL", name)
	}
	if strings.HasPrefix(url, "-") || strings.ContainsAny(url, "\x00\n\r") {
		return fmt.Errorf("add remote %s: invalid URL (starts with '-' or holds a control character)", name)
	}
	_, err := s.repo.CreateRemote(&config.RemoteConfig{Name: name, URLs: []string{url}})
	if errors.Is(err, gogit.ErrRemoteExists) {
		return fmt.Errorf("add remote: remote %q already exists", name)
	}
	if err != nil {
		return fmt.Errorf("add remote %s: %w", name, err)
	}
	return nil
}

// Remotes returns the configured remotes and their (first) URLs.
func (s *Store) Remotes() (map[string]string, error) {
	cfg, err := s.config()
	if err != nil {
		return nil, err
	}
	m := make(map[string]string, len(cfg.Remotes))
	for name, rc := range cfg.Remotes {
		if len(rc.URLs) > 0 {
			m[name] = rc.URLs[0]
		} else {
			m[name] = ""
		}
	}
	return m, nil
}

// PushResult describes what Push did.
type PushResult struct {
	Remote, Branch string
	From           plumbing.Hash // the remote branch before the push (zero: it did not exist)
	To             plumbing.Hash // the local branch, now also the remote's
	UpToDate       bool          // the remote already had To; nothing was sent
}

// Push sends HEAD's branch to the same branch of remote, fast-forward only.
// It first fetches the remote branch into refs/remotes/<remote>/<branch>;
// if the remote has commits the local branch does not contain, it returns
// an error wrapping ErrNonFastForward and sends nothing (it never forces).
// Pushing to an empty repository creates the branch. After a successful
// push the tracking ref and branch.<branch>.remote/merge are set.
func (s *Store) Push(ctx context.Context, remote string) (PushResult, error) {
	res := PushResult{Remote: remote}
	branch, err := s.Branch()
	if err != nil {
		return res, fmt.Errorf("push: %w", err)
	}
	res.Branch = branch
	head, ok, err := s.Head()
	if err != nil {
		return res, fmt.Errorf("push: %w", err)
	}
	if !ok {
		return res, fmt.Errorf("push: branch %s has no commits yet", branch)
	}
	res.To = head
	rem, err := s.repo.Remote(remote)
	if errors.Is(err, gogit.ErrRemoteNotFound) {
		return res, fmt.Errorf("push: %w %q (add it with `tresor remote add`)", ErrUnknownRemote, remote)
	}
	if err != nil {
		return res, fmt.Errorf("push: %w", err)
	}
	// The git CLI may have repacked since this Store was opened.
	s.objs.Reindex()

	branchRef := "refs/heads/" + branch
	trackRef := "refs/remotes/" + remote + "/" + branch
	err = rem.FetchContext(ctx, &gogit.FetchOptions{
		RemoteName: remote,
		RefSpecs:   []config.RefSpec{config.RefSpec("+" + branchRef + ":" + trackRef)},
		Tags:       gogit.NoTags,
	})
	remoteHas := true
	switch {
	case err == nil, errors.Is(err, gogit.NoErrAlreadyUpToDate):
	case errors.Is(err, transport.ErrEmptyRemoteRepository), errors.Is(err, gogit.NoMatchingRefSpecError{}):
		remoteHas = false // an empty remote, or one without our branch
	default:
		return res, fmt.Errorf("push to %s: fetching %s first: %w", remote, branch, err)
	}
	if remoteHas {
		r, ok, err := s.resolveRef(trackRef)
		if err != nil {
			return res, fmt.Errorf("push to %s: %w", remote, err)
		}
		if !ok {
			return res, fmt.Errorf("push to %s: fetch did not update %s", remote, trackRef)
		}
		res.From = r
		if r == head {
			res.UpToDate = true
			return res, s.setUpstream(branch, remote)
		}
		ff, err := s.isAncestor(r, head)
		if err != nil {
			return res, fmt.Errorf("push to %s: %w", remote, err)
		}
		if !ff {
			return res, fmt.Errorf("push to %s: %w", remote, ErrNonFastForward)
		}
	}

	err = rem.PushContext(ctx, &gogit.PushOptions{
		RemoteName: remote,
		RefSpecs:   []config.RefSpec{config.RefSpec(branchRef + ":" + branchRef)},
	})
	switch {
	case err == nil:
	case errors.Is(err, gogit.NoErrAlreadyUpToDate):
		res.UpToDate = true
	case strings.Contains(err.Error(), "non-fast-forward"):
		// The remote moved between our fetch and the push. go-git's error
		// is a plain string, hence the text match.
		return res, fmt.Errorf("push to %s: %w", remote, ErrNonFastForward)
	default:
		return res, fmt.Errorf("push to %s: %w", remote, err)
	}
	if err := s.setTrackingRef(trackRef, head); err != nil {
		return res, fmt.Errorf("push to %s succeeded, but: %w", remote, err)
	}
	return res, s.setUpstream(branch, remote)
}

// isAncestor reports whether commit a is reachable from commit b.
func (s *Store) isAncestor(a, b plumbing.Hash) (bool, error) {
	ca, err := s.readCommit(a)
	if err != nil {
		return false, err
	}
	cb, err := s.readCommit(b)
	if err != nil {
		return false, err
	}
	return ca.IsAncestor(cb)
}

// setTrackingRef points refs/remotes/<remote>/<branch> at h, through a git
// lock file like every ref we move.
func (s *Store) setTrackingRef(ref string, h plumbing.Hash) error {
	if cur, ok, err := s.resolveRef(ref); err == nil && ok && cur == h {
		return nil // go-git's push already updated it
	}
	tmpDir, err := s.tmpDir()
	if err != nil {
		return err
	}
	target := s.gitPath(ref)
	if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
		return err
	}
	tmp := filepath.Join(tmpDir, fmt.Sprintf("track-%d.ref", time.Now().UnixNano()))
	l, err := createLocked(target, tmp, []byte(h.String()+"\n"), gitLockWait)
	if err != nil {
		return err
	}
	if err := l.commit(); err != nil {
		l.release()
		return err
	}
	return nil
}

// setUpstream records remote as branch's upstream (like `git push -u`).
func (s *Store) setUpstream(branch, remote string) error {
	cfg, err := s.config()
	if err != nil {
		return err
	}
	merge := plumbing.NewBranchReferenceName(branch)
	if b, ok := cfg.Branches[branch]; ok && b.Remote == remote && b.Merge == merge {
		return nil
	}
	cfg.Branches[branch] = &config.Branch{Name: branch, Remote: remote, Merge: merge}
	if err := s.repo.SetConfig(cfg); err != nil {
		return fmt.Errorf("set upstream of %s: %w", branch, err)
	}
	return nil
}
