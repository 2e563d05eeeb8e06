package access

import (
	"errors"
	"strings"
	"time"
)

// ClientCLI is the client name recorded for reads made from the command line.
const ClientCLI = "cli"

// The results a Record may carry.
const (
	// ResultOK is a read that was allowed and served.
	ResultOK = "ok"
	// ResultDenied is an attempt refused by a grant or a bad token.
	ResultDenied = "denied"
	// ResultError is a read that failed for another reason (decrypt, I/O).
	ResultError = "error"
	// ResultAlert is a read of a canary entry: served, but an alarm.
	ResultAlert = "alert"
)

// MaxLineBytes caps one line of the log, newline included. Append refuses a
// longer record; Verify and Records report a longer line as damage. The cap
// also bounds how far Append reads back from the end of the file.
const MaxLineBytes = 64 << 10

// Record is one line of the read log.
//
// It deliberately has no field for a secret value: FP is a keyed fingerprint
// (see Log.Fingerprint), and Detail is for non-secret context such as the
// host of an http_request. Callers must never put a value, or any part of
// one, in Ref, Field or Detail.
type Record struct {
	Time   time.Time `json:"time"`
	Seq    uint64    `json:"seq"`
	Client string    `json:"client"`          // ClientCLI for the command line
	Op     string    `json:"op"`              // get, show, export, exec, env, inject, git-credential, http_request, ...
	Ref    string    `json:"ref"`             // entry reference, e.g. projects/mercury/openai
	Field  string    `json:"field,omitempty"` // field of the entry, when one was asked for
	FP     string    `json:"fp,omitempty"`    // Log.Fingerprint of the value version, never the value
	Result string    `json:"result"`          // ResultOK, ResultDenied, ResultError or ResultAlert
	Detail string    `json:"detail,omitempty"`
	Prev   string    `json:"prev"` // hex sha256 of the previous line, newline included; "" on the first line
}

// fpHexLen is the length of a fingerprint: 16 bytes in hex.
const fpHexLen = 32

// check reports what makes r unfit to be logged. Its messages never quote a
// field, so a damaged or hostile line cannot leak into an error.
func (r *Record) check() error {
	switch {
	case r.Client == "":
		return errors.New("client is empty")
	case r.Op == "":
		return errors.New("op is empty")
	}
	switch r.Result {
	case ResultOK, ResultDenied, ResultError, ResultAlert:
	default:
		return errors.New("result is not one of ok, denied, error, alert")
	}
	if r.FP != "" && !isFingerprint(r.FP) {
		return errors.New("fp is not a fingerprint from Log.Fingerprint (32 lower-case hex digits)")
	}
	return nil
}

func isFingerprint(s string) bool {
	if len(s) != fpHexLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Filter selects records. A zero field matches every record.
type Filter struct {
	// Client matches the client name exactly.
	Client string
	// Ref matches a reference exactly, or every reference under it when it
	// ends in "/" ("projects/mercury/").
	Ref string
	// Since matches records at or after this instant.
	Since time.Time
	// Op matches the operation exactly.
	Op string
}

func (f Filter) match(r *Record) bool {
	if f.Client != "" && r.Client != f.Client {
		return false
	}
	if f.Op != "" && r.Op != f.Op {
		return false
	}
	if f.Ref != "" {
		if strings.HasSuffix(f.Ref, "/") {
			if !strings.HasPrefix(r.Ref, f.Ref) {
				return false
			}
		} else if r.Ref != f.Ref {
			return false
		}
	}
	if !f.Since.IsZero() && r.Time.Before(f.Since) {
		return false
	}
	return true
}
