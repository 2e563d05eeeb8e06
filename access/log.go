package access

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/gofrs/flock"
	"github.com/google/renameio/v2/maybe"
)

// File names inside the log directory (<vault>/.git/tresor).
const (
	logName  = "access.log"
	lockName = "access.log.lock"
	keyName  = "log.key"
	// anchorName holds the sequence number and hash of the last record
	// appended, so that cutting records off the end of the log, or deleting
	// it, shows in Verify (the hash chain alone cannot show either).
	anchorName = "access.anchor"
	keySize    = 32
)

// Log is the read log of one clone: <vault>/.git/tresor/access.log.
//
// A Log is safe for use by many goroutines, and many processes (CLI
// invocations, an MCP server) may append to the same file at once: appends
// are serialised by an exclusive lock on access.log.lock.
type Log struct {
	dir   string
	path  string
	key   []byte
	clock func() time.Time

	mu   sync.Mutex // serialises this process's appends; lock serialises processes
	lock *flock.Flock
}

// Open opens the read log kept in dir (<vault>/.git/tresor), creating dir
// with mode 0700 if needed (an existing dir keeps its mode; a symlink is
// refused). The log file, access.log, is created by the first Append with
// mode 0600; Append narrows a wider mode back to 0600. The fingerprint key,
// log.key (32 random bytes, mode 0600), is created by the first Open of a
// clone; if it is open to group or others, Open refuses, naming the file and
// the chmod that fixes it. clock gives the time recorded in each record.
func Open(dir string, clock func() time.Time) (*Log, error) {
	if clock == nil {
		return nil, errors.New("access: Open needs a clock")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("access: create log directory: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return nil, fmt.Errorf("access: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("access: %s is not a directory (symlinks inside the vault are refused)", dir)
	}
	l := &Log{
		dir:   dir,
		path:  filepath.Join(dir, logName),
		clock: clock,
		lock:  flock.New(filepath.Join(dir, lockName), flock.SetPermissions(0o600)),
	}
	if l.key, err = l.loadKey(); err != nil {
		return nil, err
	}
	return l, nil
}

// Path returns the path of the log file.
func (l *Log) Path() string { return l.path }

// loadKey reads log.key, creating it under the log lock when it is missing,
// so that two processes opening a new clone at once agree on one key.
func (l *Log) loadKey() ([]byte, error) {
	path := filepath.Join(l.dir, keyName)
	key, err := readKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	if err := l.lock.Lock(); err != nil {
		return nil, fmt.Errorf("access: lock %s: %w", l.lock.Path(), err)
	}
	defer l.lock.Unlock()
	key, err = readKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	key = make([]byte, keySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("access: generate %s: %w", path, err)
	}
	if err := maybe.WriteFile(path, key, 0o600); err != nil {
		return nil, fmt.Errorf("access: write %s: %w", path, err)
	}
	return key, nil
}

func readKey(path string) ([]byte, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("access: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("access: key file %s is not a regular file (symlinks inside the vault are refused)", path)
	}
	// Windows has no permission bits to check.
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("access: key file %s is open to group or others (mode %04o); run: chmod 600 %s",
			path, fi.Mode().Perm(), path)
	}
	key, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("access: %w", err)
	}
	if len(key) != keySize {
		return nil, fmt.Errorf("access: key file %s is damaged (%d bytes, want %d); restore it, or remove it to start a new key (fingerprints already logged will no longer match)",
			path, len(key), keySize)
	}
	return key, nil
}

// Fingerprint returns the keyed fingerprint of one version of a value, for
// Record.FP: the first 16 bytes of HMAC-SHA256 under log.key, in hex (32
// characters), over ref, field and value, each preceded by its length as an
// 8-byte big-endian integer. Equal fingerprints mean the same value of the
// same ref and field; the fingerprint reveals nothing of the value without
// the key. The key is per clone, so fingerprints from two clones differ.
func (l *Log) Fingerprint(ref, field string, value []byte) string {
	mac := hmac.New(sha256.New, l.key)
	var n [8]byte
	for _, b := range [][]byte{[]byte(ref), []byte(field), value} {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		mac.Write(n[:])
		mac.Write(b)
	}
	return hex.EncodeToString(mac.Sum(nil)[:fpHexLen/2])
}

