package inject

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"unicode/utf8"

	"github.com/tresor-dev/tresor/codec"
	"github.com/tresor-dev/tresor/repo"
	"github.com/tresor-dev/tresor/schemas"
)

// Password store kinds read by ReadStore.
const (
	// StorePass is pass(1): gpg files under ~/.password-store.
	StorePass = "pass"
	// StorePassage is passage: age files under ~/.passage/store.
	StorePassage = "passage"
	// StoreGopass is gopass: gpg or age files under its root store.
	StoreGopass = "gopass"
)

// maxStoreFile caps one store file and its plaintext: nothing larger than
// an entry document (codec.MaxDocument) can become one entry.
const maxStoreFile = codec.MaxDocument + 1<<20

// StoreFile is one encrypted entry file found in a store.
type StoreFile struct {
	// Rel is the file's path below the store root, with / separators
	// ("Shopping/Papa Johns.gpg"): what every message names.
	Rel string
	// Abs is the file's absolute path.
	Abs string
	// Name is the entry name: Rel without the extension.
	Name string
	// Crypto is "gpg" or "age".
	Crypto string
	// Err is set when the file or directory could not be read at all.
	Err error
}

// StoreSkip is something of a store that was not imported, and why. It
// never holds a value.
type StoreSkip struct {
	Rel    string
	Reason string
}

func (s StoreSkip) String() string { return s.Rel + ": " + s.Reason }

// StoreError is an entry of a store that could not be imported. Its message
// names the file and the cause, never a value.
type StoreError struct {
	Rel string
	Err error
}

func (e *StoreError) Error() string { return e.Rel + ": " + e.Err.Error() }
func (e *StoreError) Unwrap() error { return e.Err }

// ScanStore lists the encrypted entry files below root, sorted by path.
// Hidden files and directories are not entries: the store's metadata
// (.git/, .gpg-id, .age-recipients, .gpg-keys, .gitattributes, .gitignore,
// gopass's .public-keys/ and .extensions/) is passed over, any other is
// reported in skipped. Symbolic links, inside the store or pointing out of it, are never
// followed: they are reported in skipped, as are other files that are not
// entries. root itself may be a symbolic link (a store kept elsewhere).
func ScanStore(root string) (files []StoreFile, skipped []StoreSkip, err error) {
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, nil, fmt.Errorf("store %s: %s", root, errText(err))
	}
	st, err := os.Stat(real)
	if err != nil {
		return nil, nil, fmt.Errorf("store %s: %w", root, err)
	}
	if !st.IsDir() {
		return nil, nil, fmt.Errorf("store %s is not a directory", root)
	}
	err = filepath.WalkDir(real, func(p string, d fs.DirEntry, err error) error {
		if p == real {
			return err
		}
		rel, _ := filepath.Rel(real, p)
		rel = filepath.ToSlash(rel)
		if err != nil {
			// An unreadable directory may hide entries: a failure, not a skip.
			files = append(files, StoreFile{Rel: rel, Abs: p, Name: rel, Err: fmt.Errorf("cannot read: %s", errText(err))})
			if d != nil && d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				switch d.Name() {
				case ".git", ".extensions", ".public-keys":
				default:
					skipped = append(skipped, StoreSkip{Rel: rel + "/", Reason: "hidden directory, not imported"})
				}
				return filepath.SkipDir
			}
			// The store's own metadata is passed over without a word;
			// every other file not imported is reported.
			switch d.Name() {
			case ".gpg-id", ".age-recipients", ".gitattributes", ".gpg-keys", ".gitignore":
			default:
				skipped = append(skipped, StoreSkip{Rel: rel, Reason: "hidden file (a name starting with a dot is not an entry)"})
			}
			return nil
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			skipped = append(skipped, StoreSkip{Rel: rel, Reason: "symbolic link, not followed (import its target by itself if you want it)"})
			return nil
		case d.IsDir():
			return nil
		case !d.Type().IsRegular():
			skipped = append(skipped, StoreSkip{Rel: rel, Reason: "not a regular file"})
			return nil
		}
		crypto := ""
		switch filepath.Ext(d.Name()) {
		case ".gpg":
			crypto = "gpg"
		case ".age":
			crypto = "age"
		default:
			skipped = append(skipped, StoreSkip{Rel: rel, Reason: "not an encrypted entry (.gpg or .age)"})
			return nil
		}
		files = append(files, StoreFile{Rel: rel, Abs: p, Name: strings.TrimSuffix(rel, filepath.Ext(rel)), Crypto: crypto})
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("store %s: %w", root, err)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Rel < files[j].Rel })
	return files, skipped, nil
}

func errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// KeyError means the keys to decrypt a store are missing or unusable (no
// gpg, an unreadable identities file, a wrong passphrase). It stops the
// whole import, whatever SkipInvalid says: every entry would fail alike.
type KeyError struct{ Err error }

func (e *KeyError) Error() string { return e.Err.Error() }
func (e *KeyError) Unwrap() error { return e.Err }

// Decrypter turns one store file into its plaintext body.
// Implementations read the file with openStoreFile, so a file swapped for
// a symbolic link after the scan is refused.
type Decrypter interface {
	Decrypt(ctx context.Context, f StoreFile) ([]byte, error)
}

// StoreEntry is one store entry converted to a vault entry.
type StoreEntry struct {
	// Rel is the source file below the store root.
	Rel string
	// Name is the entry name (the store path without extension; a gopass
	// binary entry loses its .b64 suffix).
	Name string
	// Entry is the converted entry.
	Entry *schemas.Entry
	// How says how the body was mapped, for the report: "password",
	// "secret", "whole", "binary", "gopass-binary", "pem".
	How string
}

// StoreOptions say how to read a store.
type StoreOptions struct {
	// Kind is StorePass, StorePassage or StoreGopass.
	Kind string
	// Dir is the store root.
	Dir string
	// GPG decrypts .gpg files; nil refuses them.
	GPG Decrypter
	// Age decrypts .age files; nil refuses them.
	Age Decrypter
	// Catalog checks converted entries and guesses API key types.
	Catalog *schemas.Catalog
	// Whole keeps each body whole as the value instead of splitting off
	// the first line.
	Whole bool
	// SkipInvalid reports entries that fail instead of failing the import.
	SkipInvalid bool
	// Workers is how many files are decrypted at once (default 4).
	Workers int
}

// StoreResult is what ReadStore read.
type StoreResult struct {
	Entries []StoreEntry
	// Skipped is everything not imported, with the reason; with
	// SkipInvalid it includes the entries that failed.
	Skipped []StoreSkip
}

// ReadStore reads, decrypts and converts every entry of a store. Without
// SkipInvalid the first failing entry (in path order) is returned as a
// *StoreError and nothing else: the caller writes nothing. Names are checked
// as vault names, and names that differ only by letter case are refused.
func ReadStore(ctx context.Context, o StoreOptions) (*StoreResult, error) {
	files, skipped, err := ScanStore(o.Dir)
	if err != nil {
		return nil, err
	}
	workers := o.Workers
	if workers <= 0 {
		workers = 4
	}
	type done struct {
		entry StoreEntry
		err   error
	}
	results := make([]done, len(files))
	// The first file alone: if the key needs a passphrase, the user answers
	// one pinentry prompt and gpg-agent's cache serves the parallel rest.
	start := 0
	if len(files) > 0 {
		e, err := readStoreFile(ctx, o, files[0])
		results[0] = done{e, err}
		start = 1
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < min(workers, len(files)-start); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				e, err := readStoreFile(ctx, o, files[i])
				results[i] = done{e, err}
			}
		}()
	}
	for i := start; i < len(files); i++ {
		next <- i
	}
	close(next)
	wg.Wait()

	res := &StoreResult{Skipped: skipped}
	seen := map[string]string{}
	for i, r := range results {
		f := files[i]
		err := r.err
		if err == nil {
			fold := repo.FoldName(r.entry.Name)
			if other, dup := seen[fold]; dup {
				err = fmt.Errorf("gives the entry name %s, as %s does (vault names are unique ignoring letter case)", strconvQuote(r.entry.Name), other)
			} else {
				seen[fold] = f.Rel
			}
		}
		var ke *KeyError
		if errors.As(err, &ke) {
			clearEntries(results)
			return nil, ke
		}
		if err != nil {
			se := &StoreError{Rel: f.Rel, Err: err}
			if !o.SkipInvalid {
				clearEntries(results)
				return nil, se
			}
			res.Skipped = append(res.Skipped, StoreSkip{Rel: f.Rel, Reason: err.Error()})
			continue
		}
		res.Entries = append(res.Entries, r.entry)
	}
	sort.Slice(res.Skipped, func(i, j int) bool { return res.Skipped[i].Rel < res.Skipped[j].Rel })
	return res, nil
}

