package mailstore

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// BackupDir writes the files of a backup into a directory, which must be
// absent or empty when the first file arrives.
type BackupDir struct {
	Dir     string
	started bool
}

// Put writes one backup file. Paths must stay inside the directory.
func (d *BackupDir) Put(f *BackupFile) error {
	if !d.started {
		if err := EmptyDir(d.Dir); err != nil {
			return err
		}
		if err := os.MkdirAll(d.Dir, 0o700); err != nil {
			return err
		}
		d.started = true
	}
	rel := filepath.FromSlash(f.Path)
	if !filepath.IsLocal(rel) || rel == BackupManifestName {
		return fmt.Errorf("backup: refusing file path %q", f.Path)
	}
	dst := filepath.Join(d.Dir, rel)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	n, err := f.WriteTo(out)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != f.Size {
		err = fmt.Errorf("%s: wrote %d bytes, expected %d", f.Path, n, f.Size)
	}
	if err != nil {
		os.Remove(dst)
		return fmt.Errorf("backup %s: %w", f.Path, err)
	}
	if !f.ModTime.IsZero() {
		os.Chtimes(dst, f.ModTime, f.ModTime)
	}
	return nil
}

// Finish writes the manifest and flushes everything to disk. A backup
// directory without a manifest is incomplete and Restore refuses it.
func (d *BackupDir) Finish(m *BackupManifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	syncAll()
	p := filepath.Join(d.Dir, BackupManifestName)
	if err := os.WriteFile(p, append(b, '\n'), 0o600); err != nil {
		return err
	}
	syncAll()
	return nil
}
