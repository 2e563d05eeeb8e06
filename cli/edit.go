package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"unicode/utf8"

	ucli "github.com/urfave/cli/v2"

	"github.com/tresor-dev/tresor/access"
	"github.com/tresor-dev/tresor/codec"
	"github.com/tresor-dev/tresor/repo"
	"github.com/tresor-dev/tresor/schemas"
)

// editMarker separates the fields (YAML, above) from the value (below,
// byte for byte) in the edit buffer.
const editMarker = "--- value ---"

// editBuffer renders an entry for editing: its fields as YAML, then the
// marker line, then the primary value exactly, so an editor shows the value
// as text and no YAML quoting stands between the user and it.
func editBuffer(ref repo.Ref, e *schemas.Entry, t *schemas.Type) ([]byte, error) {
	head := e.Clone()
	head.Delete(t.Primary)
	doc, err := codec.Marshal(head, t)
	if err != nil {
		return nil, err
	}
	// Drop the format line: the buffer is not an entry document.
	doc = bytes.TrimPrefix(doc, []byte(fmt.Sprintf("tresor: %d\n", codec.FormatVersion)))
	var b bytes.Buffer
	fmt.Fprintf(&b, "# tresor edit %s\n", ref)
	fmt.Fprintf(&b, "# The fields are YAML, above the %q line. Everything after that line is\n", editMarker)
	fmt.Fprintf(&b, "# the %s, byte for byte (no newline is added at its end).\n", t.Primary)
	b.WriteString("# Save and quit to commit; quit without saving to cancel.\n")
	b.Write(doc)
	b.WriteString(editMarker + "\n")
	b.WriteString(e.Fields[t.Primary])
	return b.Bytes(), nil
}

// parseEditBuffer reverses editBuffer.
func parseEditBuffer(buf []byte, t *schemas.Type) (*schemas.Entry, error) {
	marker := []byte("\n" + editMarker + "\n")
	i := bytes.Index(buf, marker)
	var head, value []byte
	switch {
	case i >= 0:
		head, value = buf[:i+1], buf[i+len(marker):]
	case bytes.HasPrefix(buf, marker[1:]):
		value = buf[len(marker)-1:]
	default:
		return nil, fmt.Errorf("the %q line is missing: put the fields above it and the %s below it", editMarker, t.Primary)
	}
	var lines [][]byte
	for _, l := range bytes.SplitAfter(head, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimLeft(l, " \t"), []byte("#")) {
			lines = append(lines, l)
		}
	}
	e, err := codec.Unmarshal(bytes.Join(lines, nil))
	if err != nil {
		return nil, err
	}
	if e.Has(t.Primary) {
		return nil, fmt.Errorf("$.%s: the %s goes below the %q line, not among the fields", t.Primary, t.Primary, editMarker)
	}
	e.Set(t.Primary, string(value))
	return e, nil
}

// editDir makes a private directory for the plaintext, on a RAM-backed
// filesystem when there is one: $XDG_RUNTIME_DIR, then /dev/shm.
func (r *runner) editDir() (string, error) {
	var bases []string
	if d := r.env.Getenv("XDG_RUNTIME_DIR"); d != "" {
		bases = append(bases, d)
	}
	bases = append(bases, "/dev/shm")
	for _, base := range bases {
		st, err := os.Stat(base)
		if err != nil || !st.IsDir() {
			continue
		}
		dir, err := os.MkdirTemp(base, "tresor-edit-")
		if err != nil {
			continue
		}
		if err := os.Chmod(dir, 0o700); err != nil {
			os.RemoveAll(dir)
			continue
		}
		return dir, nil
	}
	dir, err := os.MkdirTemp("", "tresor-edit-")
	if err != nil {
		return "", err
	}
	fmt.Fprintf(r.errw(), "warning: no RAM-backed directory ($XDG_RUNTIME_DIR or /dev/shm); the plaintext goes to %s until the editor exits\n", dir)
	return dir, os.Chmod(dir, 0o700)
}

// wipe overwrites a plaintext file before removing it and its directory.
func wipe(dir, file string) {
	if st, err := os.Stat(file); err == nil {
		if f, err := os.OpenFile(file, os.O_WRONLY, 0); err == nil {
			f.Write(make([]byte, st.Size()))
			f.Sync()
			f.Close()
		}
	}
	os.RemoveAll(dir)
}

// editorCommand builds the editor's argv. vi-family editors get the options
// that keep every copy of the buffer out of swap, backup, undo and
// viminfo/ShaDa files, on the command line, whatever the user's vimrc says.
func editorCommand(editor, file string) []string {
	argv := strings.Fields(editor)
	switch filepath.Base(argv[0]) {
	case "vi", "vim", "nvim", "gvim", "mvim", "view", "vim.basic", "vim.tiny":
		argv = append(argv, "-n", "-i", "NONE",
			"--cmd", "set nobackup nowritebackup noundofile noswapfile",
			"-c", "set nofixendofline")
	}
	return append(argv, file)
}

