package access

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeValue is what a secret looks like in these tests; it must never reach
// the log or an error.
const fakeValue = "sk-test-FAKE0000000000000000000000000000"

var epoch = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// stepClock returns a clock that starts at epoch and moves one second per
// call; safe for concurrent use.
func stepClock() func() time.Time {
	var n atomic.Int64
	return func() time.Time { return epoch.Add(time.Duration(n.Add(1)-1) * time.Second) }
}

func openTest(t testing.TB) *Log {
	t.Helper()
	l, err := Open(filepath.Join(t.TempDir(), "tresor"), stepClock())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func read(client, op, ref string) Record {
	return Record{Client: client, Op: op, Ref: ref, Result: ResultOK}
}

func mustAppend(t testing.TB, l *Log, r Record) Record {
	t.Helper()
	got, err := l.Append(r)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func logLines(t *testing.T, l *Log) [][]byte {
	t.Helper()
	data, err := os.ReadFile(l.Path())
	if err != nil {
		t.Fatal(err)
	}
	return bytes.SplitAfter(data, []byte("\n"))
}

func writeLines(t *testing.T, l *Log, lines [][]byte) {
	t.Helper()
	if err := os.WriteFile(l.Path(), bytes.Join(lines, nil), 0o600); err != nil {
		t.Fatal(err)
	}
}

func verifyOK(t *testing.T, l *Log, want int) {
	t.Helper()
	n, err := l.Verify()
	if err != nil || n != want {
		t.Fatalf("Verify() = %d, %v; want %d, nil", n, err, want)
	}
}

func TestOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "vault", ".git", "tresor")
	l, err := Open(dir, stepClock())
	if err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(filepath.Join(dir, "log.key"))
	if err != nil || len(key) != 32 {
		t.Fatalf("log.key: %d bytes, %v; want 32", len(key), err)
	}
	if _, err := os.Stat(l.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open created the log before any read: %v", err)
	}
	// A second Open of the same clone uses the same key.
	l2, err := Open(dir, stepClock())
	if err != nil {
		t.Fatal(err)
	}
	if a, b := l.Fingerprint("global/x", "", []byte(fakeValue)), l2.Fingerprint("global/x", "", []byte(fakeValue)); a != b {
		t.Errorf("fingerprints differ across opens: %s, %s", a, b)
	}
	if _, err := Open(dir, nil); err == nil {
		t.Error("Open with a nil clock succeeded")
	}
	if n, err := l.Verify(); n != 0 || err != nil {
		t.Errorf("Verify of a missing log = %d, %v", n, err)
	}
	if rs, err := l.Records(Filter{}); len(rs) != 0 || err != nil {
		t.Errorf("Records of a missing log = %v, %v", rs, err)
	}
}

func TestAppend(t *testing.T) {
	l := openTest(t)
	fp := l.Fingerprint("projects/mercury/openai", "", []byte(fakeValue))
	in := []Record{
		{Client: ClientCLI, Op: "get", Ref: "projects/mercury/openai", FP: fp, Result: ResultOK},
		{Client: "claude-code", Op: "http_request", Ref: "projects/mercury/openai", FP: fp, Result: ResultOK, Detail: "api.openai.com"},
		{Client: "cursor", Op: "get_credential", Ref: "global/github", Result: ResultDenied, Detail: "no reveal grant"},
		{Client: ClientCLI, Op: "show", Ref: "global/db", Field: "password", Result: ResultError, Detail: "decrypt: wrong identity"},
		{Client: "claude-code", Op: "get", Ref: "global/canary", Result: ResultAlert},
		// Caller-supplied Time, Seq and Prev are replaced.
		{Client: ClientCLI, Op: "env", Ref: "global/x", Result: ResultOK, Seq: 99, Prev: "bogus", Time: time.Unix(1, 0)},
	}
	var out []Record
	prev := ""
	for i, r := range in {
		got := mustAppend(t, l, r)
		want := r
		want.Seq = uint64(i + 1)
		want.Prev = prev
		want.Time = epoch.Add(time.Duration(i) * time.Second)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Append #%d = %+v\nwant %+v", i+1, got, want)
		}
		lines := logLines(t, l)
		prev = hashLine(lines[i])
		out = append(out, got)
	}
	got, err := l.Records(Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, out) {
		t.Errorf("Records = %+v\nwant %+v", got, out)
	}
	verifyOK(t, l, len(in))
	data, _ := os.ReadFile(l.Path())
	if bytes.Contains(data, []byte(fakeValue)) || bytes.Contains(data, []byte("sk-test")) {
		t.Error("the log holds the value")
	}
}

