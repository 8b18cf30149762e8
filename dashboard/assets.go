package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

// assetsFS holds the pages' script and style and the generated
// echarts.min.js. The committed README.md keeps the directory present in
// a clean clone, so the package builds before `go generate`.
//
//go:embed assets
var assetsFS embed.FS

// echartsFile is the generated ECharts bundle the pages load.
const echartsFile = "echarts.min.js"

// assetsHost is where go-echarts is told the ECharts bundle lives
// (opts.Initialization.AssetsHost): this server, never a CDN.
const assetsHost = "/assets/"

// asset is one embedded file, ready to serve.
type asset struct {
	body  []byte
	ctype string
	etag  string
}

// assetSet is every embedded asset by name.
type assetSet map[string]asset

func loadAssets() assetSet {
	out := assetSet{}
	_ = fs.WalkDir(assetsFS, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".md") || strings.HasSuffix(p, ".tmp") {
			return nil
		}
		b, err := assetsFS.ReadFile(p)
		if err != nil {
			return nil
		}
		sum := sha256.Sum256(b)
		name := strings.TrimPrefix(p, "assets/")
		ct := mime.TypeByExtension(path.Ext(name))
		if ct == "" {
			ct = "application/octet-stream"
		}
		out[name] = asset{body: b, ctype: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	return out
}

// hasECharts says whether the generated bundle was embedded.
func (a assetSet) hasECharts() bool { _, ok := a[echartsFile]; return ok }

// ServeHTTP serves GET /assets/{name}. The files are public library code
// and the pages' own script: no identity needed, cacheable, revalidated
// by ETag so a new binary's files are picked up.
func (a assetSet) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	f, ok := a[name]
	if !ok {
		if name == echartsFile {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("echarts.min.js was not built into this binary: run `go generate ./...` and build again (it installs the ECharts version pinned in dashboard/web)\n"))
			return
		}
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", f.ctype)
	w.Header().Set("ETag", f.etag)
	w.Header().Set("Cache-Control", "public, max-age=300, must-revalidate")
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.body))
}
