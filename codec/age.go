package codec

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"filippo.io/age/armor"
	"github.com/google/renameio/v2"
)

// MaxFile caps the size of an entry file read from disk: the largest
// document plus age's per-chunk overhead and a generous header.
const MaxFile = MaxDocument + MaxDocument/64*17/1024 + 1<<20

// Keyring is an unlocked identity: what decrypts entries on this device.
type Keyring struct {
	// Path is the identity file it was read from.
	Path string
	// Recipient is the public key of the first identity (age1… or ssh-…).
	Recipient string
	ids       []age.Identity
	secret    []byte // raw identity file, used only to derive local keys
}

// ErrInsecureIdentity reports an identity file that others can read.
type ErrInsecureIdentity struct {
	Path string
	Mode fs.FileMode
}

func (e *ErrInsecureIdentity) Error() string {
	return fmt.Sprintf("identity %s has mode %04o, readable by others; refusing to use it (fix: chmod 600 %s)", e.Path, e.Mode.Perm(), e.Path)
}

// LoadIdentity reads an identity file: age keys (AGE-SECRET-KEY-1…, one per
// line, # comments) or an unencrypted OpenSSH ed25519/rsa private key. A file
// readable by group or others is refused, as ssh does, unless allowInsecure.
// A passphrase-protected file is refused with ErrPassphraseRequired: use
// LoadIdentityWith to unlock it.
func LoadIdentity(path string, allowInsecure bool) (*Keyring, error) {
	return LoadIdentityWith(path, IdentityOptions{AllowInsecure: allowInsecure})
}

// IdentityOptions say how to load an identity file.
type IdentityOptions struct {
	// AllowInsecure accepts a file readable by group or others.
	AllowInsecure bool
	// Passphrase is asked, once, for an identity file encrypted with a
	// passphrase (age -p). Nil means there is no one to ask.
	Passphrase func(prompt string) ([]byte, error)
	// NoPassphraseHint ends the error when Passphrase is nil: why nobody
	// can be asked, and what to do.
	NoPassphraseHint string
}

// ErrPassphraseRequired: the identity file is encrypted with a passphrase and
// none could be asked for.
var ErrPassphraseRequired = errors.New("passphrase-protected")

// ErrWrongPassphrase: the passphrase does not decrypt the identity file.
var ErrWrongPassphrase = errors.New("wrong passphrase")

// LoadIdentityWith is LoadIdentity that can unlock a passphrase-protected
// identity file (age -p, ASCII-armored or not): it asks o.Passphrase once and
// runs scrypt once; the Keyring it returns holds the unwrapped keys, so
// callers that keep it never ask or derive again.
func LoadIdentityWith(path string, o IdentityOptions) (*Keyring, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("identity %s does not exist (run `tresor init`, or set TRESOR_IDENTITY)", path)
		}
		return nil, fmt.Errorf("identity %s: %w", path, err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("identity %s is a directory", path)
	}
	if st.Mode().Perm()&0o077 != 0 && !o.AllowInsecure {
		return nil, &ErrInsecureIdentity{Path: path, Mode: st.Mode()}
	}
	if st.Size() > maxIdentityFile {
		return nil, fmt.Errorf("identity %s is %d bytes, too large to be an identity file", path, st.Size())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("identity %s: %w", path, err)
	}
	if !IsEncryptedIdentity(data) {
		return ParseIdentity(path, data)
	}
	if o.Passphrase == nil {
		hint := o.NoPassphraseHint
		if hint == "" {
			hint = "there is no terminal to ask for its passphrase"
		}
		return nil, fmt.Errorf("identity %s is %w (age -p) and %s", path, ErrPassphraseRequired, hint)
	}
	pass, err := o.Passphrase(fmt.Sprintf("Passphrase for identity %s: ", path))
	if err != nil {
		return nil, fmt.Errorf("identity %s is %w (age -p) and %v", path, ErrPassphraseRequired, err)
	}
	defer clear(pass)
	return UnlockIdentity(path, data, pass)
}

// maxIdentityFile bounds what is read as an identity file (an RSA-16384 key
// in PEM is under 13 KiB; age key files hold a few keys).
const maxIdentityFile = 1 << 20

// IsEncryptedIdentity reports whether identity file contents are an age
// file (binary or ASCII-armored), as `age-keygen | age -p` writes.
func IsEncryptedIdentity(data []byte) bool {
	return bytes.HasPrefix(data, []byte("age-encryption.org/")) ||
		bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte(armor.Header))
}

