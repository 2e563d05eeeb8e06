package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
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

// editDirPrefix names edit directories; editPIDFile inside one holds the
// pid of the tresor process that made it, so a later tresor can tell a
// directory left by a killed edit (kill -9 cannot be caught) from a live one.
const (
	editDirPrefix = "tresor-edit-"
	editPIDFile   = "pid"
	editFile      = "entry.txt"
)

// editBases returns where edit directories may go, in order of preference:
// $XDG_RUNTIME_DIR, then /dev/shm.
func (r *runner) editBases() []string {
	var bases []string
	if d := r.env.Getenv("XDG_RUNTIME_DIR"); d != "" && filepath.IsAbs(d) {
		bases = append(bases, d)
	}
	return append(bases, "/dev/shm")
}

// editDir makes a private directory for the plaintext on a RAM-backed file
// system (statfs says tmpfs or ramfs): $XDG_RUNTIME_DIR, then /dev/shm. A
// candidate that is not RAM-backed is skipped, saying so; with none, the
// plaintext goes to the temporary directory, with a warning. The directory
// records our pid (see sweepEditDirs).
func (r *runner) editDir() (string, error) {
	var skipped []string
	for _, base := range r.editBases() {
		st, err := os.Stat(base)
		if err != nil || !st.IsDir() {
			continue
		}
		if ram, known := ramBacked(base); known && !ram {
			skipped = append(skipped, base)
			continue
		}
		if dir, err := makeEditDir(base); err == nil {
			if len(skipped) > 0 {
				fmt.Fprintf(r.errw(), "note: %s is not RAM-backed (tmpfs); the plaintext goes to %s\n", strings.Join(skipped, " and "), base)
			}
			return dir, nil
		}
	}
	dir, err := makeEditDir(os.TempDir())
	if err != nil {
		return "", err
	}
	why := "no RAM-backed directory ($XDG_RUNTIME_DIR or /dev/shm)"
	if len(skipped) > 0 {
		why = fmt.Sprintf("%s is not RAM-backed (tmpfs)", strings.Join(skipped, " and "))
	}
	fmt.Fprintf(r.errw(), "warning: %s; the plaintext goes to %s (on disk) until the editor exits\n", why, dir)
	return dir, nil
}

func makeEditDir(base string) (string, error) {
	dir, err := os.MkdirTemp(base, editDirPrefix)
	if err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	pid := []byte(strconv.Itoa(os.Getpid()) + "\n")
	if err := os.WriteFile(filepath.Join(dir, editPIDFile), pid, 0o600); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// sweepEditDirs wipes edit directories left by tresor processes that died
// during `edit` (kill -9, a crash, power loss on a disk-backed temp dir):
// only directories named tresor-edit-*, directly in one of the bases, that
// are real directories (not symlinks) owned by us, whose pid file names a
// process that no longer exists. A directory without a pid file is left
// alone (its edit may have just begun). It returns what it removed. It is
// cheap (one ReadDir per base) and runs before every command that opens the
// vault; withTemp adds the temporary directory (edit's last resort, often
// crowded), which edit and doctor sweep.
func (r *runner) sweepEditDirs(withTemp bool) []string {
	var removed []string
	seen := map[string]bool{}
	bases := r.editBases()
	if withTemp {
		bases = append(bases, os.TempDir())
	}
	for _, base := range bases {
		if seen[base] {
			continue
		}
		seen[base] = true
		ents, err := os.ReadDir(base)
		if err != nil {
			continue
		}
		for _, de := range ents {
			if !strings.HasPrefix(de.Name(), editDirPrefix) || !de.IsDir() || de.Type()&os.ModeSymlink != 0 {
				continue
			}
			dir := filepath.Join(base, de.Name())
			if staleEditDir(dir) {
				wipe(dir, filepath.Join(dir, editFile))
				removed = append(removed, dir)
			}
		}
	}
	return removed
}

// staleEditDir reports whether dir is ours and its edit's process is gone.
func staleEditDir(dir string) bool {
	fi, err := os.Lstat(dir)
	if err != nil || !fi.IsDir() {
		return false
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || int(st.Uid) != os.Getuid() {
		return false
	}
	pf := filepath.Join(dir, editPIDFile)
	if pi, err := os.Lstat(pf); err != nil || !pi.Mode().IsRegular() || pi.Size() > 32 {
		return false
	}
	data, err := os.ReadFile(pf)
	if err != nil {
		return false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 || pid == os.Getpid() {
		return false
	}
	// Signal 0 checks existence: ESRCH means no such process. EPERM means
	// someone else's process has the pid now: ours is gone too, but leave it
	// to the conservative side and keep the directory.
	return syscall.Kill(pid, 0) == syscall.ESRCH
}

// wipe overwrites a plaintext file before removing it and its directory.
// It never follows a symlink at file.
func wipe(dir, file string) {
	if st, err := os.Lstat(file); err == nil && st.Mode().IsRegular() {
		if f, err := os.OpenFile(file, os.O_WRONLY|syscall.O_NOFOLLOW, 0); err == nil {
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
	for _, d := range r.sweepEditDirs(true) {
		fmt.Fprintf(r.errw(), "wiped %s, left by an interrupted tresor edit\n", d)
	}
	dir, err := r.editDir()
	if err != nil {
		return err
	}
	file := filepath.Join(dir, editFile)
	defer wipe(dir, file)
	// A hangup (terminal closed) or SIGTERM must not leave the plaintext
	// behind: it is forwarded to the editor (killed if it lingers), the edit
	// is abandoned and the deferred wipe runs. Ctrl-C belongs to the editor
	// (vi uses it); tresor ignores SIGINT while the editor runs, like git.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, os.Interrupt)
	defer signal.Stop(sigs)
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
		got, err := runEditor(cmd, sigs)
		if got != nil {
			return &repo.EntryError{Ref: l.Ref.String(), Err: fmt.Errorf("edit interrupted (%v); nothing changed, the plaintext was wiped", got)}
		}
		if err != nil {
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

// runEditor runs cmd until it exits. A SIGHUP or SIGTERM on sigs is
// forwarded to it, then SIGKILL follows after two seconds if it is still
// running; the signal is returned. SIGINT is left to the editor.
func runEditor(cmd *exec.Cmd, sigs <-chan os.Signal) (os.Signal, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var got os.Signal
	var kill <-chan time.Time
	for {
		select {
		case err := <-done:
			return got, err
		case sig := <-sigs:
			if sig == os.Interrupt {
				continue
			}
			if got == nil {
				got = sig
				cmd.Process.Signal(sig)
				kill = time.After(2 * time.Second)
			}
		case <-kill:
			cmd.Process.Kill()
		}
	}
}

func unwrapEntry(err error) error {
	var ee *repo.EntryError
	if errors.As(err, &ee) {
		return ee.Err
	}
	return err
}