// Append writes r as the next line of the log and returns the record as
// written. It sets Time from the clock, Seq and Prev from the last line of
// the log; whatever r held there is ignored. Client, Op and Result are
// required; FP, when set, must come from Fingerprint.
//
// The line is appended under an exclusive lock on access.log.lock and
// fsynced before Append returns. If Append returns an error the record may
// not be on disk and the caller must refuse the read.
//
// A final fragment without a newline is a torn append: a writer crashed
// before its fsync, so its read was never served. Append cuts it off and
// chains from the last complete line. A fragment of MaxLineBytes or more,
// or a last line that is not a valid record, is not something Append wrote:
// Append refuses, and every read with it, until the log is repaired (see
// Verify) or moved aside to start a new log.
func (l *Log) Append(r Record) (Record, error) {
	out, err := l.AppendAll([]Record{r})
	if err != nil {
		return Record{}, err
	}
	return out[0], nil
}

// AppendAll appends rs as consecutive, chained lines under one lock and one
// fsync, and returns them as written: what a command that reveals many
// values at once (exec, env, export, inject) records, at the cost of one
// Append. Either every record is on disk when AppendAll returns nil, or the
// caller must refuse every read.
func (l *Log) AppendAll(rs []Record) ([]Record, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	for _, r := range rs {
		if err := r.check(); err != nil {
			return nil, fmt.Errorf("access: refusing to log a read: %w", err)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.lock.Lock(); err != nil {
		return nil, fmt.Errorf("access: lock %s: %w", l.lock.Path(), err)
	}
	defer l.lock.Unlock()

	f, size, err := openLog(l.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()

	last, end, err := lastLine(f, size)
	if err != nil {
		return nil, fmt.Errorf("access log %s: %w; run `tresor access verify`", l.path, err)
	}
	anc, err := l.readAnchor()
	if err != nil {
		return nil, fmt.Errorf("%w; run `tresor access verify`", err)
	}
	seq, prev := uint64(1), ""
	if last == nil && anc.seq > 0 {
		return nil, fmt.Errorf("access log %s: %s; run `tresor access verify`", l.path, anc.missing())
	}
	if last != nil {
		var lr Record
		if err := parseLine(last, &lr); err != nil || lr.Seq == 0 {
			if err == nil {
				err = errors.New("sequence number is 0")
			}
			return nil, fmt.Errorf("access log %s: the last line is not a valid record (%v); run `tresor access verify`", l.path, err)
		}
		seq, prev = lr.Seq+1, hashLine(last)
		if err := anc.checkLast(lr.Seq, prev); err != nil {
			return nil, fmt.Errorf("access log %s: %w; run `tresor access verify`", l.path, err)
		}
	}
	if end < size {
		if err := f.Truncate(end); err != nil {
			return nil, fmt.Errorf("access log %s: cut off torn final line: %w", l.path, err)
		}
	}
	// Taken under the lock, so times never go backwards along the log
	// (unless the clock does).
	now := l.clock().UTC()
	out := make([]Record, len(rs))
	var buf []byte
	for i, r := range rs {
		r.Seq, r.Prev, r.Time = seq, prev, now
		line, err := json.Marshal(&r)
		if err != nil {
			return nil, fmt.Errorf("access: encode record: %w", err)
		}
		line = append(line, '\n')
		if len(line) > MaxLineBytes {
			return nil, fmt.Errorf("access: record is %d bytes, longer than the %d a log line may hold", len(line), MaxLineBytes)
		}
		buf = append(buf, line...)
		out[i] = r
		seq, prev = seq+1, hashLine(line)
	}
	if _, err := f.Write(buf); err != nil {
		f.Truncate(end) // best effort; a torn line is cut by the next Append anyway
		return nil, fmt.Errorf("access log %s: %w", l.path, err)
	}
	if err := f.Sync(); err != nil {
		// Do not leave a record of a read that the caller will refuse.
		f.Truncate(end)
		return nil, fmt.Errorf("access log %s: fsync: %w", l.path, err)
	}
	if end == 0 {
		// A new log: make its directory entry durable too.
		if err := syncDir(l.dir); err != nil {
			return nil, fmt.Errorf("access log %s: fsync directory: %w", l.path, err)
		}
	}
	// The records are on disk; the anchor follows them. It is not fsynced:
	// after a crash it may lag the log by the records of the last appends,
	// which Verify accepts (an anchor ahead of the log is what it refuses).
	if err := l.writeAnchor(seq-1, prev); err != nil {
		return nil, err
	}
	return out, nil
}

// openLog opens the log for appending, creating it 0600. It refuses anything
// but a regular file and narrows a mode wider than 0600.
func openLog(path string) (*os.File, int64, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, 0, fmt.Errorf("access: open log: %w", err)
	}
	fi, err := checkRegular(f, path)
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&^0o600 != 0 {
		if err := f.Chmod(0o600); err != nil {
			f.Close()
			return nil, 0, fmt.Errorf("access: narrow %s to mode 0600: %w", path, err)
		}
	}
	return f, fi.Size(), nil
}

// checkRegular makes sure the open file f is the regular file at path and
// not something a symlink led to.
func checkRegular(f *os.File, path string) (fs.FileInfo, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("access: %w", err)
	}
	li, err := os.Lstat(path)
	if err != nil {
		return nil, fmt.Errorf("access: %w", err)
	}
	if !li.Mode().IsRegular() || !os.SameFile(fi, li) {
		return nil, fmt.Errorf("access: %s is not a regular file (symlinks inside the vault are refused)", path)
	}
	return fi, nil
}

// lastLine reads back from the end of f (size bytes long) to find the last
// complete line. It returns that line with its newline (nil when there is
// none) and the offset just past it, where any torn fragment begins. It
// reads at most 2*MaxLineBytes, however long the log.
func lastLine(f io.ReaderAt, size int64) (line []byte, end int64, err error) {
	const limit = 2 * MaxLineBytes // a fragment < MaxLineBytes, a line <= MaxLineBytes, one more newline
	if size == 0 {
		return nil, 0, nil
	}
	win := int64(4096)
	for {
		win = min(win, size, limit)
		off := size - win
		buf := make([]byte, win)
		if n, err := f.ReadAt(buf, off); n < len(buf) {
			return nil, 0, fmt.Errorf("read: %w", err)
		}
		i := bytes.LastIndexByte(buf, '\n')
		if i < 0 {
			if win >= MaxLineBytes {
				return nil, 0, fmt.Errorf("the final %d or more bytes have no newline, longer than any record", win)
			}
			if off == 0 {
				return nil, 0, nil // the whole file is one torn fragment
			}
		}
		if i >= 0 {
			end = off + int64(i) + 1
			if size-end >= MaxLineBytes {
				return nil, 0, fmt.Errorf("the final %d bytes have no newline, longer than any record", size-end)
			}
			if j := bytes.LastIndexByte(buf[:i], '\n'); j >= 0 || off == 0 {
				line = buf[j+1 : i+1]
				if len(line) > MaxLineBytes {
					return nil, 0, fmt.Errorf("the last line is longer than %d bytes", MaxLineBytes)
				}
				return line, end, nil
			}
		}
		if win == limit {
			return nil, 0, fmt.Errorf("the last line is longer than %d bytes", MaxLineBytes)
		}
		win *= 4
	}
}

func hashLine(line []byte) string {
	sum := sha256.Sum256(line)
	return hex.EncodeToString(sum[:])
}

// parseLine decodes one line into r and checks it. Its errors never quote
// the line.
func parseLine(line []byte, r *Record) error {
	if err := json.Unmarshal(line, r); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			return fmt.Errorf("not a JSON record: syntax error at byte %d", syn.Offset)
		case errors.As(err, &typ):
			return fmt.Errorf("not a valid record: field %q has the wrong type", typ.Field)
		default:
			return errors.New("not a valid record")
		}
	}
	return r.check()
}