func TestAppendRefuses(t *testing.T) {
	ok := read(ClientCLI, "get", "global/x")
	with := func(f func(*Record)) Record { r := ok; f(&r); return r }
	cases := []struct {
		name string
		r    Record
		want string
	}{
		{"no client", with(func(r *Record) { r.Client = "" }), "client is empty"},
		{"no op", with(func(r *Record) { r.Op = "" }), "op is empty"},
		{"no result", with(func(r *Record) { r.Result = "" }), "result is not one of"},
		{"unknown result", with(func(r *Record) { r.Result = "maybe" }), "result is not one of"},
		{"value as fp", with(func(r *Record) { r.FP = fakeValue }), "fp is not a fingerprint"},
		{"upper-case fp", with(func(r *Record) { r.FP = strings.Repeat("AB", 16) }), "fp is not a fingerprint"},
		{"huge detail", with(func(r *Record) { r.Detail = strings.Repeat("d", MaxLineBytes) }), "longer than"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := openTest(t)
			mustAppend(t, l, ok)
			_, err := l.Append(c.r)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Append = %v; want error containing %q", err, c.want)
			}
			if strings.Contains(err.Error(), fakeValue) {
				t.Errorf("error quotes the value: %v", err)
			}
			verifyOK(t, l, 1)
		})
	}
}

