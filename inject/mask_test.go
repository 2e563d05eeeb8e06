package inject

import (
	"bytes"
	"fmt"
	"io"
	"math/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tresor-dev/tresor/repo"
)

func testVar(name, value string) Var {
	return Var{Name: name, Value: value, Ref: repo.Ref{Scope: repo.GlobalScope, Name: strings.ToLower(name)}}
}

// naiveMask is the reference: leftmost-longest, one pass per position.
func naiveMask(s string, vars []Var) string {
	type pat struct{ p, label string }
	var pats []pat
	for _, v := range vars {
		if len(v.Value) >= MinMaskLen {
			pats = append(pats, pat{v.Value, v.Label()})
		}
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		best := -1
		for j, p := range pats {
			if strings.HasPrefix(s[i:], p.p) && (best < 0 || len(p.p) > len(pats[best].p)) {
				best = j
			}
		}
		if best < 0 {
			b.WriteByte(s[i])
			i++
			continue
		}
		b.WriteString(pats[best].label)
		i += len(pats[best].p)
	}
	return b.String()
}

// syncBuffer is a bytes.Buffer safe for the idle-flush goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestMaskMatchesNaive: whatever the secrets (prefixes of each other,
// overlapping, repeated) and however the stream is cut into writes, the
// output is the reference masking of the whole text.
func TestMaskMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	for iter := 0; iter < 3000; iter++ {
		var vars []Var
		for i := 0; i < 1+r.Intn(5); i++ {
			v := make([]byte, MinMaskLen+r.Intn(4))
			for j := range v {
				v[j] = "abc"[r.Intn(3)]
			}
			vars = append(vars, testVar(fmt.Sprintf("V%d", i), string(v)))
		}
		text := make([]byte, r.Intn(80))
		for j := range text {
			text[j] = "abcd"[r.Intn(4)]
		}
		m, err := NewMasker(vars)
		if err != nil {
			t.Fatal(err)
		}
		// Duplicate values keep the first label, like the masker.
		want := naiveMask(string(text), dedupe(vars))
		var out bytes.Buffer
		w := m.Writer(&out)
		w.idle = time.Hour
		for rest := text; len(rest) > 0; {
			n := 1 + r.Intn(len(rest))
			w.Write(rest[:n])
			rest = rest[n:]
		}
		w.Close()
		if out.String() != want {
			t.Fatalf("secrets %v text %q:\ngot  %q\nwant %q", values(vars), text, out.String(), want)
		}
	}
}

func dedupe(vars []Var) []Var {
	seen := map[string]bool{}
	var out []Var
	for _, v := range vars {
		if !seen[v.Value] {
			seen[v.Value] = true
			out = append(out, v)
		}
	}
	return out
}

func values(vars []Var) []string {
	var s []string
	for _, v := range vars {
		s = append(s, v.Value)
	}
	return s
}

// TestMaskSplitWrites: a secret cut across two writes is still masked, the
// text around it stays in order, and what cannot be a secret is written at
// once (the line before the secret is out before the secret's second half
// is written).
func TestMaskSplitWrites(t *testing.T) {
	vars := []Var{testVar("OPENAI_API_KEY", "sk-test-FAKE-0123456789abcdef"), testVar("GH", "ghp_FAKE0000000000000000000000000000")}
	m, err := NewMasker(vars)
	if err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	w := m.Writer(&out)
	w.idle = time.Hour
	w.Write([]byte("line 1\nkey: sk-test-FAKE-0123"))
	if got := out.String(); got != "line 1\nkey: " {
		t.Fatalf("before the second half: %q", got)
	}
	w.Write([]byte("456789abcdef done\ngh"))
	w.Write([]byte("p_FAKE0000000000000000000000000000"))
	w.Write([]byte("\nsk-test-FAKE-x\n"))
	w.Close()
	want := "line 1\nkey: <redacted:global/openai_api_key> done\n<redacted:global/gh>\nsk-test-FAKE-x\n"
	if out.String() != want {
		t.Fatalf("got %q\nwant %q", out.String(), want)
	}
}

