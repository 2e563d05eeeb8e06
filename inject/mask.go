package inject

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/coregx/ahocorasick"
)

// MinMaskLen is the shortest value masking looks for: shorter values
// ("1", "dev", "443") would redact ordinary output everywhere.
const MinMaskLen = 4

// IdleFlush is how long a masking writer holds back bytes that could be the
// start of a secret before writing them anyway, so a prompt that happens to
// end like the start of a secret still appears.
const IdleFlush = 30 * time.Millisecond

// Masker finds every secret value in a stream with one Aho-Corasick
// automaton, whatever the number of secrets.
type Masker struct {
	ac      *ahocorasick.Automaton
	repl    [][]byte // by pattern id
	sorted  [][]byte // patterns, sorted, for prefix checks
	first   [256]bool
	maxLen  int
	skipped []string
}

// NewMasker builds a masker for the variables' values: each value, the value
// without trailing line breaks and spaces, and each line of a multi-line
// value that is at least 8 bytes long, all replaced by the variable's
// Label. Values shorter than MinMaskLen are not masked; Skipped names them.
// With nothing to mask the masker passes output through unchanged.
func NewMasker(vars []Var) (*Masker, error) {
	m := &Masker{}
	seen := map[string]bool{}
	var pats [][]byte
	add := func(p string, label string) {
		if len(p) < MinMaskLen || seen[p] {
			return
		}
		seen[p] = true
		pats = append(pats, []byte(p))
		m.repl = append(m.repl, []byte(label))
	}
	for _, v := range vars {
		if len(v.Value) < MinMaskLen {
			if v.Value != "" {
				m.skipped = append(m.skipped, v.Name)
			}
			continue
		}
		label := v.Label()
		add(v.Value, label)
		add(strings.TrimRight(v.Value, "\r\n\t "), label)
		if strings.ContainsAny(v.Value, "\n") {
			for _, line := range strings.Split(v.Value, "\n") {
				if line = strings.TrimRight(line, "\r"); len(line) >= 8 {
					add(line, label)
				}
			}
		}
	}
	if len(pats) == 0 {
		return m, nil
	}
	ac, err := ahocorasick.NewBuilder().AddPatterns(pats).Build()
	if err != nil {
		return nil, fmt.Errorf("masking: %w", err)
	}
	m.ac = ac
	m.sorted = append([][]byte(nil), pats...)
	sort.Slice(m.sorted, func(i, j int) bool { return bytes.Compare(m.sorted[i], m.sorted[j]) < 0 })
	for _, p := range pats {
		m.first[p[0]] = true
		m.maxLen = max(m.maxLen, len(p))
	}
	return m, nil
}

// Skipped names the variables whose values are too short to mask.
func (m *Masker) Skipped() []string { return m.skipped }

// Patterns is the number of byte strings the automaton looks for.
func (m *Masker) Patterns() int { return len(m.repl) }

// isPrefix reports whether b is a proper prefix of some pattern.
func (m *Masker) isPrefix(b []byte) bool {
	i := sort.Search(len(m.sorted), func(i int) bool { return bytes.Compare(m.sorted[i], b) >= 0 })
	for ; i < len(m.sorted) && bytes.HasPrefix(m.sorted[i], b); i++ {
		if len(m.sorted[i]) > len(b) {
			return true
		}
	}
	return false
}

// holdLen is the length of the longest suffix of b that could still grow
// into a pattern (or a longer pattern) with more bytes.
func (m *Masker) holdLen(b []byte) int {
	from := max(0, len(b)-m.maxLen+1)
	for i := from; i < len(b); i++ {
		if m.first[b[i]] && m.isPrefix(b[i:]) {
			return len(b) - i
		}
	}
	return 0
}