// UnlockIdentity decrypts a passphrase-protected identity file with pass
// (one scrypt derivation) and parses what is inside. Errors never contain
// the passphrase or key material.
func UnlockIdentity(path string, data, pass []byte) (*Keyring, error) {
	if len(pass) == 0 {
		return nil, fmt.Errorf("identity %s: %w (empty passphrase)", path, ErrWrongPassphrase)
	}
	id, err := age.NewScryptIdentity(string(pass))
	if err != nil {
		return nil, fmt.Errorf("identity %s: %v", path, err)
	}
	var src io.Reader = bytes.NewReader(data)
	if !bytes.HasPrefix(data, []byte("age-encryption.org/")) {
		src = armor.NewReader(src)
	}
	r, err := age.Decrypt(src, id)
	if err != nil {
		var nm *age.NoIdentityMatchError
		if errors.As(err, &nm) || errors.Is(err, age.ErrIncorrectIdentity) {
			return nil, fmt.Errorf("identity %s: %w (or the file is encrypted to a key, not a passphrase)", path, ErrWrongPassphrase)
		}
		return nil, fmt.Errorf("identity %s: cannot decrypt the passphrase-protected file: %s", path, ageReason(err))
	}
	plain, err := io.ReadAll(io.LimitReader(r, maxIdentityFile+1))
	if err != nil {
		clear(plain)
		return nil, fmt.Errorf("identity %s: cannot decrypt the passphrase-protected file: %s", path, ageReason(err))
	}
	if len(plain) > maxIdentityFile {
		clear(plain)
		return nil, fmt.Errorf("identity %s: the decrypted file is too large to be an identity file", path)
	}
	if IsEncryptedIdentity(plain) {
		clear(plain)
		return nil, fmt.Errorf("identity %s: encrypted twice; decrypt it once with `age -d` and protect it with one passphrase", path)
	}
	// The keyring keeps plain (LocalKey derives from it): not cleared here.
	return ParseIdentity(path, plain)
}

// ParseIdentity parses identity file contents; path is used in errors only.
// Errors never contain key material.
func ParseIdentity(path string, data []byte) (*Keyring, error) {
	if IsEncryptedIdentity(data) {
		return nil, fmt.Errorf("identity %s is %w (age -p); it must be unlocked first", path, ErrPassphraseRequired)
	}
	k := &Keyring{Path: path, secret: data}
	if bytes.Contains(data, []byte("-----BEGIN")) {
		id, err := agessh.ParseIdentity(data)
		if err != nil {
			return nil, fmt.Errorf("identity %s: not a usable SSH private key (passphrase-protected SSH keys are not supported yet)", path)
		}
		k.ids = []age.Identity{id}
		switch i := id.(type) {
		case *agessh.Ed25519Identity:
			k.Recipient = sshRecipientString(i.Recipient())
		case *agessh.RSAIdentity:
			k.Recipient = sshRecipientString(i.Recipient())
		}
		return k, nil
	}
	ids, err := age.ParseIdentities(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("identity %s: %v", path, err)
	}
	switch i := ids[0].(type) {
	case *age.X25519Identity:
		k.Recipient = i.Recipient().String()
	case *age.HybridIdentity:
		k.Recipient = i.Recipient().String()
	}
	k.ids = make([]age.Identity, len(ids))
	for n, id := range ids {
		k.ids[n] = id
		if x, ok := id.(*age.X25519Identity); ok {
			if fast, err := newX25519Identity(x); err == nil {
				k.ids[n] = fast
			}
		}
	}
	return k, nil
}

func sshRecipientString(r age.Recipient) string {
	type stringer interface{ String() string }
	if s, ok := r.(stringer); ok {
		return s.String()
	}
	return "ssh key"
}

// LocalKey derives a key for local, per-device uses (keyed fingerprints in
// redacted diffs) from the identity, so it needs no extra secret file.
func (k *Keyring) LocalKey(purpose string) []byte {
	m := hmac.New(sha256.New, k.secret)
	m.Write([]byte("tresor local key: " + purpose))
	return m.Sum(nil)
}

// GenerateIdentity creates a new X25519 identity file at path with mode 0600
// in a 0700 directory. It never overwrites an existing file.
func GenerateIdentity(path string) (*Keyring, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("identity directory: %w", err)
	}
	if _, err := os.Lstat(path); err == nil {
		return nil, fmt.Errorf("identity %s already exists; not overwriting it", path)
	}
	content := fmt.Sprintf("# created by tresor\n# public key: %s\n%s\n", id.Recipient(), id)
	if err := renameio.WriteFile(path, []byte(content), 0o600); err != nil {
		return nil, fmt.Errorf("writing identity %s: %w", path, err)
	}
	// renameio honours the mode exactly, whatever the umask; check anyway.
	if err := os.Chmod(path, 0o600); err != nil {
		return nil, err
	}
	return ParseIdentity(path, []byte(content))
}

// Recipient is one line of .tresor/recipients.txt: a public key and the
// comment that names its owner.
type Recipient struct {
	Key     string // age1… or ssh-ed25519 …/ssh-rsa …
	Comment string // "alice laptop", from the comment line above it
	r       age.Recipient
}