// An Append that cannot write must fail, so that the caller refuses the read.
func TestAppendFailsWhenLogUnwritable(t *testing.T) {
	l := openTest(t)
	if err := os.Mkdir(l.Path(), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(read(ClientCLI, "get", "global/x")); err == nil {
		t.Fatal("Append succeeded with a directory in place of the log")
	}
}

func TestFingerprint(t *testing.T) {
	l := openTest(t)
	base := l.Fingerprint("global/db", "password", []byte(fakeValue))
	if !isFingerprint(base) {
		t.Fatalf("Fingerprint = %q; want 32 lower-case hex digits", base)
	}
	if again := l.Fingerprint("global/db", "password", []byte(fakeValue)); again != base {
		t.Errorf("Fingerprint not deterministic: %s, %s", base, again)
	}
	if strings.Contains(base, fakeValue) {
		t.Error("fingerprint holds the value")
	}
	differ := []struct {
		name              string
		ref, field, value string
	}{
		{"other value", "global/db", "password", fakeValue + "1"},
		{"other field", "global/db", "user", fakeValue},
		{"other ref", "global/db2", "password", fakeValue},
		// Length prefixes keep the parts from sliding into each other.
		{"shifted boundary", "global/dbp", "assword", fakeValue},
		{"shifted into value", "global/db", "passwordsk", fakeValue[2:]},
	}
	for _, d := range differ {
		if got := l.Fingerprint(d.ref, d.field, []byte(d.value)); got == base {
			t.Errorf("%s: same fingerprint %s", d.name, got)
		}
	}
	if other := openTest(t).Fingerprint("global/db", "password", []byte(fakeValue)); other == base {
		t.Error("two clones with different keys gave the same fingerprint")
	}
}

func TestRecordsFilter(t *testing.T) {
	l := openTest(t)
	in := []Record{
		read(ClientCLI, "get", "projects/mercury/openai"),          // 09:00:00
		read("claude-code", "http_request", "projects/mercury/gh"), // 09:00:01
		read("claude-code", "get", "projects/mercury2/openai"),     // 09:00:02
		read(ClientCLI, "exec", "global/github"),                   // 09:00:03
		read("cursor", "get", "projects/mercury"),                  // 09:00:04
	}
	for _, r := range in {
		mustAppend(t, l, r)
	}
	cases := []struct {
		name string
		f    Filter
		want []uint64
	}{
		{"all", Filter{}, []uint64{1, 2, 3, 4, 5}},
		{"client", Filter{Client: "claude-code"}, []uint64{2, 3}},
		{"ref exact", Filter{Ref: "projects/mercury/openai"}, []uint64{1}},
		{"ref exact is not a prefix", Filter{Ref: "projects/mercury"}, []uint64{5}},
		{"ref prefix", Filter{Ref: "projects/mercury/"}, []uint64{1, 2}},
		{"since", Filter{Since: epoch.Add(3 * time.Second)}, []uint64{4, 5}},
		{"since is inclusive, any zone", Filter{Since: epoch.Add(3 * time.Second).In(time.FixedZone("X", 3600))}, []uint64{4, 5}},
		{"op", Filter{Op: "get"}, []uint64{1, 3, 5}},
		{"combined", Filter{Client: ClientCLI, Op: "get", Ref: "projects/"}, []uint64{1}},
		{"none", Filter{Client: "nobody"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rs, err := l.Records(c.f)
			if err != nil {
				t.Fatal(err)
			}
			var got []uint64
			for _, r := range rs {
				got = append(got, r.Seq)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("seqs = %v; want %v", got, c.want)
			}
		})
	}
}

func TestVerifyTamper(t *testing.T) {
	const n = 10
	editJSON := func(line []byte, f func(map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			panic(err)
		}
		f(m)
		out, _ := json.Marshal(m)
		return append(out, '\n')
	}
	// Each case changes lines (index 0 = line 1).
	cases := []struct {
		name     string
		tamper   func(lines [][]byte) [][]byte
		wantLine int
		want     string
	}{
		{"edit ref", func(ls [][]byte) [][]byte {
			ls[3] = bytes.Replace(ls[3], []byte("global/e3"), []byte("global/eX"), 1)
			return ls
		}, 5, "line 5: hash chain broken (line 4 edited"},
		{"edit client via JSON", func(ls [][]byte) [][]byte {
			ls[6] = editJSON(ls[6], func(m map[string]any) { m["client"] = "someone-else" })
			return ls
		}, 8, "line 8: hash chain broken (line 7 edited"},
		{"delete a middle line", func(ls [][]byte) [][]byte {
			return append(ls[:4:4], ls[5:]...)
		}, 5, "line 5: hash chain broken"},
		{"delete the first line", func(ls [][]byte) [][]byte { return ls[1:] }, 1, "line 1: hash chain broken (the first line names a previous line"},
		{"reorder two lines", func(ls [][]byte) [][]byte {
			ls[2], ls[3] = ls[3], ls[2]
			return ls
		}, 3, "line 3: hash chain broken"},
		{"duplicate a line", func(ls [][]byte) [][]byte {
			return append(ls[:6:6], append([][]byte{ls[5]}, ls[6:]...)...)
		}, 7, "line 7: hash chain broken"},
		{"change seq", func(ls [][]byte) [][]byte {
			ls[5] = bytes.Replace(ls[5], []byte(`"seq":6,`), []byte(`"seq":7,`), 1)
			return ls
		}, 6, "line 6: sequence number is 7, want 6"},
		{"seq renumbered after a deletion, chain fixed up", func(ls [][]byte) [][]byte {
			// Drop line 5 and relink line 6 to line 4 without renumbering.
			ls[5] = editJSON(ls[5], func(m map[string]any) { m["prev"] = hashLine(ls[3]) })
			return append(ls[:4:4], ls[5:]...)
		}, 5, "line 5: sequence number is 6, want 5"},
		{"garbage line", func(ls [][]byte) [][]byte {
			ls[2] = []byte("{\"time\": \"" + fakeValue + "\n")
			return ls
		}, 3, "line 3: not a JSON record"},
		{"wrong type", func(ls [][]byte) [][]byte {
			ls[2] = editJSON(ls[2], func(m map[string]any) { m["seq"] = "three" })
			return ls
		}, 3, `line 3: not a valid record: field "seq" has the wrong type`},
		{"bad time", func(ls [][]byte) [][]byte {
			ls[2] = editJSON(ls[2], func(m map[string]any) { m["time"] = fakeValue })
			return ls
		}, 3, "line 3: not a valid record"},
		{"bad result", func(ls [][]byte) [][]byte {
			ls[8] = editJSON(ls[8], func(m map[string]any) { m["result"] = fakeValue })
			return ls
		}, 9, "line 9: result is not one of"},
		{"value smuggled into fp", func(ls [][]byte) [][]byte {
			ls[8] = editJSON(ls[8], func(m map[string]any) { m["fp"] = fakeValue })
			return ls
		}, 9, "line 9: fp is not a fingerprint"},
		{"blank line", func(ls [][]byte) [][]byte {
			return append(ls[:2:2], append([][]byte{[]byte("\n")}, ls[2:]...)...)
		}, 3, "line 3: not a JSON record"},
		{"overlong line", func(ls [][]byte) [][]byte {
			ls[1] = append(bytes.Repeat([]byte("x"), MaxLineBytes), '\n')
			return ls
		}, 2, "line 2: longer than"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := openTest(t)
			for i := range n {
				mustAppend(t, l, read(ClientCLI, "get", fmt.Sprintf("global/e%d", i)))
			}
			lines := logLines(t, l)
			lines = lines[:len(lines)-1] // the empty piece after the last newline
			writeLines(t, l, c.tamper(lines))

			got, err := l.Verify()
			var le *LineError
			if !errors.As(err, &le) {
				t.Fatalf("Verify() = %d, %v; want a *LineError", got, err)
			}
			if le.Line != c.wantLine || got != c.wantLine-1 {
				t.Errorf("Verify() = %d, line %d; want %d, line %d", got, le.Line, c.wantLine-1, c.wantLine)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not contain %q", err, c.want)
			}
			if !strings.Contains(err.Error(), l.Path()) {
				t.Errorf("error %q does not name the log file", err)
			}
			if strings.Contains(err.Error(), fakeValue) {
				t.Errorf("error quotes the line: %v", err)
			}
		})
	}
}

