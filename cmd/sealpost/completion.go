package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

const completionUsage = `Usage: sealpost completion bash|zsh|fish

Prints a shell completion script for sealpost's commands, subcommands,
flags and flag values (paths complete as files).

Examples:
  sealpost completion bash > /etc/bash_completion.d/sealpost
  source <(sealpost completion bash)                     # this shell only
  sealpost completion zsh > "${fpath[1]}/_sealpost"
  sealpost completion fish > ~/.config/fish/completions/sealpost.fish
`

// cmdSpec is what completion knows about a command.
type cmdSpec struct {
	name, desc string
	subs       []string // subcommands, or the first argument's choices
	flags      []string
}

var dataFlags = []string{"--data", "--config", "--help"}

var completionSpecs = []cmdSpec{
	{"serve", "run the server", nil, []string{"--config", "--data", "--imap", "--imaps", "--pop3", "--pop3s", "--lmtp", "--lmtp-socket", "--log-format", "--log-level", "--hostname", "--help"}},
	{"user", "add, change, list, delete and import users", []string{"add", "passwd", "quota", "del", "list", "import"}, append([]string{"--password-stdin", "--quota", "--dry-run"}, dataFlags...)},
	{"mailbox", "list, create and delete mailboxes of a user", []string{"list", "create", "delete"}, append([]string{"--special-use", "--force"}, dataFlags...)},
	{"import", "import a maildir or mbox", nil, append([]string{"--mailbox", "--mbox-variant"}, dataFlags...)},
	{"export", "export mail as maildir or mbox", nil, append([]string{"--format", "--mbox-variant"}, dataFlags...)},
	{"backup", "make a consistent copy of the store", nil, dataFlags},
	{"restore", "restore a backup into a new data directory", nil, dataFlags},
	{"stats", "count users, messages and bytes", nil, append([]string{"--json"}, dataFlags...)},
	{"check", "verify the store", nil, dataFlags},
	{"check-config", "check a config file", nil, []string{"--help"}},
	{"deliver", "deliver a message from stdin (for Postfix)", nil, []string{"-d", "-f", "--socket", "--lmtp", "--data", "--config", "--help"}},
	{"completion", "print a shell completion script", []string{"bash", "zsh", "fish"}, nil},
	{"version", "print the version", nil, nil},
	{"help", "show help for a command", nil, nil},
}

// flagValues lists the values of flags that take one of a few words;
// flags in fileFlags take paths.
var flagValues = map[string][]string{
	"--format":       {"maildir", "mbox"},
	"--mbox-variant": {"mboxrd", "mboxo"},
	"--log-format":   {"text", "json"},
	"--log-level":    {"debug", "info", "warn", "error"},
	"--special-use":  {`\\Archive`, `\\Drafts`, `\\Junk`, `\\Sent`, `\\Trash`},
}

var fileFlags = []string{"--data", "--config", "--socket", "--lmtp-socket"}

func cmdCompletion(args []string, stdout, stderr io.Writer) int {
	if isHelp(args) {
		fmt.Fprint(stdout, completionUsage)
		return 0
	}
	if len(args) != 1 {
		fmt.Fprint(stderr, completionUsage)
		return 2
	}
	switch args[0] {
	case "bash":
		fmt.Fprint(stdout, bashCompletion())
	case "zsh":
		fmt.Fprint(stdout, zshCompletion())
	case "fish":
		fmt.Fprint(stdout, fishCompletion())
	default:
		fmt.Fprintf(stderr, "sealpost completion: unknown shell %q (bash, zsh or fish)\n", args[0])
		return 2
	}
	return 0
}

func commandNames() string {
	var n []string
	for _, c := range completionSpecs {
		n = append(n, c.name)
	}
	return strings.Join(n, " ")
}

