package cli

import (
	"errors"
	"fmt"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/tresor-dev/tresor/codec"
	"github.com/tresor-dev/tresor/repo"
)

func (r *runner) teamCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "team",
		Usage: "the recipients entries are encrypted to, and which of them this device trusts",
		Subcommands: []*ucli.Command{
			{
				Name:   "ls",
				Usage:  "list the recipients, with whether this device has accepted each",
				Action: r.cmdTeamLs,
			},
			{
				Name:  "trust",
				Usage: "review and accept the recipients file (after a pull or a hand edit)",
				Flags: []ucli.Flag{
					&ucli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "accept without asking (after reviewing `tresor team ls`)"},
				},
				Action: r.cmdTeamTrust,
			},
		},
	}
}

type teamRow struct {
	Member  string `json:"member,omitempty"`
	Device  string `json:"device,omitempty"`
	Comment string `json:"comment,omitempty"`
	Key     string `json:"recipient"`
	// Status: trusted, added (not trusted), relabelled (not trusted),
	// removed (still trusted, no longer in the file).
	Status string `json:"status"`
}

func commentField(comment, key string) string {
	for _, f := range strings.Fields(comment) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

func teamRows(st *repo.TrustState) []teamRow {
	row := func(rc codec.Recipient, status string) teamRow {
		return teamRow{Member: commentField(rc.Comment, "member"), Device: commentField(rc.Comment, "device"), Comment: rc.Comment, Key: rc.Key, Status: status}
	}
	var rows []teamRow
	for _, rc := range st.Current {
		status := "trusted"
		if !st.IsTrusted(rc) {
			status = "added, not trusted"
			for _, x := range st.Relabelled {
				if x.Key == rc.Key && x.Comment == rc.Comment {
					status = "relabelled, not trusted"
				}
			}
		}
		rows = append(rows, row(rc, status))
	}
	for _, rc := range st.Removed {
		rows = append(rows, row(rc, "removed, not yet accepted"))
	}
	return rows
}

func (r *runner) cmdTeamLs(c *ucli.Context) error {
	if err := args(c, 0, 0, ""); err != nil {
		return err
	}
	s, err := r.open(c)
	if err != nil {
		return err
	}
	defer s.close()
	st, err := s.vault.Trust()
	if err != nil {
		return err
	}
	rows := teamRows(st)
	if c.Bool("json") {
		return writeJSON(r.out(), map[string]any{"trusted": st.OK(), "recipients": rows})
	}
	tw, flush := r.table("MEMBER", "DEVICE", "RECIPIENT", "STATUS")
	for _, row := range rows {
		member, device := row.Member, row.Device
		if member == "" && device == "" {
			member = row.Comment
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", dash(member), dash(device), row.Key, row.Status)
	}
	if err := flush(); err != nil {
		return err
	}
	if !st.OK() {
		fmt.Fprintf(r.errw(), "%s is not trusted on this device: writes are refused until you accept it with `%s`\n", repo.RecipientsFile, repo.TrustCommand)
	}
	return nil
}

func (r *runner) cmdTeamTrust(c *ucli.Context) error {
	if err := args(c, 0, 0, "[--yes]"); err != nil {
		return err
	}
	s, err := r.open(c)
	if err != nil {
		return err
	}
	defer s.close()
	st, err := s.vault.Trust()
	if err != nil {
		return err
	}
	if st.OK() {
		fmt.Fprintf(r.errw(), "%s is already trusted (%d recipients); nothing to do\n", repo.RecipientsFile, len(st.Current))
		return nil
	}
	if !c.Bool("yes") && !r.env.StdinTTY {
		return fmt.Errorf("team trust: not accepted: no terminal to confirm on (%s); check the keys with their owners, then run `tresor team trust --yes`", st.Describe())
	}
	// The review is the command's output; what happened goes to stderr.
	w := r.out()
	if !st.Recorded {
		fmt.Fprintf(w, "this clone has not accepted a recipients file yet; %s lists:\n", repo.RecipientsFile)
		for _, rc := range st.Current {
			fmt.Fprintf(w, "  + %s\n", repo.Label(rc))
		}
	} else {
		fmt.Fprintf(w, "%s changed since this device accepted it:\n", repo.RecipientsFile)
		for _, rc := range st.Added {
			fmt.Fprintf(w, "  + %s   (added: new entries will be readable by this key)\n", repo.Label(rc))
		}
		for _, rc := range st.Removed {
			fmt.Fprintf(w, "  - %s   (removed: new entries will not be readable by this key)\n", repo.Label(rc))
		}
		for _, rc := range st.Relabelled {
			fmt.Fprintf(w, "  ~ %s   (comment changed: it decides which key a device entry goes to)\n", repo.Label(rc))
		}
	}
	if !c.Bool("yes") {
		ok, err := r.env.Confirm("Accept these recipients? Every later write encrypts to them.")
		if err != nil {
			return fmt.Errorf("team trust: %w", err)
		}
		if !ok {
			return errors.New("team trust: not accepted; nothing changed")
		}
	}
	if err := s.vault.Accept(st.Data); err != nil {
		return fmt.Errorf("team trust: %w", err)
	}
	fmt.Fprintf(r.errw(), "accepted %s: %d recipients; new writes encrypt to them\n", repo.RecipientsFile, len(st.Current))
	if st.Uncommitted {
		fmt.Fprintf(r.errw(), "note: %s differs from the last commit; teammates get the change only once it is committed and pushed\n", repo.RecipientsFile)
	}
	return nil
}