func TestTornTail(t *testing.T) {
	full, _ := json.Marshal(read(ClientCLI, "get", "global/next"))
	cases := []struct {
		name     string
		before   int    // complete records before the fragment
		fragment []byte // written after them, no newline
	}{
		{"half a record", 3, full[:len(full)/2]},
		{"a whole record missing only its newline", 3, full},
		{"zero-filled blocks after a crash", 3, make([]byte, 4096)},
		{"one byte", 1, []byte("{")},
		{"the whole file is torn", 0, full[:10]},
		{"fragment longer than the first read window", 2, bytes.Repeat([]byte("y"), 9000)},
		{"longest fragment that can be torn", 2, bytes.Repeat([]byte("y"), MaxLineBytes-1)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := openTest(t)
			var last Record
			for i := range c.before {
				last = mustAppend(t, l, read(ClientCLI, "get", fmt.Sprintf("global/e%d", i)))
			}
			var complete []byte
			if c.before > 0 {
				complete, _ = os.ReadFile(l.Path())
			}
			f, err := os.OpenFile(l.Path(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			f.Write(c.fragment)
			f.Close()

			// Verify accepts the torn append and does not count it.
			verifyOK(t, l, c.before)
			if rs, err := l.Records(Filter{}); err != nil || len(rs) != c.before {
				t.Fatalf("Records = %d records, %v; want %d", len(rs), err, c.before)
			}

			got := mustAppend(t, l, read(ClientCLI, "get", "global/after"))
			if got.Seq != uint64(c.before+1) {
				t.Errorf("seq after torn tail = %d; want %d", got.Seq, c.before+1)
			}
			wantPrev := ""
			if c.before > 0 {
				lines := bytes.SplitAfter(complete, []byte("\n"))
				wantPrev = hashLine(lines[len(lines)-2])
				if last.Seq != uint64(c.before) {
					t.Fatal("setup")
				}
			}
			if got.Prev != wantPrev {
				t.Errorf("prev after torn tail = %q; want the hash of the last complete line", got.Prev)
			}
			data, _ := os.ReadFile(l.Path())
			if !bytes.HasPrefix(data, complete) || bytes.Count(data, []byte("\n")) != c.before+1 {
				t.Errorf("torn fragment not cut off cleanly:\n%q", data)
			}
			verifyOK(t, l, c.before+1)
		})
	}
}

// Damage that is not a torn append: Append must refuse (and with it the
// read) rather than chain from garbage, and Verify must report it.
func TestAppendRefusesDamagedTail(t *testing.T) {
	cases := []struct {
		name    string
		tail    []byte
		wantApp string
	}{
		{"fragment of MaxLineBytes", bytes.Repeat([]byte("z"), MaxLineBytes), "no newline, longer than any record"},
		{"complete garbage line", []byte("not json\n"), "the last line is not a valid record"},
		{"valid JSON, not a record", []byte("{}\n"), "the last line is not a valid record"},
		{"seq 0", []byte(`{"time":"2026-03-01T09:00:00Z","seq":0,"client":"cli","op":"get","ref":"x","result":"ok","prev":""}` + "\n"), "sequence number is 0"},
		{"overlong last line", append(bytes.Repeat([]byte("z"), MaxLineBytes+10), '\n'), "longer than"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := openTest(t)
			mustAppend(t, l, read(ClientCLI, "get", "global/a"))
			f, _ := os.OpenFile(l.Path(), os.O_WRONLY|os.O_APPEND, 0o600)
			f.Write(c.tail)
			f.Close()
			before, _ := os.ReadFile(l.Path())

			_, err := l.Append(read(ClientCLI, "get", "global/b"))
			if err == nil || !strings.Contains(err.Error(), c.wantApp) || !strings.Contains(err.Error(), "tresor access verify") {
				t.Fatalf("Append = %v; want a refusal containing %q", err, c.wantApp)
			}
			if after, _ := os.ReadFile(l.Path()); !bytes.Equal(before, after) {
				t.Error("a refused Append changed the log")
			}
			if _, err := l.Verify(); err == nil {
				t.Error("Verify passed a damaged log")
			}
		})
	}
}

