// Command fetchassets installs the browser libraries pinned in
// dashboard/web/package-lock.json with `npm ci` and copies the files the
// pages load into dashboard/assets, where //go:embed picks them up. It is
// run by `go generate ./dashboard` (from the dashboard directory): the
// copies are build products, not committed, and the city's closed network
// means the binary must carry them.
//
// It does nothing when the copy already matches the locked version, so
// `make test` can run it every time.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// copies maps a file under node_modules to its name under assets.
var copies = []struct{ pkg, from, to string }{
	{"echarts", "dist/echarts.min.js", "echarts.min.js"},
}

func main() {
	web := flag.String("web", "web", "directory holding package.json and package-lock.json")
	assets := flag.String("assets", "assets", "directory the files are copied to (embedded)")
	flag.Parse()
	if err := run(*web, *assets); err != nil {
		fmt.Fprintln(os.Stderr, "fetchassets:", err)
		os.Exit(1)
	}
}

func run(web, assets string) error {
	locked, err := lockedVersions(filepath.Join(web, "package-lock.json"))
	if err != nil {
		return err
	}
	if !installed(web, locked) {
		if _, err := exec.LookPath("npm"); err != nil {
			return errors.New("npm is not installed: `apt-get install npm` (or run `make deps`), then `go generate ./...` again")
		}
		// --ignore-scripts: nothing from the registry runs on this machine;
		// the packages ship their built files.
		cmd := exec.Command("npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund")
		cmd.Dir = web
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("npm ci in %s: %w", web, err)
		}
		if !installed(web, locked) {
			return fmt.Errorf("npm ci in %s did not install the locked versions %v", web, locked)
		}
	}
	for _, c := range copies {
		src := filepath.Join(web, "node_modules", c.pkg, filepath.FromSlash(c.from))
		b, err := os.ReadFile(src)
		if err != nil {
			return fmt.Errorf("read %s: %w", src, err)
		}
		dst := filepath.Join(assets, c.to)
		if old, err := os.ReadFile(dst); err == nil && bytes.Equal(old, b) {
			continue
		}
		// Written aside and renamed: a build running at the same time never
		// embeds half a file.
		tmp := dst + ".tmp"
		if err := os.WriteFile(tmp, b, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", tmp, err)
		}
		if err := os.Rename(tmp, dst); err != nil {
			return fmt.Errorf("install %s: %w", dst, err)
		}
		fmt.Fprintf(os.Stderr, "fetchassets: %s %s -> %s (%d bytes)\n", c.pkg, locked[c.pkg], dst, len(b))
	}
	return nil
}

// lockedVersions reads the versions package-lock.json pins for the
// packages copied.
func lockedVersions(lockFile string) (map[string]string, error) {
	b, err := os.ReadFile(lockFile)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", lockFile, err)
	}
	var lock struct {
		Packages map[string]struct {
			Version string `json:"version"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(b, &lock); err != nil {
		return nil, fmt.Errorf("%s: %w", lockFile, err)
	}
	out := map[string]string{}
	for _, c := range copies {
		p, ok := lock.Packages["node_modules/"+c.pkg]
		if !ok || p.Version == "" {
			return nil, fmt.Errorf("%s does not lock %s: run `npm install` in %s", lockFile, c.pkg, filepath.Dir(lockFile))
		}
		out[c.pkg] = p.Version
	}
	return out, nil
}

// installed says whether node_modules holds exactly the locked versions.
func installed(web string, locked map[string]string) bool {
	for pkg, v := range locked {
		b, err := os.ReadFile(filepath.Join(web, "node_modules", pkg, "package.json"))
		if err != nil {
			return false
		}
		var p struct {
			Version string `json:"version"`
		}
		if json.Unmarshal(b, &p) != nil || p.Version != v {
			return false
		}
	}
	return true
}
