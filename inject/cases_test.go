package inject

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// casesDir holds the shared test cases. In this checkout and in CI, shared/
// sits beside the repository root, so from the package directory it is two
// levels up. A missing directory fails the tests: it must never turn into a
// silent skip.
var casesDir = filepath.Join("..", "..", "shared", "cases")

// readCase returns the bytes of one fixture file, failing the test when the
// shared cases are not there.
func readCase(t testing.TB, caseName, file string) []byte {
	t.Helper()
	if _, err := os.Stat(casesDir); err != nil {
		t.Fatalf("shared test cases not found at %s (shared/ must sit beside the repository root): %v", casesDir, err)
	}
	data, err := os.ReadFile(filepath.Join(casesDir, caseName, file))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	return data
}

// parseCase parses a fixture in strict mode.
func parseCase(t *testing.T, caseName, file string) *Result {
	t.Helper()
	res, err := Parse(readCase(t, caseName, file), FormatDotenv, false)
	if err != nil {
		t.Fatalf("%s/%s: %v", caseName, file, err)
	}
	return res
}

// checkExpected compares the parsed pairs with expected.json, byte for byte:
// WriteJSON uses the same layout, and the values are also compared one by
// one so a failure says which key differs.
func checkExpected(t *testing.T, caseName string, res *Result) {
	t.Helper()
	want := readCase(t, caseName, "expected.json")
	var got bytes.Buffer
	if err := WriteJSON(&got, res.Pairs); err != nil {
		t.Fatalf("WriteJSON: %v", err)
	}
	var wantMap map[string]string
	if err := json.Unmarshal(want, &wantMap); err != nil {
		t.Fatalf("expected.json: %v", err)
	}
	if len(res.Pairs) != len(wantMap) {
		t.Errorf("got %d entries, want %d", len(res.Pairs), len(wantMap))
	}
	for _, p := range res.Pairs {
		w, ok := wantMap[p.Key]
		switch {
		case !ok:
			t.Errorf("unexpected key %q", p.Key)
		case p.Value != w:
			t.Errorf("%s = %q, want %q", p.Key, p.Value, w)
		}
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("WriteJSON output differs from expected.json:\n%s\nwant:\n%s", got.Bytes(), want)
	}
}

// checkRoundTrip exports the pairs with WriteDotenv, parses the result and
// requires identical keys and values and no warnings.
func checkRoundTrip(t *testing.T, pairs []Pair) {
	t.Helper()
	var out bytes.Buffer
	if err := WriteDotenv(&out, pairs); err != nil {
		t.Fatalf("WriteDotenv: %v", err)
	}
	back, err := Parse(out.Bytes(), FormatDotenv, false)
	if err != nil {
		t.Fatalf("re-import of WriteDotenv output: %v\n%s", err, out.Bytes())
	}
	if len(back.Warnings) != 0 || len(back.Skipped) != 0 {
		t.Errorf("re-import: warnings %v, skipped %v", back.Warnings, back.Skipped)
	}
	if !samePairs(back.Pairs, pairs) {
		t.Errorf("round trip changed values:\n got %s\nwant %s", fmtPairs(back.Pairs), fmtPairs(pairs))
	}
}

// fmtPairs shows pairs for a failure message, long values shortened.
func fmtPairs(ps []Pair) string {
	var b strings.Builder
	for _, p := range ps {
		v := p.Value
		if len(v) > 80 {
			v = v[:80] + "…"
		}
		fmt.Fprintf(&b, "[%d %q=%q] ", p.Line, p.Key, v)
	}
	return b.String()
}

// samePairs compares keys and values, ignoring lines.
func samePairs(a, b []Pair) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || a[i].Value != b[i].Value {
			return false
		}
	}
	return true
}

// checkNoLeak fails when a warning or skipped-line text contains a value or
// one of the given fragments of a value.
func checkNoLeak(t *testing.T, res *Result, fragments ...string) {
	t.Helper()
	var texts []string
	for _, w := range res.Warnings {
		texts = append(texts, w.String())
	}
	for _, s := range res.Skipped {
		texts = append(texts, s.Error())
	}
	for _, p := range res.Pairs {
		if len(p.Value) >= 4 {
			fragments = append(fragments, p.Value)
		}
	}
	for _, text := range texts {
		for _, f := range fragments {
			if strings.Contains(text, f) {
				t.Errorf("message %q shows value text %q", text, f)
			}
		}
	}
}