func strconvQuote(s string) string { return fmt.Sprintf("%q", s) }

func clearEntries[T any](rs []T) {
	for i := range rs {
		var zero T
		rs[i] = zero
	}
}

func readStoreFile(ctx context.Context, o StoreOptions, f StoreFile) (StoreEntry, error) {
	if f.Err != nil {
		return StoreEntry{}, f.Err
	}
	name := f.Name
	gopassBinary := o.Kind == StoreGopass && strings.HasSuffix(name, ".b64")
	if gopassBinary {
		name = strings.TrimSuffix(name, ".b64")
	}
	clean, err := repo.CleanName(name)
	if err != nil {
		var ne *repo.NameError
		if errors.As(err, &ne) {
			return StoreEntry{}, fmt.Errorf("not a usable entry name: %s", ne.Rule)
		}
		return StoreEntry{}, err
	}
	var d Decrypter
	switch f.Crypto {
	case "gpg":
		d = o.GPG
	case "age":
		d = o.Age
	}
	if d == nil {
		return StoreEntry{}, fmt.Errorf("a .%s file, which a %s store should not hold (or no key to decrypt it was given)", f.Crypto, o.Kind)
	}
	body, err := d.Decrypt(ctx, f)
	if err != nil {
		return StoreEntry{}, fmt.Errorf("cannot decrypt: %w", err)
	}
	if o.Kind == StoreGopass && !gopassBinary {
		gopassBinary = isGopassBinaryBody(body)
	}
	e, how, err := ConvertBody(o.Catalog, clean, body, gopassBinary, o.Whole)
	clear(body)
	if err != nil {
		return StoreEntry{}, err
	}
	return StoreEntry{Rel: f.Rel, Name: clean, Entry: e, How: how}, nil
}

// Field names recognised in `key: value` lines (lower case) and what they
// become in a password entry.
var loginKeys = map[string]string{
	"username": "username", "user": "username", "login": "username", "user name": "username", "email": "username",
	"url": "url", "website": "url", "site": "url", "web": "url",
}

