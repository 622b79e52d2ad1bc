package mailfmt

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// MaildirFolder is one folder of a maildir tree.
type MaildirFolder struct {
	Name string // mailbox name, '/'-separated; "INBOX" for the root
	Dir  string // the directory holding cur/ and new/
}

func isMaildir(dir string) bool {
	for _, sub := range []string{"cur", "new"} {
		if fi, err := os.Stat(filepath.Join(dir, sub)); err == nil && fi.IsDir() {
			return true
		}
	}
	return false
}

const maxFolderDepth = 32

// MaildirFolders finds the folders of the maildir at root: the root itself
// (INBOX, if it has cur/ or new/), Maildir++ folders (".Sent",
// ".Work.Projects") and nested folders in Dovecot's LAYOUT=fs
// ("Work/Projects/cur"). INBOX comes first, then folders by name.
func MaildirFolders(root string) ([]MaildirFolder, error) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	var out []MaildirFolder
	if isMaildir(root) {
		out = append(out, MaildirFolder{Name: "INBOX", Dir: root})
	}
	var walk func(dir string, names []string) error
	walk = func(dir string, names []string) error {
		if len(names) > maxFolderDepth {
			return nil
		}
		ents, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range ents {
			n := e.Name()
			if !e.IsDir() || n == "cur" || n == "new" || n == "tmp" || strings.HasPrefix(n, ".") {
				continue
			}
			sub := filepath.Join(dir, n)
			path := append(append([]string(nil), names...), decodeLevel(n))
			if isMaildir(sub) {
				out = append(out, MaildirFolder{Name: strings.Join(path, "/"), Dir: sub})
			}
			if err := walk(sub, path); err != nil {
				return err
			}
		}
		return nil
	}
	for _, e := range ents {
		n := e.Name()
		if !e.IsDir() && e.Type()&fs.ModeSymlink == 0 || n == "." || n == ".." {
			continue
		}
		dir := filepath.Join(root, n)
		if strings.HasPrefix(n, ".") {
			if isMaildir(dir) {
				out = append(out, MaildirFolder{Name: MaildirPlusPlusName(n), Dir: dir})
			}
			continue
		}
	}
	if err := walk(root, nil); err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool {
		if (out[i].Name == "INBOX") != (out[j].Name == "INBOX") {
			return out[i].Name == "INBOX"
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// decodeLevel decodes one stored folder name level: "\2e"-style escapes
// (Dovecot's listescape) and modified UTF-7. A level that is not valid
// modified UTF-7 is kept as it is (UTF-8 names from other tools).
func decodeLevel(s string) string {
	s = unescapeLevel(s)
	if d, ok := DecodeUTF7(s); ok {
		return d
	}
	return s
}

// encodeLevel is decodeLevel's inverse for Maildir++: modified UTF-7, with
// the hierarchy separator '.' and the escape '\' escaped.
func encodeLevel(s string) string {
	s = EncodeUTF7(s)
	r := strings.NewReplacer(`\`, `\5c`, ".", `\2e`)
	return r.Replace(s)
}

func unescapeLevel(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+2 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// MaildirPlusPlusName turns a Maildir++ folder directory name (".Work.Projects")
// into a mailbox name ("Work/Projects").
func MaildirPlusPlusName(dir string) string {
	levels := strings.Split(strings.TrimPrefix(dir, "."), ".")
	for i, l := range levels {
		levels[i] = decodeLevel(l)
	}
	return strings.Join(levels, "/")
}

// MaildirPlusPlusDir is MaildirPlusPlusName's inverse; "" for INBOX.
func MaildirPlusPlusDir(mailbox string) string {
	if strings.EqualFold(mailbox, "INBOX") {
		return ""
	}
	levels := strings.Split(mailbox, "/")
	for i, l := range levels {
		levels[i] = encodeLevel(l)
	}
	return "." + strings.Join(levels, ".")
}

// MaildirEntry is one message file of a folder.
type MaildirEntry struct {
	Path  string
	Flags []string
	Date  time.Time // the file's mtime, which Dovecot and others keep as the received date
	Size  int64
}

// ListMaildirFolder lists a folder's messages (new/ and cur/) in the order
// they arrived: by dovecot-uidlist when there is one, then by mtime and name.
// Keyword letters are resolved through the folder's dovecot-keywords.
func ListMaildirFolder(f MaildirFolder) ([]MaildirEntry, error) {
	var kw []string
	if b, err := os.ReadFile(filepath.Join(f.Dir, "dovecot-keywords")); err == nil {
		kw = ParseKeywordsFile(string(b))
	}
	var uids map[string]uint32
	if b, err := os.ReadFile(filepath.Join(f.Dir, "dovecot-uidlist")); err == nil {
		uids = ParseUIDList(string(b))
	}
	type item struct {
		MaildirEntry
		base string
		uid  uint32
	}
	var items []item
	for _, sub := range []string{"new", "cur"} {
		ents, err := os.ReadDir(filepath.Join(f.Dir, sub))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".") || e.IsDir() {
				continue
			}
			fi, err := e.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue // moved by a running server meanwhile
			}
			if err != nil {
				return nil, err
			}
			if !fi.Mode().IsRegular() {
				continue
			}
			base, letters := SplitMaildirName(e.Name())
			items = append(items, item{
				MaildirEntry: MaildirEntry{
					Path:  filepath.Join(f.Dir, sub, e.Name()),
					Flags: MaildirFlags(letters, kw),
					Date:  fi.ModTime(),
					Size:  fi.Size(),
				},
				base: base, uid: uids[base],
			})
		}
	}
	sort.SliceStable(items, func(i, j int) bool {
		a, b := items[i], items[j]
		if (a.uid != 0) != (b.uid != 0) {
			return a.uid != 0
		}
		if a.uid != b.uid {
			return a.uid < b.uid
		}
		if !a.Date.Equal(b.Date) {
			return a.Date.Before(b.Date)
		}
		return a.base < b.base
	})
	out := make([]MaildirEntry, len(items))
	for i, it := range items {
		out[i] = it.MaildirEntry
	}
	return out, nil
}

// ParseUIDList parses a Dovecot (or Courier) dovecot-uidlist file and
// returns the UID of each file's base name. Version 3 lines are
// "<uid> [<ext>...] :<name>", version 1 lines "<uid> <name>".
func ParseUIDList(data string) map[string]uint32 {
	lines := strings.Split(data, "\n")
	out := map[string]uint32{}
	for i, line := range lines {
		line = strings.TrimRight(line, "\r")
		if i == 0 || line == "" {
			continue // header: version, UIDVALIDITY, next UID
		}
		num, rest, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		uid, err := strconv.ParseUint(num, 10, 32)
		if err != nil || uid == 0 {
			continue
		}
		name := rest
		if j := strings.Index(rest, ":"); j >= 0 {
			name = rest[j+1:]
		} else if f := strings.Fields(rest); len(f) > 0 {
			name = f[len(f)-1]
		}
		if base, _ := SplitMaildirName(name); base != "" {
			out[base] = uint32(uid)
		}
	}
	return out
}

// MaildirReader reads every message of a maildir tree, folder by folder.
type MaildirReader struct {
	folders []MaildirFolder
	fi      int
	entries []MaildirEntry
	ei      int
	cur     *os.File
	// Folder, when set, is called as each folder starts (also for empty
	// folders, so they can be created).
	Folder func(MaildirFolder, []MaildirEntry)
}

// NewMaildirReader reads the maildir at root.
func NewMaildirReader(root string) (*MaildirReader, error) {
	if fi, err := os.Stat(root); err != nil {
		return nil, err
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("%s: %w: not a directory", root, ErrFormat)
	}
	folders, err := MaildirFolders(root)
	if err != nil {
		return nil, err
	}
	if len(folders) == 0 {
		return nil, fmt.Errorf("%s: %w: no maildir (cur/, new/) found", root, ErrFormat)
	}
	return &MaildirReader{folders: folders, fi: -1}, nil
}

// Folders returns the folders the reader will visit.
func (r *MaildirReader) Folders() []MaildirFolder { return r.folders }

// Next returns the next message, or io.EOF. The previous message's file
// is closed. A file that vanished since the folder was listed (a running
// server moved it) is skipped.
func (r *MaildirReader) Next() (*Message, error) {
	r.closeCur()
	for {
		for r.fi < 0 || r.ei >= len(r.entries) {
			r.fi++
			if r.fi >= len(r.folders) {
				return nil, io.EOF
			}
			ents, err := ListMaildirFolder(r.folders[r.fi])
			if err != nil {
				return nil, fmt.Errorf("maildir folder %s: %w", r.folders[r.fi].Name, err)
			}
			r.entries, r.ei = ents, 0
			if r.Folder != nil {
				r.Folder(r.folders[r.fi], ents)
			}
		}
		e := r.entries[r.ei]
		r.ei++
		f, err := os.Open(e.Path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		r.cur = f
		return &Message{Mailbox: r.folders[r.fi].Name, Flags: e.Flags, Date: e.Date, Body: f, Size: e.Size}, nil
	}
}

func (r *MaildirReader) closeCur() {
	if r.cur != nil {
		r.cur.Close()
		r.cur = nil
	}
}

// Close releases the open file.
func (r *MaildirReader) Close() error {
	r.closeCur()
	return nil
}