// lastLine must read a bounded window from the end, whatever the log's size.
func TestLastLineReadsOnlyTheEnd(t *testing.T) {
	const n = 10_000
	valid := chain(n)
	lines := bytes.SplitAfter(valid, []byte("\n"))
	data := append(valid, `{"time":"2026`...) // and a torn fragment
	ra := &countingReaderAt{r: bytes.NewReader(data)}
	line, end, err := lastLine(ra, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if end != int64(len(valid)) || !bytes.Equal(line, lines[n-1]) {
		t.Errorf("lastLine = %q, %d; want line %d ending at %d", line, end, n, len(valid))
	}
	if ra.n > 4096 {
		t.Errorf("lastLine read %d bytes of a %d-byte log; want one 4 KiB window", ra.n, len(data))
	}
}

type countingReaderAt struct {
	r interface {
		ReadAt([]byte, int64) (int, error)
	}
	n int
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	c.n += len(p)
	return c.r.ReadAt(p, off)
}

func TestLastLine(t *testing.T) {
	long := append(bytes.Repeat([]byte("L"), 20000), '\n')
	cases := []struct {
		name     string
		data     []byte
		wantLine string
		wantEnd  int
		wantErr  bool
	}{
		{"empty", nil, "", 0, false},
		{"one line", []byte("a\n"), "a\n", 2, false},
		{"two lines", []byte("a\nbb\n"), "bb\n", 5, false},
		{"torn only", []byte("abc"), "", 0, false},
		{"torn after lines", []byte("a\nbb\ncc"), "bb\n", 5, false},
		{"long last line grows the window", append([]byte("a\n"), long...), string(long), 2 + len(long), false},
		{"long first line", long, string(long), len(long), false},
		{"long line then torn", append(append([]byte("a\n"), long...), "xy"...), string(long), 2 + len(long), false},
		{"line of exactly MaxLineBytes", append(append([]byte("a\n"), bytes.Repeat([]byte("M"), MaxLineBytes-1)...), '\n'), strings.Repeat("M", MaxLineBytes-1) + "\n", 2 + MaxLineBytes, false},
		{"line over MaxLineBytes", append(append([]byte("a\n"), bytes.Repeat([]byte("M"), MaxLineBytes)...), '\n'), "", 0, true},
		{"fragment over the limit", append([]byte("a\n"), bytes.Repeat([]byte("F"), MaxLineBytes)...), "", 0, true},
		{"file of one huge fragment", bytes.Repeat([]byte("F"), 3*MaxLineBytes), "", 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			line, end, err := lastLine(bytes.NewReader(c.data), int64(len(c.data)))
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v; want error %v", err, c.wantErr)
			}
			if err == nil && (string(line) != c.wantLine || end != int64(c.wantEnd)) {
				t.Errorf("lastLine = %.40q, %d; want %.40q, %d", line, end, c.wantLine, c.wantEnd)
			}
		})
	}
}