// ParseRecipient parses one public key.
func ParseRecipient(s string) (Recipient, error) {
	s = strings.TrimSpace(s)
	var r age.Recipient
	var err error
	switch {
	case strings.HasPrefix(s, "ssh-"):
		r, err = agessh.ParseRecipient(s)
	case strings.HasPrefix(s, "age1pq1"):
		r, err = age.ParseHybridRecipient(s)
	case strings.HasPrefix(s, "age1"):
		r, err = age.ParseX25519Recipient(s)
	default:
		err = errors.New("unknown recipient type (want age1… or an ssh-ed25519/ssh-rsa public key)")
	}
	if err != nil {
		return Recipient{}, err
	}
	return Recipient{Key: s, r: r}, nil
}

// ParseRecipients parses a recipients file: one key a line, each optionally
// preceded by `# member device` comment lines.
func ParseRecipients(data []byte) ([]Recipient, error) {
	var out []Recipient
	comment := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
			comment = ""
			continue
		case strings.HasPrefix(line, "#"):
			comment = strings.TrimSpace(strings.TrimPrefix(line, "#"))
			continue
		}
		r, err := ParseRecipient(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", n, err)
		}
		r.Comment = comment
		out = append(out, r)
		comment = ""
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("no recipients")
	}
	return out, nil
}

// FormatRecipients writes a recipients file.
func FormatRecipients(rs []Recipient) []byte {
	var b bytes.Buffer
	for i, r := range rs {
		if i > 0 {
			b.WriteString("\n")
		}
		if r.Comment != "" {
			fmt.Fprintf(&b, "# %s\n", r.Comment)
		}
		b.WriteString(r.Key + "\n")
	}
	return b.Bytes()
}

// Encrypt encrypts plaintext to the recipients, as a standard age file
// (ASCII-armored when armored is set).
func Encrypt(plaintext []byte, rs []Recipient, armored bool) ([]byte, error) {
	if len(rs) == 0 {
		return nil, errors.New("no recipients to encrypt to")
	}
	recips := make([]age.Recipient, len(rs))
	for i, r := range rs {
		if r.r == nil {
			p, err := ParseRecipient(r.Key)
			if err != nil {
				return nil, err
			}
			r = p
		}
		recips[i] = r.r
	}
	var out bytes.Buffer
	var dst io.Writer = &out
	var aw io.WriteCloser
	if armored {
		aw = armor.NewWriter(&out)
		dst = aw
	}
	w, err := age.Encrypt(dst, recips...)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(plaintext); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	if aw != nil {
		if err := aw.Close(); err != nil {
			return nil, err
		}
	}
	return out.Bytes(), nil
}

// Decryption failure kinds.
var (
	// ErrNotForYou: the file is a valid age file but not encrypted to any
	// identity in the keyring.
	ErrNotForYou = errors.New("not encrypted to your identity")
	// ErrCorrupt: the file is damaged: truncated, trailing bytes, not an age
	// file, or failing authentication.
	ErrCorrupt = errors.New("ciphertext is corrupted or truncated")
	// ErrTooLarge: the file is over MaxFile.
	ErrTooLarge = errors.New("file is too large to be an entry")
)

// Decrypt authenticates and decrypts a whole age file. It returns the
// plaintext only once every chunk has been authenticated: a truncated or
// damaged file yields an error and no plaintext at all. Errors wrap
// ErrNotForYou or ErrCorrupt.
func (k *Keyring) Decrypt(ciphertext []byte) ([]byte, error) {
	if len(ciphertext) > MaxFile {
		return nil, ErrTooLarge
	}
	var src io.Reader = bytes.NewReader(ciphertext)
	if bytes.HasPrefix(bytes.TrimLeft(ciphertext, " \t\r\n"), []byte(armor.Header)) {
		src = armor.NewReader(src)
	} else if !bytes.HasPrefix(ciphertext, []byte("age-encryption.org/")) {
		return nil, fmt.Errorf("%w: not an age file", ErrCorrupt)
	}
	r, err := age.Decrypt(src, k.ids...)
	if err != nil {
		var nm *age.NoIdentityMatchError
		if errors.As(err, &nm) {
			return nil, ErrNotForYou
		}
		return nil, fmt.Errorf("%w: %s", ErrCorrupt, ageReason(err))
	}
	plain, err := io.ReadAll(io.LimitReader(r, MaxDocument+1))
	if err != nil {
		clear(plain)
		return nil, fmt.Errorf("%w: %s", ErrCorrupt, ageReason(err))
	}
	if len(plain) > MaxDocument {
		clear(plain)
		return nil, ErrTooLarge
	}
	return plain, nil
}

// ageReason shortens age's error text; it never contains plaintext.
func ageReason(err error) string {
	s := err.Error()
	switch {
	case strings.Contains(s, "failed to read header"):
		return "damaged header"
	case strings.Contains(s, "unexpected EOF"), strings.Contains(s, "last chunk"), strings.Contains(s, "truncated"):
		return "file is cut short"
	case strings.Contains(s, "trailing data"):
		return "unexpected bytes after the end"
	}
	return firstLine(s)
}
