package repo

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/google/renameio/v2"

	"github.com/tresor-dev/tresor/codec"
)

// trustedFile, under .git/tresor, is a copy of the recipients file as this
// device last accepted it: written by Init, by every tresor commit that
// changes the recipients file, and by Trust. It is never pushed, so a remote
// cannot change what this device trusts. A copy rather than only a hash, so
// a refusal can say who was added and who was removed.
const trustedFile = "recipients.trusted"

// TrustCommand is the command that accepts the work tree's recipients file.
const TrustCommand = "tresor team trust"

// TrustState compares the recipients file in the work tree with the one this
// device last accepted.
type TrustState struct {
	// Data is the work tree's recipients file, as read.
	Data []byte
	// Current is the work tree's recipients.
	Current []codec.Recipient
	// Trusted is the accepted set; nil when Recorded is false.
	Trusted []codec.Recipient
	// Recorded is false when this clone has accepted no recipients file
	// yet (a plain `git clone`, or a vault made by an older tresor).
	Recorded bool
	// Added and Removed are keys in one set and not the other; Relabelled
	// are keys whose member/device comment changed (it decides which key a
	// device entry is encrypted to).
	Added, Removed, Relabelled []codec.Recipient
	// Uncommitted is set when the work tree's file differs from HEAD's:
	// accepted, it is used here but teammates do not have it.
	Uncommitted bool
}

// OK reports whether the work tree's recipients are the accepted ones.
func (t *TrustState) OK() bool {
	return t.Recorded && len(t.Added) == 0 && len(t.Removed) == 0 && len(t.Relabelled) == 0
}

// IsTrusted reports whether the key, with this comment, is in the accepted set.
func (t *TrustState) IsTrusted(r codec.Recipient) bool {
	for _, x := range t.Trusted {
		if x.Key == r.Key && x.Comment == r.Comment {
			return true
		}
	}
	return false
}

// Describe says, on one line, what changed since the last accepted set.
func (t *TrustState) Describe() string {
	if !t.Recorded {
		return fmt.Sprintf("this clone has not accepted its recipients yet (%d in %s: %s)", len(t.Current), RecipientsFile, listRecipients(t.Current))
	}
	var parts []string
	if len(t.Added) > 0 {
		parts = append(parts, "added: "+listRecipients(t.Added))
	}
	if len(t.Removed) > 0 {
		parts = append(parts, "removed: "+listRecipients(t.Removed))
	}
	if len(t.Relabelled) > 0 {
		parts = append(parts, "relabelled: "+listRecipients(t.Relabelled))
	}
	if len(parts) == 0 {
		return "no change"
	}
	return strings.Join(parts, "; ")
}

// Label names a recipient for messages: its comment and key.
func Label(r codec.Recipient) string {
	c := oneLineText(r.Comment)
	if c == "" {
		c = "(no comment)"
	}
	return c + " " + oneLineText(r.Key)
}

func oneLineText(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func listRecipients(rs []codec.Recipient) string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = Label(r)
	}
	return strings.Join(out, ", ")
}

// UntrustedError refuses a write while the recipients file differs from the
// accepted one.
type UntrustedError struct{ State *TrustState }

func (e *UntrustedError) Error() string {
	return fmt.Sprintf("recipients not trusted: %s changed since this device accepted it (%s); nothing was encrypted to it. Review the change, then accept it with `%s`",
		RecipientsFile, e.State.Describe(), TrustCommand)
}

// ErrUntrusted is what errors.Is matches for an UntrustedError.
var ErrUntrusted = errors.New("recipients not trusted")

// Is makes errors.Is(err, ErrUntrusted) true.
func (e *UntrustedError) Is(target error) bool { return target == ErrUntrusted }

// Trust compares the work tree's recipients file with the accepted one.
func (v *Vault) Trust() (*TrustState, error) { return v.trust(true) }