func TestConcurrentGoroutines(t *testing.T) {
	const workers, each = 8, 50
	dir := filepath.Join(t.TempDir(), "tresor")
	clock := stepClock()
	// Two Log values on one file: goroutines contend on the in-process mutex
	// and, across the two, on the file lock.
	var logs [2]*Log
	for i := range logs {
		var err error
		if logs[i], err = Open(dir, clock); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			l := logs[w%2]
			for i := range each {
				if _, err := l.Append(read(fmt.Sprintf("client-%d", w), "get", fmt.Sprintf("global/e%d", i))); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	verifyOK(t, logs[0], workers*each)
	for w := range workers {
		rs, err := logs[1].Records(Filter{Client: fmt.Sprintf("client-%d", w)})
		if err != nil || len(rs) != each {
			t.Errorf("client-%d: %d records, %v; want %d", w, len(rs), err, each)
		}
	}
}

const helperEnv = "TRESOR_ACCESS_TEST_HELPER"

// TestHelperProcess is not a test: TestConcurrentProcesses runs the test
// binary again with helperEnv set, and each copy appends to the shared log.
func TestHelperProcess(t *testing.T) {
	spec := os.Getenv(helperEnv)
	if spec == "" {
		return
	}
	// spec is "dir|client|count"
	parts := strings.Split(spec, "|")
	count, _ := strconv.Atoi(parts[2])
	l, err := Open(parts[0], time.Now)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for i := range count {
		if _, err := l.Append(read(parts[1], "get", fmt.Sprintf("global/e%d", i))); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
	}
	// Report which key this process used.
	fmt.Println(l.Fingerprint("global/x", "", []byte(fakeValue)))
	os.Exit(0)
}

func TestConcurrentProcesses(t *testing.T) {
	const procs, each = 4, 50
	dir := filepath.Join(t.TempDir(), "tresor")
	// No Open before the children start: they race to create the key too.
	var cmds []*exec.Cmd
	outs := make([]*bytes.Buffer, procs)
	for p := range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s|proc-%d|%d", helperEnv, dir, p, each))
		outs[p] = new(bytes.Buffer)
		cmd.Stdout = outs[p]
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	// This process appends at the same time.
	l, err := Open(dir, stepClock())
	if err != nil {
		t.Fatal(err)
	}
	for i := range each {
		mustAppend(t, l, read("parent", "get", fmt.Sprintf("global/e%d", i)))
	}
	for p, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("helper %d: %v", p, err)
		}
	}
	verifyOK(t, l, (procs+1)*each)
	for p := range procs {
		rs, err := l.Records(Filter{Client: fmt.Sprintf("proc-%d", p)})
		if err != nil || len(rs) != each {
			t.Errorf("proc-%d: %d records, %v; want %d", p, len(rs), err, each)
		}
	}
	// All processes agreed on one key, though they raced to create it.
	want := l.Fingerprint("global/x", "", []byte(fakeValue))
	for p, out := range outs {
		if got := strings.TrimSpace(out.String()); got != want {
			t.Errorf("proc-%d fingerprinted with another key: %q, want %q", p, got, want)
		}
	}
}

