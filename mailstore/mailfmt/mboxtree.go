package mailfmt

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// MboxFile is one mbox file of a folder tree.
type MboxFile struct {
	Name string // mailbox name, '/'-separated
	Path string
	Size int64
}

// sbd is the suffix of Thunderbird's directories of child folders.
const sbd = ".sbd"

// MboxTree finds the mbox files under dir. Every regular file that starts
// with a "From " line (or is empty: an empty folder) is a mailbox named by
// its path; a directory "X" or "X.sbd" (Thunderbird) holds X's children;
// "inbox" at the top, in any case, is INBOX. Hidden files, Thunderbird's
// .msf indexes and anything else that is not an mbox are skipped and
// returned in skipped.
func MboxTree(dir string) (files []MboxFile, skipped []string, err error) {
	var walk func(d string, names []string) error
	walk = func(d string, names []string) error {
		if len(names) > maxFolderDepth {
			return nil
		}
		ents, err := os.ReadDir(d)
		if err != nil {
			return err
		}
		for _, e := range ents {
			n := e.Name()
			p := filepath.Join(d, n)
			if strings.HasPrefix(n, ".") {
				continue // .imap/, .subscriptions, dotlocks
			}
			fi, err := os.Stat(p)
			if err != nil {
				return err
			}
			if fi.IsDir() {
				if err := walk(p, append(append([]string(nil), names...), mboxLevel(strings.TrimSuffix(n, sbd)))); err != nil {
					return err
				}
				continue
			}
			if !fi.Mode().IsRegular() || strings.HasSuffix(n, ".msf") || !looksLikeMbox(p, fi.Size()) {
				skipped = append(skipped, p)
				continue
			}
			name := strings.Join(append(append([]string(nil), names...), mboxLevel(n)), "/")
			if len(names) == 0 && strings.EqualFold(n, "inbox") {
				name = "INBOX"
			}
			files = append(files, MboxFile{Name: name, Path: p, Size: fi.Size()})
		}
		return nil
	}
	if err := walk(dir, nil); err != nil {
		return nil, nil, err
	}
	sort.SliceStable(files, func(i, j int) bool {
		if (files[i].Name == "INBOX") != (files[j].Name == "INBOX") {
			return files[i].Name == "INBOX"
		}
		return files[i].Name < files[j].Name
	})
	return files, skipped, nil
}

// mboxLevel decodes a file name level: modified UTF-7 (Dovecot) when it
// is valid, else the name as it is (UTF-8, as Thunderbird writes).
func mboxLevel(s string) string {
	if d, ok := DecodeUTF7(s); ok {
		return d
	}
	return s
}

func looksLikeMbox(path string, size int64) bool {
	if size == 0 {
		return true
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var buf [512]byte
	n, _ := io.ReadFull(f, buf[:])
	b := bytes.TrimLeft(buf[:n], "\r\n")
	return bytes.HasPrefix(b, fromPrefix)
}

// MboxTreePath returns where mailbox goes in an exported tree, relative to
// its root: "INBOX", "Work", "Work.sbd/Projects". Children live in ".sbd"
// directories (as in Thunderbird) because a mailbox can both hold messages
// and have children. Names stay UTF-8.
func MboxTreePath(mailbox string) string {
	levels := strings.Split(mailbox, "/")
	for i := range levels[:len(levels)-1] {
		levels[i] += sbd
	}
	return filepath.Join(levels...)
}