// ConvertBody maps the plaintext of a pass, passage or gopass entry to a
// vault entry, keeping every byte:
//
//   - a body that is binary (NUL or invalid UTF-8) becomes a file entry with
//     the exact bytes as content;
//   - gopassBinary (gopass `fscopy`/`binary` entries, name.b64) is decoded
//     from base64 into a file entry;
//   - a body starting with a PEM block ("-----BEGIN ") and, with whole,
//     every body is kept whole as the value of a secret;
//   - otherwise the first line (without its LF or CRLF) is the password or
//     value, and everything after that line is kept byte-exact in notes.
//     username/login/user/email and url/website lines (`key: value`, or the
//     keys of a gopass `---` YAML body) make it a password entry with those
//     fields; else the catalogue may recognise an API key by its name and
//     value; else it is a secret.
//
// name is the clean vault name (its last segment names the service or file).
func ConvertBody(cat *schemas.Catalog, name string, body []byte, gopassBinary, whole bool) (*schemas.Entry, string, error) {
	last := name
	if i := strings.LastIndexByte(last, '/'); i >= 0 {
		last = last[i+1:]
	}
	if len(body) > maxStoreFile {
		return nil, "", fmt.Errorf("%d bytes of plaintext, too large to be one entry", len(body))
	}
	if gopassBinary {
		content, filename, err := decodeGopassBinary(body)
		if err != nil {
			return nil, "", err
		}
		e := schemas.NewEntry("file")
		e.Set("content", string(content))
		e.Set("filename", cmpFilename(filename, last))
		return checked(cat, e, last, "gopass-binary")
	}
	s := string(body)
	if isBinaryBody(body) {
		e := schemas.NewEntry("file")
		e.Set("content", s)
		e.Set("filename", cmpFilename("", last))
		return checked(cat, e, last, "binary")
	}
	if whole || strings.HasPrefix(s, "-----BEGIN ") {
		e := schemas.NewEntry("secret")
		e.Set("value", s)
		how := "whole"
		if !whole {
			how = "pem"
		}
		return checked(cat, e, last, how)
	}
	first, rest, found := strings.Cut(s, "\n")
	if found {
		first = strings.TrimSuffix(first, "\r") // a CRLF ends the line too
	}
	fields := parseBodyFields(rest)
	if first == "GOPASS-SECRET-1.0" {
		// gopass 1.10/1.11 MIME format: headers (Password: first), a blank
		// line, the body. The whole text after the marker stays in notes.
		pw, ok := mimePassword(rest)
		if !ok {
			return nil, "", errors.New("a gopass GOPASS-SECRET-1.0 entry without a Password header")
		}
		first = pw
	}
	if fields["username"] != "" || fields["url"] != "" {
		e := schemas.NewEntry("password")
		e.Set("password", first)
		for _, k := range []string{"username", "url"} {
			if v := fields[k]; v != "" {
				e.Set(k, v)
			}
		}
		if rest != "" {
			e.Set("notes", rest)
		}
		if out, how, err := checked(cat, e, last, "password"); err == nil {
			return out, how, nil
		}
	}
	if rest == "" && cat != nil {
		if typ, service := cat.GuessType(last, first); typ == "api_key" {
			e := schemas.NewEntry("api_key")
			e.Set("value", first)
			if service != "" {
				e.Set("service", service)
			}
			if out, how, err := checked(cat, e, last, "api_key"); err == nil {
				return out, how, nil
			}
		}
	}
	e := schemas.NewEntry("secret")
	e.Set("value", first)
	if rest != "" {
		e.Set("notes", rest)
	}
	return checked(cat, e, last, "secret")
}

func checked(cat *schemas.Catalog, e *schemas.Entry, last, how string) (*schemas.Entry, string, error) {
	if cat != nil {
		cat.Normalize(e, last)
		if _, err := cat.Validate(e); err != nil {
			return nil, "", fmt.Errorf("as a %s entry: %v", e.Type, err)
		}
	}
	return e, how, nil
}

func cmpFilename(filename, last string) string {
	if filename != "" && !strings.ContainsAny(filename, "/\\") && filename != "." && filename != ".." && validLine(filename) {
		return filename
	}
	if validLine(last) {
		return last
	}
	return ""
}

func validLine(s string) bool {
	for _, r := range s {
		if r < ' ' || r == 0x7f || r == 0xfffd {
			return false
		}
	}
	return s != ""
}

// isBinaryBody reports whether a body cannot be text: a NUL byte or
// invalid UTF-8.
func isBinaryBody(b []byte) bool {
	return bytes.IndexByte(b, 0) >= 0 || !utf8.Valid(b)
}

// parseBodyFields reads `key: value` lines and the top-level scalar keys
// of a gopass `---` YAML document from the lines after the password, for
// the login keys only. Values are trimmed of surrounding spaces and of
// YAML quotes; the raw text stays in notes.
func parseBodyFields(rest string) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(rest))
	sc.Buffer(make([]byte, 0, 4096), maxStoreFile)
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if line == "---" || line == "" || line[0] == ' ' || line[0] == '\t' || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		field, known := loginKeys[strings.ToLower(strings.TrimSpace(k))]
		if !known || out[field] != "" {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
			v = v[1 : len(v)-1]
		}
		if v != "" && validLine(v) {
			out[field] = v
		}
	}
	return out
}

