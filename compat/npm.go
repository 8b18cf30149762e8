package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// CacheEnv overrides where the npm install of chdb is kept between runs
// (default: the user's cache directory, ~/.cache/effidx-compat).
const CacheEnv = "EFFIDX_COMPAT_CACHE"

// ensureChDB returns a node_modules directory holding exactly what
// compat/package-lock.json pins (chdb 3.4.0, ~180 MB to download), installing
// it with npm the first time on this machine. The install is kept under the
// cache directory, keyed by the lock file's hash, so a clean clone on the
// same machine reuses it. Without the npm registry the first run fails,
// saying so: the check never passes without having run.
func ensureChDB(ctx context.Context, compatDir string, log io.Writer) (string, error) {
	pkg, err := os.ReadFile(filepath.Join(compatDir, "package.json"))
	if err != nil {
		return "", err
	}
	lock, err := os.ReadFile(filepath.Join(compatDir, "package-lock.json"))
	if err != nil {
		return "", err
	}
	var manifest struct{ Dependencies map[string]string }
	if err := json.Unmarshal(pkg, &manifest); err != nil || manifest.Dependencies["chdb"] == "" {
		return "", fmt.Errorf("compat/package.json names no chdb version (%v)", err)
	}
	want := manifest.Dependencies["chdb"]
	sum := sha256.Sum256(append(append(pkg, 0), lock...))
	base := os.Getenv(CacheEnv)
	if base == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("no cache directory for the chdb install (set %s): %w", CacheEnv, err)
		}
		base = filepath.Join(cache, "effidx-compat")
	}
	dir := filepath.Join(base, "npm-"+hex.EncodeToString(sum[:])[:16])
	modules := filepath.Join(dir, "node_modules")
	if _, err := os.Stat(filepath.Join(dir, "installed")); err == nil {
		return modules, nil
	}
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "", fmt.Errorf("%s is not on PATH: the compat check runs chDB under Node (make deps installs npm)", tool)
		}
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(base, "installing-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	for name, b := range map[string][]byte{"package.json": pkg, "package-lock.json": lock} {
		if err := os.WriteFile(filepath.Join(tmp, name), b, 0o644); err != nil {
			return "", err
		}
	}
	fmt.Fprintf(log, "compat: installing chdb %s from the npm registry into %s (once per machine, ~180 MB to download)\n", want, dir)
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	// npm install, not npm ci: ci insists that the lock lists chdb's
	// optional packages of every platform, which a registry mirror may not
	// have (this machine's has only linux-x64). install keeps to the lock's
	// versions and integrity hashes; the lock must come out unchanged.
	cmd := exec.CommandContext(ctx, "npm", "install", "--no-audit", "--no-fund", "--loglevel=error",
		"--fetch-retries=1", "--fetch-timeout=60000")
	cmd.Dir = tmp
	out, err := cmd.CombinedOutput()
	if err != nil {
		registry, _ := exec.Command("npm", "config", "get", "registry").Output()
		return "", fmt.Errorf("npm install of compat/package-lock.json failed (%v): cannot install chdb from the npm registry %s."+
			" The compat check needs it (once per machine); without it the check cannot run, and does not pass.\nnpm said:\n%s",
			err, strings.TrimSpace(string(registry)), firstLines(string(out), 12))
	}
	if after, err := os.ReadFile(filepath.Join(tmp, "package-lock.json")); err != nil || !bytes.Equal(after, lock) {
		return "", fmt.Errorf("npm install changed compat/package-lock.json (%v): the registry's packages differ from the pinned ones; refresh the lock on purpose", err)
	}
	var got struct{ Version string }
	if b, err := os.ReadFile(filepath.Join(tmp, "node_modules", "chdb", "package.json")); err != nil || json.Unmarshal(b, &got) != nil || got.Version != want {
		return "", fmt.Errorf("npm installed chdb %q, want %s (%v)", got.Version, want, err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "installed"), []byte(time.Now().Format(time.RFC3339)+"\n"), 0o644); err != nil {
		return "", err
	}
	// Another run may have finished first: its install is as good.
	if err := os.Rename(tmp, dir); err != nil && !errors.Is(err, os.ErrExist) {
		if _, serr := os.Stat(filepath.Join(dir, "installed")); serr != nil {
			return "", fmt.Errorf("keep the chdb install: %w", err)
		}
	}
	fmt.Fprintf(log, "compat: chdb installed in %s\n", time.Since(start).Round(time.Second))
	return modules, nil
}

func firstLines(s string, n int) string {
	ls := strings.Split(strings.TrimSpace(s), "\n")
	if len(ls) > n {
		ls = append(ls[:n], "...")
	}
	return "    " + strings.Join(ls, "\n    ")
}