// mask appends buf to out with every match that starts before safe
// replaced, and returns out and how much of buf it consumed (at least
// safe). Matches are leftmost-longest: the earliest start wins, and of the
// matches starting there the longest. (The automaton reports all
// overlapping matches and the choice is made here: the library's own
// leftmost modes miss matches, see TestMaskMatchesNaive.)
func (m *Masker) mask(out, buf []byte, safe int) ([]byte, int) {
	pos := 0
	if m.ac.IsMatch(buf) {
		ms := m.ac.FindAllOverlapping(buf)
		sort.Slice(ms, func(i, j int) bool {
			if ms[i].Start != ms[j].Start {
				return ms[i].Start < ms[j].Start
			}
			return ms[i].End > ms[j].End
		})
		for _, mt := range ms {
			if mt.Start >= safe {
				break
			}
			if mt.Start < pos {
				continue
			}
			out = append(out, buf[pos:mt.Start]...)
			out = append(out, m.repl[mt.PatternID]...)
			pos = mt.End
		}
	}
	if pos < safe {
		out = append(out, buf[pos:safe]...)
		pos = safe
	}
	return out, pos
}

// MaskString returns s with every secret replaced: for whole texts.
func (m *Masker) MaskString(s string) string {
	if m.ac == nil {
		return s
	}
	out, _ := m.mask(nil, []byte(s), len(s))
	return string(out)
}

// Writer returns a writer that masks what is written to it and passes it
// on to w at once, holding back only a tail that could be the start of a
// secret: until the next write shows it is not, or until IdleFlush passes
// with no write and the tail is at most MaxIdleLeak bytes (a prompt). Close writes what is held back. The writer is safe for
// concurrent use.
func (m *Masker) Writer(w io.Writer) *MaskWriter {
	return &MaskWriter{m: m, w: w, idle: IdleFlush}
}

// MaskWriter is a masking stream; see Masker.Writer.
type MaskWriter struct {
	m     *Masker
	w     io.Writer
	idle  time.Duration
	mu    sync.Mutex
	held  []byte
	out   []byte
	timer *time.Timer
	err   error
}

// Write masks p and writes what is certain to w.
func (mw *MaskWriter) Write(p []byte) (int, error) {
	if mw.m.ac == nil {
		return mw.w.Write(p)
	}
	mw.mu.Lock()
	defer mw.mu.Unlock()
	if mw.err != nil {
		return 0, mw.err
	}
	if mw.timer != nil {
		mw.timer.Stop()
	}
	buf := p
	if len(mw.held) > 0 {
		mw.held = append(mw.held, p...)
		buf = mw.held
	}
	safe := len(buf) - mw.m.holdLen(buf)
	var pos int
	mw.out, pos = mw.m.mask(mw.out[:0], buf, safe)
	if len(mw.out) > 0 {
		if _, err := mw.w.Write(mw.out); err != nil {
			mw.err = err
			return 0, err
		}
	}
	rest := buf[pos:]
	if len(rest) == 0 {
		mw.held = mw.held[:0]
		return len(p), nil
	}
	mw.held = append(mw.held[:0], rest...)
	if mw.timer == nil {
		mw.timer = time.AfterFunc(mw.idle, mw.flushIdle)
	} else {
		mw.timer.Reset(mw.idle)
	}
	return len(p), nil
}

// MaxIdleLeak is the most bytes of a secret's beginning that an idle flush
// may write: a held tail this long or longer looks like a secret being
// written slowly, not a prompt, and stays held until more output or the end.
const MaxIdleLeak = 7

func (mw *MaskWriter) flushIdle() {
	mw.mu.Lock()
	defer mw.mu.Unlock()
	if len(mw.held) > MaxIdleLeak {
		return
	}
	mw.flushLocked()
}

func (mw *MaskWriter) flushLocked() error {
	if len(mw.held) == 0 || mw.err != nil {
		return mw.err
	}
	mw.out, _ = mw.m.mask(mw.out[:0], mw.held, len(mw.held))
	mw.held = mw.held[:0]
	if _, err := mw.w.Write(mw.out); err != nil {
		mw.err = err
	}
	return mw.err
}

// Close writes what is held back, masked. It does not close w.
func (mw *MaskWriter) Close() error {
	if mw.m.ac == nil {
		return nil
	}
	mw.mu.Lock()
	defer mw.mu.Unlock()
	if mw.timer != nil {
		mw.timer.Stop()
	}
	return mw.flushLocked()
}