// trust is Trust; withHead also compares the file with HEAD's, which the
// write path (checkTrust) does not need.
func (v *Vault) trust(withHead bool) (*TrustState, error) {
	data, err := v.readTracked(RecipientsFile)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", RecipientsFile, err)
	}
	cur, err := codec.ParseRecipients(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", RecipientsFile, err)
	}
	st := &TrustState{Data: data, Current: cur}
	if head, ok, err := v.db.Head(); withHead && err == nil && ok {
		if committed, found, err := v.db.ReadBlob(head, RecipientsFile); err == nil {
			st.Uncommitted = !found || !bytes.Equal(committed, data)
		}
	}
	old, err := os.ReadFile(filepath.Join(v.StateDir(), trustedFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return st, nil
	case err != nil:
		return nil, fmt.Errorf("trusted recipients: %w", err)
	}
	trusted, err := codec.ParseRecipients(old)
	if err != nil {
		// A damaged record trusts nothing: the user accepts again.
		return st, nil
	}
	st.Recorded, st.Trusted = true, trusted
	st.Added, st.Removed, st.Relabelled = diffRecipients(trusted, cur)
	return st, nil
}

// diffRecipients compares two sets by key; a key in both whose comment
// changed is relabelled. Order and duplicates do not matter.
func diffRecipients(old, cur []codec.Recipient) (added, removed, relabelled []codec.Recipient) {
	comments := func(rs []codec.Recipient) map[string]map[string]bool {
		m := map[string]map[string]bool{}
		for _, r := range rs {
			if m[r.Key] == nil {
				m[r.Key] = map[string]bool{}
			}
			m[r.Key][r.Comment] = true
		}
		return m
	}
	om, cm := comments(old), comments(cur)
	seen := map[string]bool{}
	for _, r := range cur {
		if seen[r.Key+"\n"+r.Comment] {
			continue
		}
		seen[r.Key+"\n"+r.Comment] = true
		switch {
		case om[r.Key] == nil:
			added = append(added, r)
		case !om[r.Key][r.Comment]:
			relabelled = append(relabelled, r)
		}
	}
	seen = map[string]bool{}
	for _, r := range old {
		if cm[r.Key] == nil && !seen[r.Key] {
			seen[r.Key] = true
			removed = append(removed, r)
		}
	}
	for _, s := range [][]codec.Recipient{added, removed, relabelled} {
		sort.SliceStable(s, func(i, j int) bool { return s[i].Key < s[j].Key })
	}
	return added, removed, relabelled
}

// checkTrust refuses when the work tree's recipients are not the accepted
// ones. Every write that encrypts goes through it (Prepare).
func (v *Vault) checkTrust() error {
	st, err := v.trust(false)
	if err != nil {
		return err
	}
	if !st.OK() {
		return &UntrustedError{State: st}
	}
	return nil
}

// Accept records the recipients file as this device's accepted set. data is
// the file as the user reviewed it: if the work tree now differs (changed
// while they were looking), nothing is recorded.
func (v *Vault) Accept(data []byte) error {
	cur, err := v.readTracked(RecipientsFile)
	if err != nil {
		return fmt.Errorf("%s: %w", RecipientsFile, err)
	}
	if !bytes.Equal(cur, data) {
		return fmt.Errorf("%s changed while it was being reviewed; nothing was accepted (run `%s` again)", RecipientsFile, TrustCommand)
	}
	if _, err := codec.ParseRecipients(data); err != nil {
		return fmt.Errorf("%s: %w", RecipientsFile, err)
	}
	return v.recordTrusted(data)
}

func (v *Vault) recordTrusted(data []byte) error {
	if err := os.MkdirAll(v.StateDir(), 0o700); err != nil {
		return err
	}
	if err := renameio.WriteFile(filepath.Join(v.StateDir(), trustedFile), data, 0o600); err != nil {
		return fmt.Errorf("recording trusted recipients: %w", err)
	}
	return nil
}