func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // directories cannot be fsynced there
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// LineError is damage found at one line of the read log. Reason says what is
// wrong and never quotes the line.
type LineError struct {
	Path   string // the log file
	Line   int    // 1-based line number
	Reason string
}

// Error returns "access log PATH: line N: REASON".
func (e *LineError) Error() string {
	return fmt.Sprintf("access log %s: line %d: %s", e.Path, e.Line, e.Reason)
}

// openRead opens the log for reading; a missing log is (nil, nil).
func (l *Log) openRead() (*os.File, error) {
	f, err := os.Open(l.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("access: %w", err)
	}
	if _, err := checkRegular(f, l.path); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// eachLine calls fn with each newline-terminated line of the log (newline
// included), numbered from 1, and returns the length of any final fragment
// without a newline. It takes no lock: a line being appended meanwhile shows
// up as a fragment, or not at all.
func (l *Log) eachLine(fn func(n int, line []byte) error) (tail int, err error) {
	f, err := l.openRead()
	if f == nil || err != nil {
		return 0, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, MaxLineBytes)
	for n := 1; ; n++ {
		line, err := br.ReadSlice('\n')
		switch {
		case err == nil:
			if err := fn(n, line); err != nil {
				return 0, err
			}
		case err == io.EOF:
			return len(line), nil
		case errors.Is(err, bufio.ErrBufferFull):
			return 0, &LineError{Path: l.path, Line: n, Reason: fmt.Sprintf("longer than %d bytes", MaxLineBytes)}
		default:
			return 0, fmt.Errorf("access log %s: %w", l.path, err)
		}
	}
}

// Records returns the records that match f, oldest first. A missing log has
// no records. A torn final fragment (see Append) is skipped; a line that is
// not a valid record is a *LineError. Records does not check the chain; that
// is Verify's job.
func (l *Log) Records(f Filter) ([]Record, error) {
	var out []Record
	_, err := l.eachLine(func(n int, line []byte) error {
		var r Record
		if err := parseLine(line, &r); err != nil {
			return &LineError{Path: l.path, Line: n, Reason: err.Error()}
		}
		if f.match(&r) {
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

// Verify checks the whole log: every line is a valid record, sequence
// numbers run 1..n without a gap, and each line's Prev is the hash of the
// line before it. It returns the number of records that checked out; on
// damage the error is a *LineError naming the first line at fault (n is then
// the number of good lines before it). A missing log verifies with n = 0.
//
// A final fragment without a newline shorter than MaxLineBytes is a torn
// append (a writer crashed before its fsync, so it acknowledged no read):
// Verify neither counts it nor fails on it, and the next Append removes it.
// A longer fragment cannot be a torn append and is reported.
//
// The chain is tamper-evident, not tamper-proof: removing the last lines, or
// rewriting the log from some line onward with fresh hashes, leaves a chain
// that verifies. It shows edits, removals and reorderings in the middle.
func (l *Log) Verify() (n int, err error) {
	anc, err := l.readAnchor()
	if err != nil {
		return 0, err
	}
	if f, err := l.openRead(); err != nil {
		return 0, err
	} else if f == nil {
		if anc.seq > 0 {
			return 0, &LineError{Path: l.path, Line: 1, Reason: anc.missing()}
		}
		return 0, nil
	} else {
		f.Close()
	}
	prev := ""
	_, err = l.eachLine(func(i int, line []byte) error {
		fail := func(format string, args ...any) error {
			return &LineError{Path: l.path, Line: i, Reason: fmt.Sprintf(format, args...)}
		}
		var r Record
		if err := parseLine(line, &r); err != nil {
			return fail("%v", err)
		}
		switch {
		case i == 1 && r.Prev != "":
			return fail("hash chain broken (the first line names a previous line: lines removed from the start)")
		case i > 1 && r.Prev != prev:
			return fail("hash chain broken (line %d edited, or lines removed or reordered)", i-1)
		case r.Seq != uint64(i):
			return fail("sequence number is %d, want %d (lines removed, inserted or reordered)", r.Seq, i)
		}
		prev = hashLine(line)
		if r.Seq == anc.seq && prev != anc.hash {
			return fail("differs from the record %s holds for it (the log was rewritten from here on)", anchorName)
		}
		n = i
		return nil
	})
	if err == nil && uint64(n) < anc.seq {
		return n, &LineError{Path: l.path, Line: n + 1, Reason: fmt.Sprintf("missing: the log ends after %d records but %s records that %d were written (the end of the log was cut off)", n, anchorName, anc.seq)}
	}
	return n, err
}

// anchor is the content of access.anchor: the sequence number and line hash
// of the last record appended. The zero anchor (no file) asks nothing.
type anchor struct {
	seq  uint64
	hash string
}

// anchorLen is the fixed size of access.anchor: "v1 SEQ HASH\n" with SEQ
// as 20 digits, so that each append overwrites it in place with one write.
const anchorLen = 3 + 20 + 1 + 64 + 1

func (a anchor) missing() string {
	return fmt.Sprintf("the log is missing but %s records that %d records were written (the log was deleted; to start a new log, move both files aside)", anchorName, a.seq)
}

// checkLast checks the last record of the log (seq, hash) against the
// anchor: a log that ends before the anchor was cut off.
func (a anchor) checkLast(seq uint64, hash string) error {
	switch {
	case seq < a.seq:
		return fmt.Errorf("the log ends at record %d but %s records that %d were written (the end of the log was cut off)", seq, anchorName, a.seq)
	case seq == a.seq && hash != a.hash:
		return fmt.Errorf("the last record differs from the one %s records (the log was rewritten)", anchorName)
	}
	return nil
}

func (l *Log) anchorPath() string { return filepath.Join(l.dir, anchorName) }

// readAnchor reads access.anchor; a missing file is the zero anchor (a log
// written before anchors existed, or a new clone).
func (l *Log) readAnchor() (anchor, error) {
	path := l.anchorPath()
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return anchor{}, nil
	}
	if err != nil {
		return anchor{}, fmt.Errorf("access: %w", err)
	}
	defer f.Close()
	if _, err := checkRegular(f, path); err != nil {
		return anchor{}, err
	}
	buf := make([]byte, anchorLen+1)
	n, _ := io.ReadFull(f, buf)
	a, ok := parseAnchor(buf[:n])
	if !ok {
		return anchor{}, fmt.Errorf("access: anchor file %s is damaged (want %d bytes \"v1 SEQ HASH\")", path, anchorLen)
	}
	return a, nil
}

func parseAnchor(b []byte) (anchor, bool) {
	if len(b) != anchorLen || string(b[:3]) != "v1 " || b[23] != ' ' || b[anchorLen-1] != '\n' {
		return anchor{}, false
	}
	var a anchor
	for _, c := range b[3:23] {
		if c < '0' || c > '9' {
			return anchor{}, false
		}
		if a.seq > (1<<64-1-uint64(c-'0'))/10 {
			return anchor{}, false
		}
		a.seq = a.seq*10 + uint64(c-'0')
	}
	h := b[24 : anchorLen-1]
	if _, err := hex.DecodeString(string(h)); err != nil || string(h) != string(bytes.ToLower(h)) {
		return anchor{}, false
	}
	a.hash = string(h)
	return a, true
}

// writeAnchor records seq and hash as the last record appended, overwriting
// access.anchor in place (one write of a fixed size).
func (l *Log) writeAnchor(seq uint64, hash string) error {
	path := l.anchorPath()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("access: write anchor: %w", err)
	}
	defer f.Close()
	if _, err := checkRegular(f, path); err != nil {
		return err
	}
	line := fmt.Sprintf("v1 %020d %s\n", seq, hash)
	if _, err := f.WriteAt([]byte(line), 0); err != nil {
		return fmt.Errorf("access: write anchor %s: %w", path, err)
	}
	return nil
}