func sortedValueFlags() []string {
	var ks []string
	for k := range flagValues {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func bashCompletion() string {
	var b strings.Builder
	b.WriteString("# bash completion for sealpost (sealpost completion bash)\n_sealpost() {\n")
	b.WriteString("  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} cmd=${COMP_WORDS[1]}\n")
	b.WriteString("  COMPREPLY=()\n")
	fmt.Fprintf(&b, "  if [[ $COMP_CWORD -eq 1 ]]; then COMPREPLY=($(compgen -W %q -- \"$cur\")); return; fi\n", commandNames())
	b.WriteString("  case $prev in\n")
	fmt.Fprintf(&b, "    %s) COMPREPLY=($(compgen -f -- \"$cur\")); return;;\n", strings.Join(fileFlags, "|"))
	for _, k := range sortedValueFlags() {
		fmt.Fprintf(&b, "    %s) COMPREPLY=($(compgen -W %q -- \"$cur\")); return;;\n", k, strings.Join(flagValues[k], " "))
	}
	b.WriteString("  esac\n  case $cmd in\n")
	for _, c := range completionSpecs {
		fmt.Fprintf(&b, "    %s)\n", c.name)
		if c.name == "help" {
			fmt.Fprintf(&b, "      COMPREPLY=($(compgen -W %q -- \"$cur\")); return;;\n", commandNames())
			continue
		}
		if len(c.subs) > 0 {
			fmt.Fprintf(&b, "      if [[ $COMP_CWORD -eq 2 ]]; then COMPREPLY=($(compgen -W %q -- \"$cur\")); return; fi\n", strings.Join(c.subs, " "))
		}
		if c.name == "import" {
			b.WriteString("      if [[ $COMP_CWORD -eq 3 ]]; then COMPREPLY=($(compgen -W \"maildir mbox\" -- \"$cur\")); return; fi\n")
		}
		if len(c.flags) > 0 {
			fmt.Fprintf(&b, "      if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W %q -- \"$cur\")); return; fi\n", strings.Join(c.flags, " "))
		}
		b.WriteString("      COMPREPLY=($(compgen -f -- \"$cur\"));;\n")
	}
	b.WriteString("  esac\n}\ncomplete -o filenames -F _sealpost sealpost\n")
	return b.String()
}

func zshCompletion() string {
	var b strings.Builder
	b.WriteString("#compdef sealpost\n# zsh completion for sealpost (sealpost completion zsh)\n_sealpost() {\n  local -a cmds\n  cmds=(\n")
	for _, c := range completionSpecs {
		fmt.Fprintf(&b, "    '%s:%s'\n", c.name, c.desc)
	}
	b.WriteString("  )\n  if (( CURRENT == 2 )); then _describe 'command' cmds; return; fi\n")
	b.WriteString("  case $words[CURRENT-1] in\n")
	fmt.Fprintf(&b, "    %s) _files; return;;\n", strings.Join(fileFlags, "|"))
	for _, k := range sortedValueFlags() {
		fmt.Fprintf(&b, "    %s) compadd -- %s; return;;\n", k, strings.Join(flagValues[k], " "))
	}
	b.WriteString("  esac\n  case $words[2] in\n")
	for _, c := range completionSpecs {
		fmt.Fprintf(&b, "    %s)\n", c.name)
		if c.name == "help" {
			b.WriteString("      _describe 'command' cmds; return;;\n")
			continue
		}
		if len(c.subs) > 0 {
			fmt.Fprintf(&b, "      if (( CURRENT == 3 )); then compadd -- %s; return; fi\n", strings.Join(c.subs, " "))
		}
		if c.name == "import" {
			b.WriteString("      if (( CURRENT == 4 )); then compadd -- maildir mbox; return; fi\n")
		}
		if len(c.flags) > 0 {
			fmt.Fprintf(&b, "      if [[ $words[CURRENT] == -* ]]; then compadd -- %s; return; fi\n", strings.Join(c.flags, " "))
		}
		b.WriteString("      _files;;\n")
	}
	b.WriteString("  esac\n}\n_sealpost \"$@\"\n")
	return b.String()
}

func fishCompletion() string {
	var b strings.Builder
	b.WriteString("# fish completion for sealpost (sealpost completion fish)\ncomplete -c sealpost -f\n")
	for _, c := range completionSpecs {
		fmt.Fprintf(&b, "complete -c sealpost -n __fish_use_subcommand -a %s -d '%s'\n", c.name, c.desc)
	}
	for _, c := range completionSpecs {
		cond := fmt.Sprintf("'__fish_seen_subcommand_from %s'", c.name)
		if len(c.subs) > 0 {
			fmt.Fprintf(&b, "complete -c sealpost -n %s -a '%s'\n", cond, strings.Join(c.subs, " "))
		}
		if c.name == "import" {
			fmt.Fprintf(&b, "complete -c sealpost -n %s -a 'maildir mbox'\n", cond)
		}
		if c.name == "help" {
			fmt.Fprintf(&b, "complete -c sealpost -n %s -a '%s'\n", cond, commandNames())
		}
		for _, fl := range c.flags {
			name := strings.TrimLeft(fl, "-")
			opt := "-l " + name
			if !strings.HasPrefix(fl, "--") {
				opt = "-s " + name
			}
			extra := ""
			if vals, ok := flagValues[fl]; ok {
				extra = fmt.Sprintf(" -x -a '%s'", strings.ReplaceAll(strings.Join(vals, " "), `\\`, `\\\\`))
			}
			for _, ff := range fileFlags {
				if ff == fl {
					extra = " -r -F"
				}
			}
			fmt.Fprintf(&b, "complete -c sealpost -n %s %s%s\n", cond, opt, extra)
		}
		if c.name != "completion" && c.name != "version" && c.name != "help" {
			fmt.Fprintf(&b, "complete -c sealpost -n %s -F\n", cond)
		}
	}
	return b.String()
}
