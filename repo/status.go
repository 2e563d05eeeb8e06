package repo

import (
	"time"

	"github.com/tresor-dev/tresor/schemas"
)

// ExpiringWithin is how close an entry's expires date must be for Status to
// call it "expiring".
const ExpiringWithin = 30 * 24 * time.Hour

// Entry statuses, as `ls` and the MCP list_credentials tool report them.
const (
	StatusOK       = "ok"
	StatusExpired  = "expired"  // the expires date has come
	StatusExpiring = "expiring" // expires within ExpiringWithin
	StatusStale    = "stale"    // last rotated longer ago than its rotation period
)

// Status is the one rule for an entry's status. expires is the entry's
// expires field (YYYY-MM-DD; "" or unparsable: no expiry). rotateEvery is
// its rotation period as Catalog.RotateEvery gives it ("" falls back to
// vaultDefault; schemas.Never is never due). rotated is when its value last
// changed, zero when the history does not say (then it is never stale).
// Expiry wins over staleness.
func Status(expires, rotateEvery, vaultDefault string, rotated, now time.Time) string {
	if expires != "" {
		if d, err := time.Parse("2006-01-02", expires); err == nil {
			if !now.Before(d) {
				return StatusExpired
			}
			if d.Sub(now) < ExpiringWithin {
				return StatusExpiring
			}
		}
	}
	every := rotateEvery
	if every == "" {
		every = vaultDefault
	}
	if every != "" && every != schemas.Never && !rotated.IsZero() {
		if d, err := schemas.ParseDuration(every); err == nil && now.Sub(rotated) > d {
			return StatusStale
		}
	}
	return StatusOK
}

// Status is the status of a listed entry at now (see the function Status).
// An entry that could not be read has no status: "".
func (v *Vault) Status(r Row, now time.Time) string {
	if r.Meta.Err != "" {
		return ""
	}
	return Status(r.Meta.Expires, r.Meta.RotateEvery, v.Config.RotateEvery, r.Rotated, now)
}