// TestMaskIdleFlush: a tail that only looks like the start of a secret
// (a prompt) appears after the idle delay without another write.
func TestMaskIdleFlush(t *testing.T) {
	m, _ := NewMasker([]Var{testVar("K", "Password-FAKE-1234")})
	var out syncBuffer
	w := m.Writer(&out)
	w.idle = 5 * time.Millisecond
	w.Write([]byte("Enter Pass"))
	if got := out.String(); got != "Enter " {
		t.Fatalf("held back too much: %q", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for out.String() != "Enter Pass" {
		if time.Now().After(deadline) {
			t.Fatalf("idle flush never came: %q", out.String())
		}
		time.Sleep(time.Millisecond)
	}
	w.Close()

	// A longer beginning of a secret is not a prompt: it stays held through
	// a pause and is masked when the rest comes.
	var out2 syncBuffer
	w = m.Writer(&out2)
	w.idle = time.Millisecond
	w.Write([]byte("key: Password-FA"))
	time.Sleep(50 * time.Millisecond)
	if got := out2.String(); got != "key: " {
		t.Fatalf("a secret's first 11 bytes were flushed: %q", got)
	}
	w.Write([]byte("KE-1234\n"))
	w.Close()
	if got := out2.String(); got != "key: <redacted:global/k>\n" {
		t.Fatalf("got %q", got)
	}
}

// TestMaskVariants: a value printed without its trailing newline, and a
// line of a multi-line value, are masked; short values are named as not
// masked; an empty masker passes through.
func TestMaskVariants(t *testing.T) {
	pem := "-----BEGIN FAKE KEY-----\nMIIEvFAKEFAKEFAKE\n-----END FAKE KEY-----\n"
	m, err := NewMasker([]Var{testVar("TOKEN", "tok-FAKE-123\n"), testVar("PEM", pem), testVar("SHORT", "ab"), testVar("EMPTY", "")})
	if err != nil {
		t.Fatal(err)
	}
	got := m.MaskString("t=tok-FAKE-123;\nline: MIIEvFAKEFAKEFAKE\n" + pem)
	want := "t=<redacted:global/token>;\nline: <redacted:global/pem>\n<redacted:global/pem>"
	if got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	if s := m.Skipped(); len(s) != 1 || s[0] != "SHORT" {
		t.Fatalf("Skipped = %v", s)
	}
	none, _ := NewMasker(nil)
	var out bytes.Buffer
	none.Writer(&out).Write([]byte("plain"))
	if out.String() != "plain" {
		t.Fatal(out.String())
	}
}

// TestMaskWriterError: an error from the destination is returned and
// sticks.
func TestMaskWriterError(t *testing.T) {
	m, _ := NewMasker([]Var{testVar("K", "secret-FAKE")})
	w := m.Writer(failWriter{})
	if _, err := w.Write([]byte("hello\n")); err == nil {
		t.Fatal("no error")
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("error did not stick")
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

// BenchmarkMask is P6: masking throughput with 100 secrets over text with
// some secrets in it, written in 32 KiB chunks (what os/exec copies).
func BenchmarkMask(b *testing.B) {
	r := rand.New(rand.NewSource(1))
	var vars []Var
	for i := 0; i < 100; i++ {
		vars = append(vars, testVar(fmt.Sprintf("KEY_%d", i), fmt.Sprintf("sk-test-FAKE-%032x", r.Uint64())))
	}
	m, err := NewMasker(vars)
	if err != nil {
		b.Fatal(err)
	}
	var text bytes.Buffer
	for text.Len() < 4<<20 {
		fmt.Fprintf(&text, "2026-12-04T08:00:00Z INFO request id=%d path=/v1/chat status=200 latency=%dms sk-test-FAKE-%d\n", r.Int(), r.Intn(500), r.Intn(10))
		if r.Intn(200) == 0 {
			text.WriteString("leaked " + vars[r.Intn(100)].Value + "\n")
		}
	}
	data := text.Bytes()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		w := m.Writer(io.Discard)
		for off := 0; off < len(data); off += 32 << 10 {
			w.Write(data[off:min(off+32<<10, len(data))])
		}
		w.Close()
	}
}

// FuzzMask: for any secrets, text and cut points, the streamed output is
// the masking of the whole text at once, and for plain secrets the
// reference leftmost-longest masking.
func FuzzMask(f *testing.F) {
	f.Add("sk-test-FAKE", "abcd", "x sk-test-FAKE y abcdabc", uint64(3))
	f.Add("aaaa", "aaab", "aaaaaaab aaa", uint64(1))
	f.Fuzz(func(t *testing.T, s1, s2, text string, cuts uint64) {
		vars := []Var{testVar("A", s1), testVar("B", s2)}
		m, err := NewMasker(vars)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		w := m.Writer(&out)
		w.idle = time.Hour
		rest := []byte(text)
		for len(rest) > 0 {
			n := 1 + int(cuts%uint64(len(rest)))
			cuts = cuts/7 + 1
			w.Write(rest[:n])
			rest = rest[n:]
		}
		w.Close()
		if want := m.MaskString(text); out.String() != want {
			t.Fatalf("streamed %q, whole %q", out.String(), want)
		}
		if want := naiveMask(text, dedupe(vars)); len(s1) >= MinMaskLen && len(s2) >= MinMaskLen && s1 != s2 && strings.TrimRight(s1, "\r\n\t ") == s1 && strings.TrimRight(s2, "\r\n\t ") == s2 && !strings.Contains(s1+s2, "\n") && out.String() != want {
			t.Fatalf("got %q, reference %q", out.String(), want)
		}
	})
}
