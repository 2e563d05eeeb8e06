package gitdb

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gofrs/flock"
)

// lockRetry is how often Lock retries a held vault lock.
const lockRetry = 20 * time.Millisecond

// Lock takes the vault writer lock (an flock on .git/tresor/lock, shared by
// every tresor process), waiting up to timeout, and then runs Recover to
// repair a write a crashed process left behind. It returns the function
// that releases the lock. If the lock stays busy the error wraps ErrLocked
// and reads "vault is locked by another tresor process (waited 30s)".
func (s *Store) Lock(ctx context.Context, timeout time.Duration) (unlock func(), err error) {
	if err := s.lockOnly(ctx, timeout); err != nil {
		return nil, err
	}
	var once sync.Once
	unlock = func() { once.Do(s.unlock) }
	repaired, err := s.Recover()
	s.recovered = repaired
	if err != nil {
		unlock()
		return nil, err
	}
	return unlock, nil
}

// Settle finishes or rolls back a write that a crashed process left
// behind, before a reader looks at the work tree: without it a reader
// would see a value that was never committed, which the next writer then
// rolls back. It costs one stat when there is nothing to do. When a live
// writer holds the lock, Settle waits for it (up to timeout) so that the
// reader sees a committed state.
func (s *Store) Settle(ctx context.Context, timeout time.Duration) ([]string, error) {
	if _, err := os.Lstat(s.journalPath()); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	unlock, err := s.Lock(ctx, timeout)
	if err != nil {
		return nil, err
	}
	unlock()
	return s.recovered, nil
}

// Recovered returns what the Recover run by the last Lock repaired (nil
// when there was nothing to do), for a notice to the user.
func (s *Store) Recovered() []string { return s.recovered }

// lockOnly takes the vault lock without recovering.
func (s *Store) lockOnly(ctx context.Context, timeout time.Duration) error {
	if s.flock != nil {
		return errors.New("lock vault: already held by this Store")
	}
	dir, err := s.tresorDir()
	if err != nil {
		return fmt.Errorf("lock vault: %w", err)
	}
	fl := flock.New(filepath.Join(dir, "lock"), flock.SetPermissions(0o600))
	ok, err := fl.TryLock()
	if err == nil && !ok && timeout > 0 {
		tctx, cancel := context.WithTimeout(ctx, timeout)
		ok, err = fl.TryLockContext(tctx, lockRetry)
		cancel()
		if !ok && ctx.Err() != nil {
			return fmt.Errorf("lock vault: %w", ctx.Err())
		}
	}
	if !ok {
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("lock vault: %w", err)
		}
		return fmt.Errorf("%w (waited %s)", ErrLocked, timeout)
	}
	s.flock = fl
	return nil
}

func (s *Store) unlock() {
	if s.flock != nil {
		s.flock.Unlock()
		s.flock = nil
	}
}