func TestCaseH01HashInValues(t *testing.T) {
	const c = "H01-dotenv-hash-in-values"
	res := parseCase(t, c, "input.env")
	checkExpected(t, c, res)
	if len(res.Warnings) != 0 || len(res.Skipped) != 0 {
		t.Errorf("warnings %v, skipped %v; want none", res.Warnings, res.Skipped)
	}
	checkRoundTrip(t, res.Pairs)

	// The exporter must quote every value holding a '#'.
	var out bytes.Buffer
	if err := WriteDotenv(&out, res.Pairs); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		_, v, _ := strings.Cut(line, "=")
		if strings.Contains(v, "#") && !strings.HasPrefix(v, `"`) {
			t.Errorf("exported line %q has an unquoted #", line)
		}
	}
}

func TestCaseH02MultilinePEMEscapes(t *testing.T) {
	const c = "H02-dotenv-multiline-pem-escapes"
	res := parseCase(t, c, "input.env")
	checkExpected(t, c, res)
	if len(res.Warnings) != 0 || len(res.Skipped) != 0 {
		t.Errorf("warnings %v, skipped %v; want none", res.Warnings, res.Skipped)
	}
	vals := map[string]string{}
	for _, p := range res.Pairs {
		vals[p.Key] = p.Value
	}
	real, esc := vals["PRIVATE_KEY_REAL_NEWLINES"], vals["PRIVATE_KEY_ESCAPED"]
	if real != esc {
		t.Errorf("PRIVATE_KEY_REAL_NEWLINES and PRIVATE_KEY_ESCAPED differ")
	}
	if strings.Count(real, "\n") != 4 || !strings.HasSuffix(real, "-----\n") || strings.HasSuffix(real, "\n\n") {
		t.Errorf("PEM is not 4 lines ending in exactly one newline: %q", real)
	}
	// AFTER follows the multi-line value; its line number proves the parser
	// did not swallow lines.
	if got := res.Pairs[len(res.Pairs)-1]; got.Key != "AFTER" || got.Line != 12 {
		t.Errorf("last pair = %s on line %d, want AFTER on line 12", got.Key, got.Line)
	}
	checkRoundTrip(t, res.Pairs)

	// TAB_AND_CR holds a real CR: the exporter must write the escape.
	var out bytes.Buffer
	if err := WriteDotenv(&out, res.Pairs); err != nil {
		t.Fatal(err)
	}
	if bytes.IndexByte(out.Bytes(), '\r') >= 0 {
		t.Errorf("WriteDotenv output holds a raw CR")
	}
	if !strings.Contains(out.String(), `TAB_AND_CR="a\tb\rc"`+"\n") {
		t.Errorf("TAB_AND_CR not written with escapes:\n%s", out.String())
	}
}

func TestCaseH03ExportEmptyDuplicates(t *testing.T) {
	const c = "H03-dotenv-export-empty-duplicates"
	res := parseCase(t, c, "input.env")
	checkExpected(t, c, res)
	if len(res.Skipped) != 0 {
		t.Errorf("skipped %v", res.Skipped)
	}
	if len(res.Warnings) != 1 {
		t.Fatalf("got %d warnings %v, want exactly 1 (duplicate API_BASE)", len(res.Warnings), res.Warnings)
	}
	w := res.Warnings[0]
	if w.Line != 15 || w.Key != "API_BASE" || !strings.Contains(w.Msg, "line 14") || !strings.Contains(w.Msg, "line 15") {
		t.Errorf("duplicate warning = %q, want API_BASE naming lines 14 and 15", w.String())
	}
	checkNoLeak(t, res, "https://old.example.test", "https://new.example.test", "old.example", "new.example")

	lines := map[string]int{"OPENAI_API_KEY": 1, "TABBED": 3, "exporter_url": 4, "A": 6, "APP_ID": 9, "SPACED": 13, "API_BASE": 15}
	for _, p := range res.Pairs {
		if want, ok := lines[p.Key]; ok && p.Line != want {
			t.Errorf("%s on line %d, want %d", p.Key, p.Line, want)
		}
	}
	checkRoundTrip(t, res.Pairs)

	upd := parseCase(t, c, "input-update.env")
	want := []Pair{{"APP_KEY", "abcd-FAKE-rotated", 1}, {"PORT", "8080", 2}, {"NEW_ONE", "added-FAKE", 3}}
	if !samePairs(upd.Pairs, want) {
		t.Errorf("input-update.env = %+v, want %+v", upd.Pairs, want)
	}
}

