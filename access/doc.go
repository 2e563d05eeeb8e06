// Package access owns who may read what and the record of every read. So far
// it holds the read log; clients, grants and tokens will join it, and their
// checks will log through the same Log.Append.
//
// The read log (<vault>/.git/tresor/access.log, per clone, never pushed) is
// append-only JSON lines, one Record per read of a secret or denied attempt.
// Each line carries the sha256 of the line before it, so editing, removing
// or reordering lines breaks the chain and Verify names the first line at
// fault. If a record cannot be written, Append fails and the caller must
// refuse the read.
//
// The log never holds a secret value: a Record has no field for one. FP is a
// keyed fingerprint (HMAC under the clone's log.key) that tells value
// versions apart without revealing them; Append refuses an FP that is not
// one.
package access
