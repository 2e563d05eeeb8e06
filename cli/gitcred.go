package cli

import (
	"bytes"
	"fmt"

	ucli "github.com/urfave/cli/v2"

	"github.com/tresor-dev/tresor/access"
	"github.com/tresor-dev/tresor/inject"
	"github.com/tresor-dev/tresor/repo"
)

// cmdGitCredential is a git credential helper:
//
//	git config credential.helper '!tresor git-credential'
//
// (git runs a helper name without "!" or an absolute path as
// `git credential-NAME`.)
//
// get answers from the matching entry (one read-log record, detail = host).
// store and erase change nothing: the vault is written only by its own
// commands, and a server that rejects a credential must not be able to
// delete it; erase says which entry git rejected.
func (r *runner) cmdGitCredential(c *ucli.Context) error {
	if err := args(c, 1, 1, "get|store|erase"); err != nil {
		return err
	}
	op := c.Args().First()
	switch op {
	case "get", "store", "erase":
	default:
		return nil // the protocol: ignore operations we do not know
	}
	req, err := inject.ParseCredential(r.env.Stdin)
	if err != nil {
		return fmt.Errorf("git-credential %s: %w", op, err)
	}
	if op == "store" {
		return nil
	}
	sc, err := scopeFlag(c)
	if err != nil {
		return err
	}
	s, err := r.open(c)
	if err != nil {
		if op == "erase" {
			return nil
		}
		return err
	}
	defer s.close()
	kr, err := s.unlock()
	if err != nil {
		if op == "erase" {
			return nil
		}
		return err
	}
	ans, err := inject.FindCredential(s.vault, kr, req, sc, s.ctx())
	if op == "erase" {
		if err == nil && ans != nil {
			fmt.Fprintf(r.errw(), "tresor: git says the credential from %s was rejected by %s; nothing was deleted (if it is stale: tresor rotate %s)\n", ans.Ref, req.Host, ans.Ref)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("git-credential get: %w", err)
	}
	if ans == nil {
		return nil // no entry: git asks the next helper or the user
	}
	var out bytes.Buffer
	if err := inject.WriteCredential(&out, ans.Username, ans.Password); err != nil {
		return &repo.EntryError{Ref: ans.Ref.String(), Err: fmt.Errorf("cannot be given to git: %w", err)}
	}
	result := access.ResultOK
	if ans.Canary {
		result = access.ResultAlert
	}
	if err := s.logRead("git-credential", ans.Ref, ans.Field, []byte(ans.Password), result, req.Host); err != nil {
		return err
	}
	if ans.Canary {
		fmt.Fprintf(r.errw(), "warning: %s is a canary entry; this read was recorded as an alert\n", ans.Ref)
	}
	_, err = r.out().Write(out.Bytes())
	clear(out.Bytes())
	return err
}