func TestCaseH04CRLF(t *testing.T) {
	const c = "H04-dotenv-crlf"
	for file, sum := range map[string]string{
		"input.env":         "00b339f185839e64e59cd11c37d79d94601234dcc30f052b977a9004f682167d",
		"input-cr-only.env": "3d1c58b64903c66375445629457ac788c31430b23ec17e6b51c948618f92afed",
	} {
		h := sha256.Sum256(readCase(t, c, file))
		if got := hex.EncodeToString(h[:]); got != sum {
			t.Fatalf("%s: sha256 %s, want %s (was the fixture converted to LF by git?)", file, got, sum)
		}
	}

	res := parseCase(t, c, "input.env")
	checkExpected(t, c, res)
	if len(res.Warnings) != 0 || len(res.Skipped) != 0 {
		t.Errorf("warnings %v, skipped %v; want none", res.Warnings, res.Skipped)
	}
	checkRoundTrip(t, res.Pairs)

	cr := parseCase(t, c, "input-cr-only.env")
	want := []Pair{{"A_KEY", "sk-test-FAKE-cr1", 1}, {"B_KEY", "sk-test-FAKE-cr2", 2}}
	if !samePairs(cr.Pairs, want) || cr.Pairs[1].Line != 2 {
		t.Errorf("input-cr-only.env = %+v, want %+v", cr.Pairs, want)
	}
	for _, r := range []*Result{res, cr} {
		for _, p := range r.Pairs {
			if strings.ContainsRune(p.Key+p.Value, '\r') {
				t.Errorf("%q holds a CR", p.Key)
			}
		}
	}
}

func TestCaseH05DollarSigns(t *testing.T) {
	const c = "H05-dotenv-dollar-signs"
	res := parseCase(t, c, "input.env")
	checkExpected(t, c, res)
	if len(res.Skipped) != 0 {
		t.Errorf("skipped %v", res.Skipped)
	}
	want := []Warning{{Line: 1, Key: "PG_PASSWORD"}, {Line: 3, Key: "PASS_DOUBLE_DOLLAR"}, {Line: 9, Key: "HOME_REF"}}
	if len(res.Warnings) != len(want) {
		t.Fatalf("got %d warnings %v, want exactly 3 (lines 1, 3, 9)", len(res.Warnings), res.Warnings)
	}
	for i, w := range res.Warnings {
		if w.Line != want[i].Line || w.Key != want[i].Key || !strings.Contains(w.Msg, "reference") {
			t.Errorf("warning %d = %q, want an unresolved-reference warning for %s on line %d", i, w.String(), want[i].Key, want[i].Line)
		}
	}
	// The referenced names are parts of the values: never show them.
	checkNoLeak(t, res, "KQ9vz", "$word", "word@", "${HOME}", ".config")
	checkRoundTrip(t, res.Pairs)

	// The process environment is never consulted.
	t.Setenv("REGION", "us-east-1")
	t.Setenv("HOME", "/tmp/other")
	t.Setenv("KQ9vz", "FAKE-from-env")
	t.Setenv("word", "FAKE-from-env")
	again := parseCase(t, c, "input.env")
	if !samePairs(again.Pairs, res.Pairs) || len(again.Warnings) != len(res.Warnings) {
		t.Errorf("result changed with REGION, HOME, KQ9vz and word set in the environment")
	}
}