// decodeGopassBinary decodes a gopass binary entry. gopass has written
// them several ways, all read here:
//
//   - gopass up to 1.11 (`binary cp`, name.b64): an empty password line,
//     then the base64 data;
//   - gopass 1.12 and later (`fscopy`, `cat`): an empty password line,
//     `Content-Disposition: attachment; filename="…"` and
//     `Content-Transfer-Encoding: Base64` header lines, then the data;
//   - the GOPASS-SECRET-1.0 format: that line, headers, a blank line, data;
//   - by hand (`gopass insert name.b64`, pass): the data alone, or the
//     headers without the password line.
//
// A base64 line never holds a colon, so a first line is a header, data or
// the (empty) password, never ambiguous. Data split over several lines is
// joined. An entry whose data is not valid base64, or whose headers name
// another transfer encoding, is an error rather than an empty or garbled
// file.
func decodeGopassBinary(body []byte) (content []byte, filename string, err error) {
	lines := strings.Split(strings.ReplaceAll(string(body), "\r\n", "\n"), "\n")
	i := 0
	if lines[0] == "" || lines[0] == "GOPASS-SECRET-1.0" {
		i = 1
	}
	h := gopassHeaders(lines[i:])
	i += h.n
	if h.encoding != "" && !strings.EqualFold(h.encoding, "base64") {
		return nil, "", errors.New("a gopass binary entry whose Content-Transfer-Encoding is not base64")
	}
	var data strings.Builder
	for ; i < len(lines); i++ {
		data.WriteString(strings.TrimSpace(lines[i]))
	}
	content, err = base64.StdEncoding.DecodeString(data.String())
	if err != nil {
		return nil, "", errors.New("a gopass binary (.b64) entry whose data is not valid base64")
	}
	return content, h.filename, nil
}

// gopassHeaderBlock is what the header lines of a gopass entry say.
type gopassHeaderBlock struct {
	n        int // lines read
	filename string
	encoding string
}

// gopassHeaders reads the `Key: value` lines at the start of lines (a key
// is a MIME token: letters, digits and -).
func gopassHeaders(lines []string) gopassHeaderBlock {
	var h gopassHeaderBlock
	for _, line := range lines {
		k, v, ok := strings.Cut(line, ":")
		if !ok || k == "" || strings.IndexFunc(k, func(r rune) bool {
			return !(r == '-' || r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z')
		}) >= 0 {
			break
		}
		h.n++
		v = strings.TrimSpace(v)
		switch strings.ToLower(k) {
		case "content-disposition":
			h.filename = dispositionFilename(v)
		case "content-transfer-encoding":
			h.encoding = v
		}
	}
	return h
}

// dispositionFilename is the filename parameter of a Content-Disposition
// value. gopass writes filename="%s" without escaping, so a value the MIME
// parser refuses is read by hand.
func dispositionFilename(v string) string {
	if _, params, err := mime.ParseMediaType(v); err == nil {
		return params["filename"]
	}
	if _, after, ok := strings.Cut(v, "filename="); ok {
		after, _, _ = strings.Cut(after, ";")
		return strings.Trim(strings.TrimSpace(after), `"`)
	}
	return ""
}

// isGopassBinaryBody reports whether a gopass entry without the .b64
// suffix is binary all the same: gopass 1.12 and later mark binary entries
// only by a Content-Transfer-Encoding: base64 header after the (empty)
// password line.
func isGopassBinaryBody(body []byte) bool {
	lines := strings.Split(strings.ReplaceAll(string(body), "\r\n", "\n"), "\n")
	if len(lines) < 2 || lines[0] != "" && lines[0] != "GOPASS-SECRET-1.0" {
		return false
	}
	return strings.EqualFold(gopassHeaders(lines[1:]).encoding, "base64")
}

// openStoreFile opens an entry file without following a symbolic link and
// checks that it is a regular file of a sane size.
func openStoreFile(f StoreFile) (*os.File, error) {
	fh, err := os.OpenFile(f.Abs, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, errors.New("became a symbolic link; not followed")
		}
		return nil, fmt.Errorf("cannot read: %s", errText(err))
	}
	st, err := fh.Stat()
	switch {
	case err != nil:
		fh.Close()
		return nil, fmt.Errorf("cannot read: %s", errText(err))
	case !st.Mode().IsRegular():
		fh.Close()
		return nil, errors.New("not a regular file")
	case st.Size() > maxStoreFile:
		fh.Close()
		return nil, fmt.Errorf("%d bytes, too large to be one entry", st.Size())
	}
	return fh, nil
}

// mimePassword finds the Password header of a gopass MIME-format secret
// (the lines before the first blank line).
func mimePassword(rest string) (string, bool) {
	for _, line := range strings.Split(rest, "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			break
		}
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "password") {
			return strings.TrimPrefix(v, " "), true
		}
	}
	return "", false
}
