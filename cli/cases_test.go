package cli

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/tresor-dev/tresor/inject"
)

// Each test here runs one case of ../shared/cases through the real command
// line, in process, against a real git repository on disk.

func loadExpected(t *testing.T, dir string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// importCase imports a case file into a fresh vault and checks every value
// byte for byte, the entry count, and that no value leaked into output.
func importCase(t *testing.T, h *home, file string, want map[string]string) result {
	t.Helper()
	r := h.ok("", "import", file)
	for k, v := range want {
		if v != "" && len(v) > 3 && (strings.Contains(r.stdout, v) || strings.Contains(r.stderr, v)) {
			t.Errorf("import printed the value of %s", k)
		}
	}
	checkValues(t, h, want)
	ls := h.ok("", "ls", "--json")
	var rows []lsRow
	if err := json.Unmarshal([]byte(ls.stdout), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(want) {
		t.Errorf("vault has %d entries, want %d", len(rows), len(want))
	}
	for _, row := range rows {
		if strings.ContainsAny(row.Name, "\r\x00") {
			t.Errorf("name %q holds a CR or NUL", row.Name)
		}
	}
	gitClean(t, h.vault())
	return r
}

func checkValues(t *testing.T, h *home, want map[string]string) {
	t.Helper()
	for k, v := range want {
		got := h.ok("", "get", k, "--raw")
		if got.stdout != v {
			t.Errorf("get %s --raw = %q, want %q", k, got.stdout, v)
		}
	}
}

// roundTrip exports to dotenv, imports into a second vault and compares.
func roundTrip(t *testing.T, h *home, want map[string]string) {
	t.Helper()
	// Export is issue #3's command; the importer must read our dotenv writer's
	// output back identically, so write it the same way export will.
	out := filepath.Join(h.dir, "roundtrip.env")
	var lines []string
	for k := range want {
		lines = append(lines, k)
	}
	env := exportDotenv(t, h, lines)
	if err := os.WriteFile(out, env, 0o600); err != nil {
		t.Fatal(err)
	}
	h2 := newHome(t)
	h2.ok("", "init")
	h2.ok("", "import", out)
	checkValues(t, h2, want)
}

func TestCaseH01HashInValues(t *testing.T) {
	dir := filepath.Join(casesDir(t), "H01-dotenv-hash-in-values")
	want := loadExpected(t, dir)
	h := newHome(t)
	h.ok("", "init")
	importCase(t, h, filepath.Join(dir, "input.env"), want)
	roundTrip(t, h, want)
}

func TestCaseH02MultilinePEM(t *testing.T) {
	dir := filepath.Join(casesDir(t), "H02-dotenv-multiline-pem-escapes")
	want := loadExpected(t, dir)
	h := newHome(t)
	h.ok("", "init")
	importCase(t, h, filepath.Join(dir, "input.env"), want)
	if want["PRIVATE_KEY_REAL_NEWLINES"] != want["PRIVATE_KEY_ESCAPED"] {
		t.Fatal("fixture: the two PEM spellings must be identical")
	}
	roundTrip(t, h, want)
}

func TestCaseH03ExportEmptyDuplicates(t *testing.T) {
	dir := filepath.Join(casesDir(t), "H03-dotenv-export-empty-duplicates")
	want := loadExpected(t, dir)
	h := newHome(t)
	h.ok("", "init")
	r := importCase(t, h, filepath.Join(dir, "input.env"), want)
	if !strings.Contains(r.stderr, "API_BASE") || !strings.Contains(r.stderr, "14") || !strings.Contains(r.stderr, "15") {
		t.Errorf("duplicate warning must name API_BASE and lines 14 and 15:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, "old.example.test") || strings.Contains(r.stderr, "new.example.test") {
		t.Error("duplicate warning shows a value")
	}
	// Second import: APP_KEY differs -> conflict, atomic, nothing changes.
	before := commitCount(t, h.vault())
	h.fails(1, "", []string{"import", filepath.Join(dir, "input-update.env")}, "APP_KEY")
	if got := h.run("", "get", "NEW_ONE", "--raw"); got.code == 0 {
		t.Error("NEW_ONE was imported by a failed import")
	}
	// Third: --overwrite, one commit.
	h.ok("", "import", filepath.Join(dir, "input-update.env"), "--overwrite")
	if n := commitCount(t, h.vault()); n != before+1 {
		t.Errorf("overwrite made %d commits, want 1", n-before)
	}
	checkValues(t, h, map[string]string{"APP_KEY": "abcd-FAKE-rotated", "NEW_ONE": "added-FAKE", "PORT": "8080"})
	log := h.ok("", "log", "APP_KEY", "--json")
	var items []map[string]any
	if err := json.Unmarshal([]byte(log.stdout), &items); err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 {
		t.Errorf("APP_KEY history has %d versions, want 2", len(items))
	}
	// The old value is still in history.
	path := strings.TrimSpace(h.ok("", "path", "APP_KEY").stdout)
	rel, _ := filepath.Rel(h.vault(), path)
	old, err := exec.Command("git", "-C", h.vault(), "show", "HEAD~1:"+rel).Output()
	if err != nil {
		t.Fatalf("old version not in history: %v", err)
	}
	if !isAgeFile(old) {
		t.Error("history holds a non-age file")
	}
	gitClean(t, h.vault())
}

func TestCaseH04CRLF(t *testing.T) {
	dir := filepath.Join(casesDir(t), "H04-dotenv-crlf")
	want := loadExpected(t, dir)
	for _, f := range []string{"input.env", "input-cr-only.env"} {
		data, _ := os.ReadFile(filepath.Join(dir, f))
		sum := sha256.Sum256(data)
		got := hex.EncodeToString(sum[:])
		if (f == "input.env" && got != "00b339f185839e64e59cd11c37d79d94601234dcc30f052b977a9004f682167d") ||
			(f == "input-cr-only.env" && got != "3d1c58b64903c66375445629457ac788c31430b23ec17e6b51c948618f92afed") {
			t.Fatalf("fixture %s changed on checkout (sha256 %s): line endings must be kept", f, got)
		}
	}
	h := newHome(t)
	h.ok("", "init")
	importCase(t, h, filepath.Join(dir, "input.env"), want)
	h2 := newHome(t)
	h2.ok("", "init")
	importCase(t, h2, filepath.Join(dir, "input-cr-only.env"), map[string]string{"A_KEY": "sk-test-FAKE-cr1", "B_KEY": "sk-test-FAKE-cr2"})
}

func TestCaseH05DollarSigns(t *testing.T) {
	dir := filepath.Join(casesDir(t), "H05-dotenv-dollar-signs")
	want := loadExpected(t, dir)
	for _, shell := range []map[string]string{nil, {"REGION": "us-east-1", "HOME": "/tmp/other"}} {
		h := newHome(t)
		for k, v := range shell {
			h.vars[k] = v
		}
		h.ok("", "init")
		r := importCase(t, h, filepath.Join(dir, "input.env"), want)
		if n := strings.Count(r.stderr, "warning:"); n != 3 {
			t.Errorf("want exactly 3 unresolved-reference warnings, got %d:\n%s", n, r.stderr)
		}
		for _, line := range []string{":1:", ":3:", ":9:"} {
			if !strings.Contains(r.stderr, line) {
				t.Errorf("no warning for line %s:\n%s", line, r.stderr)
			}
		}
	}
}

func TestCaseH06Names(t *testing.T) {
	dir := filepath.Join(casesDir(t), "H06-entry-names-paths")
	h := newHome(t)
	h.ok("", "init")
	read := func(f string) []string {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	}
	accept := read("names-accept.txt")
	for _, n := range accept {
		h.ok("v-FAKE", "set", n)
	}
	commits := commitCount(t, h.vault())
	for _, n := range append(read("names-reject.txt"), "") {
		r := h.fails(1, "v-FAKE", []string{"set", n}, "invalid name", strconvQuote(n))
		_ = r
	}
	if commitCount(t, h.vault()) != commits {
		t.Error("a refused name made a commit")
	}
	ls := h.ok("", "ls", "--json")
	var rows []lsRow
	json.Unmarshal([]byte(ls.stdout), &rows)
	names := map[string]bool{}
	for _, r := range rows {
		names[r.Name] = true
	}
	for _, n := range accept {
		if !names[n] {
			t.Errorf("ls does not list %q exactly", n)
		}
		if got := h.ok("", "get", n, "--raw").stdout; got != "v-FAKE" {
			t.Errorf("get %q = %q", n, got)
		}
	}
	files, err := exec.Command("git", "-C", h.vault(), "ls-files", "-z").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Split(strings.TrimRight(string(files), "\x00"), "\x00") {
		for _, seg := range strings.Split(f, "/") {
			if strings.ContainsAny(seg, `:*?"<>|\`) || strings.HasSuffix(seg, " ") || strings.HasSuffix(seg, ".") {
				t.Errorf("path %q is not portable (segment %q)", f, seg)
			}
			base := strings.ToUpper(strings.SplitN(seg, ".", 2)[0])
			if base == "CON" || base == "NUL" || base == "PRN" || base == "AUX" || (len(base) == 4 && (strings.HasPrefix(base, "COM") || strings.HasPrefix(base, "LPT"))) {
				t.Errorf("path %q has a Windows device name", f)
			}
		}
	}
	h.fails(1, "", []string{"mv", "openai/api-key.v2", "../escaped"}, "invalid name")
	h.fails(1, "", []string{"set", "OPENAI/API-KEY.V2"}, "letter case")
	gitClean(t, h.vault())
	// Nothing escaped the vault.
	if _, err := os.Stat(filepath.Join(h.dir, "data", "tresor", "outside.age")); err == nil {
		t.Error("a file escaped the vault")
	}
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestCaseH07BinaryRoundTrip(t *testing.T) {
	dir := filepath.Join(casesDir(t), "H07-binary-pem-roundtrip")
	sums := map[string]string{}
	data, err := os.ReadFile(filepath.Join(dir, "expected-sha256.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(l)
		sums[f[1]] = f[0]
	}
	h := newHome(t)
	h.ok("", "init")
	big := make([]byte, 0, 5<<20)
	for i := 0; len(big) < 5<<20; i++ {
		s := sha256.Sum256([]byte("tresor-fixture-" + itoa(i)))
		big = append(big, s[:]...)
	}
	big = big[:5<<20]
	bigPath := filepath.Join(h.dir, "big-5mib.bin")
	if err := os.WriteFile(bigPath, big, 0o600); err != nil {
		t.Fatal(err)
	}
	files := []string{"blob-64k.bin", "deploy_key.pem", "value-trailing-whitespace.txt", "value-crlf.txt", "value-invalid-utf8.bin"}
	for _, f := range files {
		h.ok("", "set", "files/"+f, "--file", filepath.Join(dir, f))
	}
	h.ok("", "set", "files/big-5mib.bin", "--from-file", bigPath)
	token, _ := os.ReadFile(filepath.Join(dir, "token-no-newline.txt"))
	h.ok(string(token), "set", "files/token")
	check := func(h *home) {
		for _, f := range append(files, "big-5mib.bin") {
			out := h.ok("", "get", "files/"+f, "--raw").stdout
			sum := sha256.Sum256([]byte(out))
			if got := hex.EncodeToString(sum[:]); got != sums[f] {
				t.Errorf("%s: sha256 %s, want %s", f, got, sums[f])
			}
		}
		tok := h.ok("", "get", "files/token", "--raw").stdout
		sum := sha256.Sum256([]byte(tok))
		if len(tok) != 34 || hex.EncodeToString(sum[:]) != sums["token-no-newline.txt"] {
			t.Errorf("token: %d bytes", len(tok))
		}
	}
	check(h)
	// A binary value on a terminal is described, not dumped.
	e, out, errb := h.env("")
	e.StdoutTTY = true
	if code := Main([]string{"tresor", "get", "files/blob-64k.bin"}, e); code != 0 {
		t.Fatalf("get on a tty: exit %d: %s", code, errb)
	}
	if out.Len() != 0 || !strings.Contains(errb.String(), "binary value (65536 bytes)") || !strings.Contains(errb.String(), "--raw") {
		t.Errorf("binary on tty: stdout %d bytes, stderr %q", out.Len(), errb)
	}
	// After a plain git clone the values are the same.
	clone := filepath.Join(h.dir, "clone")
	if out, err := exec.Command("git", "clone", "-q", h.vault(), clone).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v %s", err, out)
	}
	h.vars["TRESOR_DIR"] = clone
	check(h)
	gitClean(t, clone)
}

func itoa(i int) string { return strconv.Itoa(i) }

// exportDotenv writes the entries as a .env file with the same writer
// `export --format dotenv` uses.
func exportDotenv(t *testing.T, h *home, keys []string) []byte {
	t.Helper()
	sort.Strings(keys)
	var pairs []inject.Pair
	for _, k := range keys {
		pairs = append(pairs, inject.Pair{Key: k, Value: h.ok("", "get", k, "--raw").stdout})
	}
	var b bytes.Buffer
	if err := inject.WriteDotenv(&b, pairs); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