func (r *runner) cmdEdit(c *ucli.Context) error {
	if err := args(c, 1, 1, "NAME"); err != nil {
		return err
	}
	s, err := r.open(c)
	if err != nil {
		return err
	}
	defer s.close()
	l, err := s.load(c.Args().First())
	if err != nil {
		return err
	}
	clear(l.Doc)
	if v := l.Entry.Fields[l.Type.Primary]; !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
		return &repo.EntryError{Ref: l.Ref.String(), Err: errors.New("the value is binary and cannot be edited as text; replace it with `tresor set --from-file`")}
	}
	editor := r.env.Getenv("VISUAL")
	if editor == "" {
		editor = r.env.Getenv("EDITOR")
	}
	if editor == "" {
		editor = "vi"
	}
	buf, err := editBuffer(l.Ref, l.Entry, l.Type)
	if err != nil {
		return &repo.EntryError{Ref: l.Ref.String(), Err: err}
	}
	if err := s.logRead("edit", l.Ref, "", []byte(l.Entry.Fields[l.Type.Primary]), access.ResultOK, ""); err != nil {
		return err
	}
	dir, err := r.editDir()
	if err != nil {
		return err
	}
	file := filepath.Join(dir, "entry.txt")
	defer wipe(dir, file)
	if err := os.WriteFile(file, buf, 0o600); err != nil {
		return err
	}
	original := buf
	for {
		argv := editorCommand(editor, file)
		bin, err := r.env.lookPath(argv[0])
		if err != nil {
			return &repo.EntryError{Ref: l.Ref.String(), Err: fmt.Errorf("editor: %v (set $EDITOR)", err)}
		}
		cmd := exec.Command(bin, argv[1:]...)
		if r.env.Environ != nil {
			cmd.Env = r.env.Environ()
		}
		cmd.Stdin, cmd.Stdout, cmd.Stderr = r.env.Stdin, r.env.Stdout, r.env.Stderr
		if err := cmd.Run(); err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				if st, ok := ee.Sys().(syscall.WaitStatus); ok && st.Exited() {
					return &repo.EntryError{Ref: l.Ref.String(), Err: fmt.Errorf("editor exited with status %d; nothing changed", st.ExitStatus())}
				}
			}
			return &repo.EntryError{Ref: l.Ref.String(), Err: fmt.Errorf("editor %q: %v; nothing changed", argv[0], err)}
		}
		edited, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		if bytes.Equal(edited, original) {
			fmt.Fprintf(r.errw(), "no changes to %s\n", l.Ref)
			return nil
		}
		e, perr := parseEditBuffer(edited, l.Type)
		if perr == nil {
			if e.Type != l.Entry.Type {
				perr = fmt.Errorf("$.type: changing the type is not supported by edit (was %s)", l.Entry.Type)
			}
		}
		var prepared []repo.Prepared
		if perr == nil {
			prepared, perr = s.vault.Prepare([]repo.Put{{Ref: l.Ref, Entry: e}})
			if perr == nil && entriesEqual(e, l.Entry) {
				fmt.Fprintf(r.errw(), "no changes to %s\n", l.Ref)
				return nil
			}
		}
		if perr != nil {
			if !r.env.StdinTTY {
				return &repo.EntryError{Ref: l.Ref.String(), Err: fmt.Errorf("%v; nothing changed", unwrapEntry(perr))}
			}
			fmt.Fprintf(r.errw(), "tresor: %s: %s\n", l.Ref, oneLine(unwrapEntry(perr).Error()))
			again, err := r.env.Confirm("Re-open the editor?")
			if err != nil || !again {
				return &repo.EntryError{Ref: l.Ref.String(), Err: errors.New("edit abandoned; nothing changed")}
			}
			original = nil
			continue
		}
		for _, w := range prepared[0].Warnings {
			fmt.Fprintf(r.errw(), "warning: %s: %s\n", l.Ref, w)
		}
		valueChanged := !secretsEqual(l.Type, l.Entry, e)
		op := map[bool]string{true: "set", false: "meta"}[valueChanged]
		msg := repo.Message{Op: op, Entries: []string{l.Ref.String()}, Type: e.Type, ValueChanged: valueChanged, Summary: fmt.Sprintf("edit %s (%s)", l.Ref, e.Type)}
		if err := s.vault.Commit(context.Background(), prepared, msg, s.author()); err != nil {
			return err
		}
		fmt.Fprintf(r.errw(), "updated %s (%s)\n", l.Ref, e.Type)
		return nil
	}
}

func unwrapEntry(err error) error {
	var ee *repo.EntryError
	if errors.As(err, &ee) {
		return ee.Err
	}
	return err
}
