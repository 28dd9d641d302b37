// Package secretfile keeps a process's secrets (the audit signing key,
// the portal's session key) in files of the data directory: read when
// there, created once, readable by the owner only, when not.
package secretfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Load returns the text of the file name in dir. When it does not exist
// and create is not nil, create's text is written there first: the file
// mode 0600, whole before it appears, dir made mode 0700 if missing, and
// never overwritten, so when another process creates it meanwhile its
// text is the one returned.
// Without create, a missing file is an error wrapping fs.ErrNotExist. No
// error holds the text.
func Load(dir, name string, create func() (string, error)) (string, error) {
	path := filepath.Join(dir, name)
	b, err := os.ReadFile(path)
	if err == nil {
		return string(b), nil
	}
	if !errors.Is(err, fs.ErrNotExist) || create == nil {
		return "", err
	}
	text, err := create()
	if err != nil {
		return "", fmt.Errorf("create %s: %w", path, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	// The text goes into a file of its own first, linked into place only
	// once whole: a reader never sees the file half written.
	tmp, err := os.CreateTemp(dir, "."+name+"-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(text + "\n")
	if err = errors.Join(err, tmp.Chmod(0o600), tmp.Close()); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	err = os.Link(tmp.Name(), path)
	if errors.Is(err, fs.ErrExist) { // another process created it first
		return Load(dir, name, nil)
	}
	if err != nil {
		return "", err
	}
	return text, nil
}