// The hash chain cannot show records cut off the end, or the whole log
// deleted; access.anchor, rewritten by every append, does.
func TestAnchorDetectsTruncationAndDeletion(t *testing.T) {
	cases := []struct {
		name    string
		tamper  func(t *testing.T, l *Log, lines [][]byte)
		want    string
		wantN   int
		wantApp string
	}{
		{"last line cut off", func(t *testing.T, l *Log, ls [][]byte) { writeLines(t, l, ls[:4]) },
			"line 5: missing: the log ends after 4 records but access.anchor records that 5 were written", 4, "ends at record 4"},
		{"all but the first line cut off", func(t *testing.T, l *Log, ls [][]byte) { writeLines(t, l, ls[:1]) },
			"line 2: missing: the log ends after 1 records", 1, "ends at record 1"},
		{"emptied", func(t *testing.T, l *Log, ls [][]byte) { writeLines(t, l, nil) },
			"line 1: missing", 0, "the log is missing"},
		{"deleted", func(t *testing.T, l *Log, ls [][]byte) { os.Remove(l.Path()) },
			"the log is missing but access.anchor records that 5 records were written", 0, "the log is missing"},
		{"last line rewritten with a valid chain", func(t *testing.T, l *Log, ls [][]byte) {
			ls[4] = bytes.Replace(ls[4], []byte("global/e4"), []byte("global/eX"), 1)
			writeLines(t, l, ls)
		}, "line 5: differs from the record access.anchor holds", 4, "the last record differs"},
		{"anchor damaged", func(t *testing.T, l *Log, ls [][]byte) {
			os.WriteFile(filepath.Join(filepath.Dir(l.Path()), "access.anchor"), []byte("v1 garbage\n"), 0o600)
		}, "anchor file", 0, "anchor file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := openTest(t)
			for i := range 5 {
				mustAppend(t, l, read(ClientCLI, "get", fmt.Sprintf("global/e%d", i)))
			}
			lines := logLines(t, l)
			c.tamper(t, l, lines[:len(lines)-1])
			n, err := l.Verify()
			if err == nil || !strings.Contains(err.Error(), c.want) || n != c.wantN {
				t.Fatalf("Verify() = %d, %v; want %d, an error containing %q", n, err, c.wantN, c.want)
			}
			// Append refuses too: a new log must not paper over the loss.
			before, _ := os.ReadFile(l.Path())
			if _, err := l.Append(read(ClientCLI, "get", "global/next")); err == nil || !strings.Contains(err.Error(), c.wantApp) {
				t.Fatalf("Append after tampering = %v; want a refusal containing %q", err, c.wantApp)
			}
			if after, _ := os.ReadFile(l.Path()); !bytes.Equal(before, after) {
				t.Error("a refused Append changed the log")
			}
		})
	}
}

// A crash between the log's fsync and the anchor's write leaves the anchor
// one append behind: that is not damage. A log from before anchors existed
// (no anchor file) verifies, and its next append creates the anchor.
func TestAnchorLagAndMissingAnchor(t *testing.T) {
	l := openTest(t)
	for i := range 3 {
		mustAppend(t, l, read(ClientCLI, "get", fmt.Sprintf("global/e%d", i)))
	}
	anc := filepath.Join(filepath.Dir(l.Path()), "access.anchor")
	old, err := os.ReadFile(anc)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, read(ClientCLI, "get", "global/e3"))
	if err := os.WriteFile(anc, old, 0o600); err != nil {
		t.Fatal(err)
	}
	if n, err := l.Verify(); n != 4 || err != nil {
		t.Fatalf("Verify with a lagging anchor = %d, %v; want 4, nil", n, err)
	}
	mustAppend(t, l, read(ClientCLI, "get", "global/e4"))
	os.Remove(anc)
	if n, err := l.Verify(); n != 5 || err != nil {
		t.Fatalf("Verify without an anchor = %d, %v; want 5, nil", n, err)
	}
	mustAppend(t, l, read(ClientCLI, "get", "global/e5"))
	writeLines(t, l, logLines(t, l)[:5])
	if _, err := l.Verify(); err == nil {
		t.Fatal("the anchor was not recreated by the next append")
	}
}
