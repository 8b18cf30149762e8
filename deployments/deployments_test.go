package deployments

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "regenerate kubernetes/configmap-rules.yaml and kubernetes/monitoring/prometheusrule.yaml from their sources")

// ---------------------------------------------------------------------------
// What effidx accepts: EFFIDX_* names and YAML keys.

// knownEnv is every EFFIDX_* variable effidx reads: one per setting of
// cmd/effidx/config.go (flag name with - as _), plus the two without a flag.
func knownEnv(t *testing.T) map[string]bool {
	t.Helper()
	src := readFile(t, "../cmd/effidx/config.go")
	env := map[string]bool{"EFFIDX_CONFIG": true, "EFFIDX_INGEST_TOKENS": true}
	for _, m := range regexp.MustCompile(`\{"([a-z][a-z-]*)", "`).FindAllStringSubmatch(src, -1) {
		env["EFFIDX_"+strings.ToUpper(strings.ReplaceAll(m[1], "-", "_"))] = true
	}
	for _, must := range []string{"EFFIDX_CLICKHOUSE_ADDR", "EFFIDX_CLICKHOUSE_PASSWORD", "EFFIDX_ROLES", "EFFIDX_LISTEN"} {
		if !env[must] {
			t.Fatalf("reading the settings of cmd/effidx/config.go found no %s (found %v): fix knownEnv", must, keys(env))
		}
	}
	return env
}

// knownConfigKeys is every key path of deployments/effidx.example.yaml,
// which lists all keys ("clickhouse.addr", "collector.tokens[].source").
func knownConfigKeys(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	flatten(t, decodeYAML(t, "effidx.example.yaml", []byte(readFile(t, "effidx.example.yaml"))), "", out)
	if !out["clickhouse.addr"] || !out["roles"] {
		t.Fatalf("effidx.example.yaml: key paths %v lack clickhouse.addr or roles", keys(out))
	}
	return out
}

func flatten(t *testing.T, v any, prefix string, out map[string]bool) {
	switch v := v.(type) {
	case map[string]any:
		for k, sub := range v {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			out[p] = true
			flatten(t, sub, p, out)
		}
	case []any:
		for _, sub := range v {
			flatten(t, sub, prefix+"[]", out)
		}
	}
}

// checkEffidxConfig checks an effidx YAML config against the example's
// keys and returns it decoded.
func checkEffidxConfig(t *testing.T, name string, text []byte) map[string]any {
	t.Helper()
	cfg := decodeYAML(t, name, text)
	got := map[string]bool{}
	flatten(t, cfg, "", got)
	known := knownConfigKeys(t)
	for _, k := range keys(got) {
		if !known[k] {
			t.Errorf("%s: key %s is not an effidx setting (see deployments/effidx.example.yaml)", name, k)
		}
	}
	return cfg
}

func lookup(cfg map[string]any, dotted string) string {
	var v any = cfg
	for _, k := range strings.Split(dotted, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[k]
	}
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// configPaths are the settings that name files or directories in the
// process's file system.
var configPaths = []string{"data_dir", "rules.years_dir", "rules.lights_file", "indices.catalog"}

// ---------------------------------------------------------------------------
// Docker Compose.

type composeFile struct {
	Name     string                    `yaml:"name"`
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
	Secrets  map[string]struct {
		File        string `yaml:"file"`
		Environment string `yaml:"environment"`
	} `yaml:"secrets"`
}

type composeService struct {
	Image string `yaml:"image"`
	Build *struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	} `yaml:"build"`
	Command         []string          `yaml:"command"`
	Environment     map[string]string `yaml:"environment"`
	Volumes         []string          `yaml:"volumes"`
	Ports           []string          `yaml:"ports"`
	DependsOn       yaml.Node         `yaml:"depends_on"`
	Healthcheck     map[string]any    `yaml:"healthcheck"`
	StopGracePeriod string            `yaml:"stop_grace_period"`
	Secrets         []struct {
		Source string `yaml:"source"`
		Target string `yaml:"target"`
	} `yaml:"secrets"`
	Ulimits any    `yaml:"ulimits"`
	Restart string `yaml:"restart"`
}

type mount struct{ source, target string } // source: host path (absolute) or a named volume

func (s composeService) mounts(dir string) []mount {
	var out []mount
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		m := mount{source: parts[0], target: parts[min(1, len(parts)-1)]}
		if strings.HasPrefix(m.source, ".") || strings.HasPrefix(m.source, "/") {
			if !filepath.IsAbs(m.source) {
				m.source, _ = filepath.Abs(filepath.Join(dir, m.source))
			}
		}
		out = append(out, m)
	}
	return out
}

// hostPath maps a path inside the container to the bind-mounted host path.
func hostPath(ms []mount, p string) (string, bool) {
	for _, m := range ms {
		if rel, err := filepath.Rel(m.target, p); err == nil && !strings.HasPrefix(rel, "..") && filepath.IsAbs(m.source) {
			return filepath.Join(m.source, rel), true
		}
	}
	return "", false
}

func mountedAt(ms []mount, p string) bool {
	for _, m := range ms {
		if rel, err := filepath.Rel(m.target, p); err == nil && !strings.HasPrefix(rel, "..") {
			return true
		}
	}
	return false
}

func (s composeService) dependsOn(t *testing.T) []string {
	var out []string
	switch s.DependsOn.Kind {
	case 0:
	case yaml.SequenceNode:
		if err := s.DependsOn.Decode(&out); err != nil {
			t.Fatal(err)
		}
	case yaml.MappingNode:
		var m map[string]any
		if err := s.DependsOn.Decode(&m); err != nil {
			t.Fatal(err)
		}
		out = keys(m)
	}
	return out
}

// flagValue finds --name VALUE or --name=VALUE in args.
func flagValue(args []string, name string) string {
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

var (
	imageTagRE = regexp.MustCompile(`^[^:@\s]+(:[A-Za-z0-9_][A-Za-z0-9_.-]*)?(@sha256:[0-9a-f]{64})?$`)
	versionRE  = regexp.MustCompile(`\d`)
)

// pinned: a version tag (not latest, with a digit) or a digest.
func pinned(image string) error {
	if image == "scratch" {
		return nil
	}
	m := imageTagRE.FindStringSubmatch(image)
	switch {
	case m == nil:
		return fmt.Errorf("image %q is not an image reference", image)
	case m[2] != "":
		return nil
	case m[1] == "":
		return fmt.Errorf("image %q has no tag: pin a version", image)
	case m[1] == ":latest" || !versionRE.MatchString(m[1]):
		return fmt.Errorf("image %q: pin a version, not %s", image, m[1][1:])
	}
	return nil
}

// checkCompose checks what every compose file must get right and returns
// it parsed.
func checkCompose(t *testing.T, file string, env map[string]bool) composeFile {
	t.Helper()
	var c composeFile
	if err := yaml.Unmarshal([]byte(readFile(t, file)), &c); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	dir := filepath.Dir(file)
	if len(c.Services) == 0 {
		t.Fatalf("%s: no services", file)
	}
	for name, s := range c.Services {
		where := file + ": service " + name
		if s.Build != nil {
			df := filepath.Join(dir, s.Build.Context, s.Build.Dockerfile)
			if _, err := os.Stat(df); err != nil {
				t.Errorf("%s: build: %v", where, err)
			}
			if s.Image == "" || strings.HasSuffix(s.Image, ":latest") {
				t.Errorf("%s: a built image needs a tag other than latest, got %q", where, s.Image)
			}
		} else if err := pinned(s.Image); err != nil {
			t.Errorf("%s: %v", where, err)
		}
		for _, m := range s.mounts(dir) {
			if filepath.IsAbs(m.source) {
				if _, err := os.Stat(m.source); err != nil {
					t.Errorf("%s: bind mount source: %v", where, err)
				}
			} else if _, ok := c.Volumes[m.source]; !ok {
				t.Errorf("%s: named volume %q is not declared under volumes:", where, m.source)
			}
			if !strings.HasPrefix(m.target, "/") {
				t.Errorf("%s: mount target %q is not absolute", where, m.target)
			}
		}
		for _, d := range s.dependsOn(t) {
			if _, ok := c.Services[d]; !ok {
				t.Errorf("%s: depends on unknown service %q", where, d)
			}
		}
		for _, sec := range s.Secrets {
			if _, ok := c.Secrets[sec.Source]; !ok {
				t.Errorf("%s: secret %q is not declared under secrets:", where, sec.Source)
			}
		}
		for k := range s.Environment {
			if strings.HasPrefix(k, "EFFIDX_") && !env[k] {
				t.Errorf("%s: %s is not an effidx setting", where, k)
			}
		}
		for _, p := range s.Ports {
			if _, err := strconv.Atoi(p[strings.LastIndex(p, ":")+1:]); err != nil {
				t.Errorf("%s: port %q: want HOST:CONTAINER", where, p)
			}
		}
	}
	return c
}

// checkEffidxService checks an effidx service of a compose file: its
// config is mounted and valid, the paths it names are mounted, and SIGTERM
// has time to drain the spool. It returns the decoded config.
func checkEffidxService(t *testing.T, file string, s composeService) map[string]any {
	t.Helper()
	dir := filepath.Dir(file)
	ms := s.mounts(dir)
	cfgPath := flagValue(s.Command, "--config")
	src, ok := hostPath(ms, cfgPath)
	if cfgPath == "" || !ok {
		t.Fatalf("%s: effidx --config %q is not a mounted file", file, cfgPath)
	}
	cfg := checkEffidxConfig(t, src, []byte(readFile(t, src)))
	for _, k := range configPaths {
		if p := lookup(cfg, k); p != "" && !mountedAt(ms, p) {
			t.Errorf("%s: %s %s is not on a mounted volume", file, k, p)
		}
	}
	if d, err := time.ParseDuration(s.StopGracePeriod); err != nil || d < 30*time.Second {
		t.Errorf("%s: effidx stop_grace_period %q: want at least 30s to drain the spool", file, s.StopGracePeriod)
	}
	return cfg
}

// fakeRoot copies a service's bind mounts to where the container sees
// them, under a temporary root, so that a tool can check a config with the
// paths it has in the container.
func fakeRoot(t *testing.T, dir string, s composeService) string {
	t.Helper()
	root := t.TempDir()
	for _, m := range s.mounts(dir) {
		if filepath.IsAbs(m.source) {
			copyTree(t, m.source, filepath.Join(root, m.target))
		}
	}
	for _, sec := range s.Secrets {
		if strings.HasPrefix(sec.Target, "/") {
			writeFile(t, filepath.Join(root, sec.Target), "secret\n")
		}
	}
	return root
}

func TestDeployComposeRunsClickHouseEffidxPrometheusAndAlertmanager(t *testing.T) {
	env := knownEnv(t)
	c := checkCompose(t, "docker-compose.yml", env)
	for _, want := range []string{"clickhouse", "effidx", "prometheus", "alertmanager"} {
		if _, ok := c.Services[want]; !ok {
			t.Fatalf("docker-compose.yml: no service %s", want)
		}
	}
	ch, eff, prom, am := c.Services["clickhouse"], c.Services["effidx"], c.Services["prometheus"], c.Services["alertmanager"]
	if !strings.HasPrefix(ch.Image, "clickhouse/clickhouse-server:") || ch.Healthcheck == nil {
		t.Errorf("clickhouse: image %q (want clickhouse/clickhouse-server, an LTS tag) and a healthcheck", ch.Image)
	}
	checkEffidxService(t, "docker-compose.yml", eff)
	if host, _, _ := strings.Cut(eff.Environment["EFFIDX_CLICKHOUSE_ADDR"], ":"); host != "clickhouse" {
		t.Errorf("effidx: EFFIDX_CLICKHOUSE_ADDR %q does not name the clickhouse service", eff.Environment["EFFIDX_CLICKHOUSE_ADDR"])
	}
	if !slices.Contains(eff.dependsOn(t), "clickhouse") {
		t.Error("effidx does not depend on clickhouse")
	}
	if eff.Environment["EFFIDX_CLICKHOUSE_USER"] != ch.Environment["CLICKHOUSE_USER"] {
		t.Errorf("effidx connects as %q, the image creates user %q", eff.Environment["EFFIDX_CLICKHOUSE_USER"], ch.Environment["CLICKHOUSE_USER"])
	}

	// Prometheus: the alert rules come from rules/prometheus, and promtool
	// accepts the config as the container sees it.
	rulesDir, _ := filepath.Abs("../rules/prometheus")
	ruleMount := ""
	for _, m := range prom.mounts(".") {
		if m.source == rulesDir {
			ruleMount = m.target
		}
	}
	if ruleMount == "" {
		t.Fatalf("prometheus does not mount rules/prometheus (mounts %v)", prom.Volumes)
	}
	promCfg := flagValue(prom.Command, "--config.file")
	root := fakeRoot(t, ".", prom)
	var pc struct {
		RuleFiles []string `yaml:"rule_files"`
		Alerting  struct {
			Alertmanagers []struct {
				StaticConfigs []struct{ Targets []string } `yaml:"static_configs"`
			}
		}
		ScrapeConfigs []struct {
			JobName       string                       `yaml:"job_name"`
			StaticConfigs []struct{ Targets []string } `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal([]byte(readFile(t, filepath.Join(root, promCfg))), &pc); err != nil {
		t.Fatal(err)
	}
	for _, rf := range pc.RuleFiles {
		if !filepath.IsAbs(rf) {
			rf = filepath.Join(filepath.Dir(promCfg), rf)
		}
		if !strings.HasPrefix(rf, ruleMount+"/") {
			t.Errorf("prometheus rule file %s is not from the mounted rules/prometheus (%s)", rf, ruleMount)
		}
	}
	targets := map[string][]string{}
	for _, sc := range pc.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			targets[sc.JobName] = append(targets[sc.JobName], st.Targets...)
		}
	}
	if fmt.Sprint(targets["effidx"]) != "[effidx:8080]" {
		t.Errorf("prometheus scrape job effidx (the rules' job label) targets %v, want [effidx:8080]", targets["effidx"])
	}
	if len(pc.Alerting.Alertmanagers) == 0 || fmt.Sprint(pc.Alerting.Alertmanagers[0].StaticConfigs[0].Targets) != "[alertmanager:9093]" {
		t.Errorf("prometheus does not send alerts to alertmanager:9093: %+v", pc.Alerting)
	}
	tool(t, "promtool", "check", "config", filepath.Join(root, promCfg))

	amRoot := fakeRoot(t, ".", am)
	tool(t, "amtool", "check-config", filepath.Join(amRoot, flagValue(am.Command, "--config.file")))
}

func TestDeployClickHouseClusterExampleIsTwoShardsOfTwoReplicasWithKeeper(t *testing.T) {
	env := knownEnv(t)
	file := "clickhouse-cluster/docker-compose.yml"
	c := checkCompose(t, file, env)
	for _, p := range globFiles(t, "clickhouse-cluster", ".xml") {
		var v any
		if err := xml.Unmarshal([]byte(readFile(t, p)), &v); err != nil {
			t.Errorf("%s: %v", p, err)
		}
		if err := wellFormed(readFile(t, p)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}

	var cfg struct {
		Macros struct {
			Shard   fromEnv `xml:"shard"`
			Replica fromEnv `xml:"replica"`
		} `xml:"macros"`
		RemoteServers struct {
			City struct {
				Secret fromEnv `xml:"secret"`
				Shards []struct {
					InternalReplication bool       `xml:"internal_replication"`
					Replicas            []hostPort `xml:"replica"`
				} `xml:"shard"`
			} `xml:"city"`
		} `xml:"remote_servers"`
		ZooKeeper struct {
			Nodes []hostPort `xml:"node"`
		} `xml:"zookeeper"`
		DistributedDDL struct {
			Path string `xml:"path"`
		} `xml:"distributed_ddl"`
	}
	if err := xml.Unmarshal([]byte(readFile(t, "clickhouse-cluster/config.d/cluster.xml")), &cfg); err != nil {
		t.Fatal(err)
	}
	shards := cfg.RemoteServers.City.Shards
	if len(shards) != 2 {
		t.Fatalf("cluster city has %d shards, want 2", len(shards))
	}
	servers := map[string]string{} // service -> shard macro it must have
	for i, sh := range shards {
		if len(sh.Replicas) != 2 || !sh.InternalReplication {
			t.Errorf("shard %d: %d replicas, internal_replication %v; want 2 and true (Replicated tables)", i+1, len(sh.Replicas), sh.InternalReplication)
		}
		for _, r := range sh.Replicas {
			servers[r.Host] = fmt.Sprintf("%02d", i+1)
			if r.Port != 9000 {
				t.Errorf("replica %s port %d: want the native port 9000", r.Host, r.Port)
			}
		}
	}
	if cfg.Macros.Shard.Env == "" || cfg.Macros.Replica.Env == "" || cfg.RemoteServers.City.Secret.Env == "" || cfg.DistributedDDL.Path == "" {
		t.Errorf("cluster.xml: macros from the environment, an interserver secret and distributed_ddl are all needed: %+v", cfg)
	}
	for host, shard := range servers {
		s, ok := c.Services[host]
		if !ok {
			t.Errorf("replica %s is not a service of %s", host, file)
			continue
		}
		if s.Environment[cfg.Macros.Shard.Env] != shard || s.Environment[cfg.Macros.Replica.Env] != host {
			t.Errorf("%s: %s=%q %s=%q; want shard %s and replica %s", host, cfg.Macros.Shard.Env, s.Environment[cfg.Macros.Shard.Env],
				cfg.Macros.Replica.Env, s.Environment[cfg.Macros.Replica.Env], shard, host)
		}
		if s.Environment[cfg.RemoteServers.City.Secret.Env] == "" {
			t.Errorf("%s: no %s", host, cfg.RemoteServers.City.Secret.Env)
		}
	}

	var keeper struct {
		Server struct {
			ServerID fromEnv `xml:"server_id"`
			Raft     []struct {
				ID       int    `xml:"id"`
				Hostname string `xml:"hostname"`
			} `xml:"raft_configuration>server"`
		} `xml:"keeper_server"`
	}
	if err := xml.Unmarshal([]byte(readFile(t, "clickhouse-cluster/keeper/keeper_config.xml")), &keeper); err != nil {
		t.Fatal(err)
	}
	if len(keeper.Server.Raft) != 3 || len(cfg.ZooKeeper.Nodes) != 3 {
		t.Fatalf("want 3 Keeper nodes (a quorum survives one loss): raft %d, zookeeper %d", len(keeper.Server.Raft), len(cfg.ZooKeeper.Nodes))
	}
	for i, r := range keeper.Server.Raft {
		s, ok := c.Services[r.Hostname]
		if !ok || s.Environment[keeper.Server.ServerID.Env] != strconv.Itoa(r.ID) {
			t.Errorf("keeper %s (id %d): service missing or %s=%q", r.Hostname, r.ID, keeper.Server.ServerID.Env, s.Environment[keeper.Server.ServerID.Env])
		}
		if cfg.ZooKeeper.Nodes[i].Host != r.Hostname || cfg.ZooKeeper.Nodes[i].Port != 9181 {
			t.Errorf("zookeeper node %d = %+v, want %s:9181", i+1, cfg.ZooKeeper.Nodes[i], r.Hostname)
		}
	}

	var users struct {
		Profile struct {
			Mode string `xml:"distributed_product_mode"`
			Sync int    `xml:"insert_distributed_sync"`
		} `xml:"profiles>effidx"`
		User struct {
			Password fromEnv `xml:"password"`
			Profile  string  `xml:"profile"`
		} `xml:"users>effidx"`
	}
	if err := xml.Unmarshal([]byte(readFile(t, "clickhouse-cluster/users.d/effidx.xml")), &users); err != nil {
		t.Fatal(err)
	}
	if users.Profile.Mode != "local" || users.Profile.Sync != 1 || users.User.Profile != "effidx" || users.User.Password.Env == "" {
		t.Errorf("users.d/effidx.xml: user effidx with profile effidx (distributed_product_mode local, insert_distributed_sync 1) and a password from the environment: %+v", users)
	}

	eff, ok := c.Services["effidx"]
	if !ok {
		t.Fatalf("%s: no effidx service", file)
	}
	ecfg := checkEffidxService(t, file, eff)
	host, _, _ := strings.Cut(lookup(ecfg, "clickhouse.addr"), ":")
	if lookup(ecfg, "clickhouse.cluster") != "city" || lookup(ecfg, "clickhouse.replicated") != "true" || servers[host] == "" {
		t.Errorf("clickhouse-cluster/effidx.yaml: want cluster city, replicated true and addr on one of %v; got %v", keys(servers), ecfg["clickhouse"])
	}
}

type fromEnv struct {
	Env string `xml:"from_env,attr"`
}

type hostPort struct {
	Host string `xml:"host"`
	Port int    `xml:"port"`
}

// wellFormed reads every token: xml.Unmarshal into any stops early.
func wellFormed(s string) error {
	d := xml.NewDecoder(strings.NewReader(s))
	for {
		if _, err := d.Token(); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
	}
}

// ---------------------------------------------------------------------------
// Dockerfile and systemd.

func TestDeployDockerfilePinsItsImagesAndGoVersion(t *testing.T) {
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(readFile(t, "../go.mod"))
	if goVersion == nil {
		t.Fatal("go.mod has no go directive")
	}
	var froms []string
	for _, line := range strings.Split(readFile(t, "Dockerfile"), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && strings.EqualFold(f[0], "FROM") {
			froms = append(froms, f[1])
			if err := pinned(f[1]); err != nil {
				t.Error(err)
			}
		}
	}
	if len(froms) != 2 || !strings.HasPrefix(froms[0], "golang:"+goVersion[1]) {
		t.Errorf("Dockerfile FROM %v: want a golang:%s build stage and a runtime stage", froms, goVersion[1])
	}
	df := readFile(t, "Dockerfile")
	for _, want := range []string{"-tags timetzdata", "CGO_ENABLED=0", "USER 65532", "./cmd/effidx"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	env := knownEnv(t)
	for _, m := range regexp.MustCompile(`EFFIDX_[A-Z_]+`).FindAllString(df, -1) {
		if !env[m] {
			t.Errorf("Dockerfile sets %s, which effidx does not read", m)
		}
	}
}

func TestDeploySystemdUnitRunsServeWithItsConfigAndSecrets(t *testing.T) {
	unit := parseUnit(t, "systemd/effidx.service")
	start := strings.Fields(unit.get("Service", "ExecStart"))
	if len(start) < 2 || start[1] != "serve" {
		t.Fatalf("ExecStart %v: want effidx serve", start)
	}
	if cfg := flagValue(start, "--config"); cfg != "/etc/effidx/effidx.yaml" {
		t.Errorf("ExecStart --config %q: want /etc/effidx/effidx.yaml (systemd/effidx.yaml)", cfg)
	}
	cfg := checkEffidxConfig(t, "systemd/effidx.yaml", []byte(readFile(t, "systemd/effidx.yaml")))
	if state := "/var/lib/" + unit.get("Service", "StateDirectory"); lookup(cfg, "data_dir") != state {
		t.Errorf("data_dir %q is not the unit's StateDirectory %s", lookup(cfg, "data_dir"), state)
	}
	if lookup(cfg, "clickhouse.addr") == "" {
		t.Error("systemd/effidx.yaml: clickhouse.addr unset: beside an existing ClickHouse it must name it")
	}
	if d, err := time.ParseDuration(unit.get("Service", "TimeoutStopSec") + "s"); err != nil || d < 30*time.Second {
		t.Errorf("TimeoutStopSec %q: want at least 30 (seconds) to drain the spool", unit.get("Service", "TimeoutStopSec"))
	}
	for sec, keys := range map[string][]string{
		"Unit": {"Description", "After"}, "Service": {"User", "EnvironmentFile", "Restart", "KillSignal"}, "Install": {"WantedBy"},
	} {
		for _, k := range keys {
			if unit.get(sec, k) == "" {
				t.Errorf("[%s] %s is not set", sec, k)
			}
		}
	}
	if envFile := unit.get("Service", "EnvironmentFile"); envFile != "/etc/effidx/effidx.env" {
		t.Errorf("EnvironmentFile %q, want /etc/effidx/effidx.env (systemd/effidx.env.example)", envFile)
	}
	env := knownEnv(t)
	for _, line := range strings.Split(readFile(t, "systemd/effidx.env.example"), "\n") {
		if k, _, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") && !env[k] {
			t.Errorf("effidx.env.example: %s is not an effidx setting", k)
		}
	}
	// systemd's own check, with an executable in place of the binary (which
	// it wants to exist); it reports unknown keys and bad values.
	if _, err := exec.LookPath("systemd-analyze"); err == nil {
		tmp := filepath.Join(t.TempDir(), "effidx.service")
		writeFile(t, tmp, strings.ReplaceAll(readFile(t, "systemd/effidx.service"), "/usr/local/bin/effidx", "/bin/true"))
		if out := tool(t, "systemd-analyze", "verify", tmp); strings.TrimSpace(out) != "" {
			t.Errorf("systemd-analyze verify:\n%s", out)
		}
	} else {
		t.Log("systemd-analyze not installed: unit checked by this test only")
	}
}

type unitFile map[string]map[string]string

func (u unitFile) get(section, key string) string { return u[section][key] }

func parseUnit(t *testing.T, p string) unitFile {
	t.Helper()
	u := unitFile{}
	sec := ""
	for i, line := range strings.Split(readFile(t, p), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			sec = line[1 : len(line)-1]
			u[sec] = map[string]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || sec == "" {
				t.Fatalf("%s:%d: %q is not key=value in a section", p, i+1, line)
			}
			u[sec][k] = v
		}
	}
	return u
}

// ---------------------------------------------------------------------------
// Kubernetes.

type k8sMeta struct {
	Name   string            `yaml:"name"`
	Labels map[string]string `yaml:"labels"`
}

type k8sObject struct {
	APIVersion string    `yaml:"apiVersion"`
	Kind       string    `yaml:"kind"`
	Metadata   k8sMeta   `yaml:"metadata"`
	node       yaml.Node `yaml:"-"`
	file       string
}

type k8sDeployment struct {
	Spec struct {
		Replicas int `yaml:"replicas"`
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata k8sMeta `yaml:"metadata"`
			Spec     struct {
				TerminationGracePeriodSeconds int            `yaml:"terminationGracePeriodSeconds"`
				Containers                    []k8sContainer `yaml:"containers"`
				Volumes                       []struct {
					Name      string `yaml:"name"`
					ConfigMap *struct {
						Name     string `yaml:"name"`
						Optional bool   `yaml:"optional"`
					} `yaml:"configMap"`
					EmptyDir              any `yaml:"emptyDir"`
					PersistentVolumeClaim any `yaml:"persistentVolumeClaim"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type k8sContainer struct {
	Name  string   `yaml:"name"`
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Env   []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			SecretKeyRef *struct{ Name, Key string } `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	ReadinessProbe *k8sProbe `yaml:"readinessProbe"`
	LivenessProbe  *k8sProbe `yaml:"livenessProbe"`
	StartupProbe   *k8sProbe `yaml:"startupProbe"`
	VolumeMounts   []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
}

type k8sProbe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

func loadManifests(t *testing.T, dir string) []k8sObject {
	t.Helper()
	var objs []k8sObject
	for _, p := range globFiles(t, dir, ".yaml") {
		if filepath.Base(p) == "kustomization.yaml" || filepath.Dir(p) != dir {
			continue
		}
		dec := yaml.NewDecoder(strings.NewReader(readFile(t, p)))
		for {
			var n yaml.Node
			if err := dec.Decode(&n); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			var o k8sObject
			if err := n.Decode(&o); err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			if o.APIVersion == "" || o.Kind == "" || o.Metadata.Name == "" {
				t.Errorf("%s: a document without apiVersion, kind or metadata.name", p)
			}
			o.node, o.file = n, p
			objs = append(objs, o)
		}
	}
	return objs
}

func decodeAs[T any](t *testing.T, o k8sObject) T {
	t.Helper()
	var v T
	if err := o.node.Decode(&v); err != nil {
		t.Fatalf("%s: %s %s: %v", o.file, o.Kind, o.Metadata.Name, err)
	}
	return v
}

func subset(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func TestDeployKubernetesManifestsAreConsistent(t *testing.T) {
	env := knownEnv(t)
	objs := loadManifests(t, "kubernetes")
	byKind := map[string]map[string]k8sObject{}
	for _, o := range objs {
		if byKind[o.Kind] == nil {
			byKind[o.Kind] = map[string]k8sObject{}
		}
		if _, dup := byKind[o.Kind][o.Metadata.Name]; dup {
			t.Errorf("%s %s defined twice", o.Kind, o.Metadata.Name)
		}
		byKind[o.Kind][o.Metadata.Name] = o
	}
	configMaps := map[string]map[string]string{}
	for name, o := range byKind["ConfigMap"] {
		configMaps[name] = decodeAs[struct {
			Data map[string]string `yaml:"data"`
		}](t, o).Data
	}
	secrets := map[string]map[string]string{}
	for name, o := range byKind["Secret"] {
		s := decodeAs[struct {
			StringData map[string]string `yaml:"stringData"`
			Data       map[string]string `yaml:"data"`
		}](t, o)
		secrets[name] = s.StringData
		for k, v := range s.Data {
			secrets[name][k] = v
		}
	}

	roles := map[string]bool{}
	pods := map[string]k8sDeployment{}
	for name, o := range byKind["Deployment"] {
		where := o.file + ": Deployment " + name
		d := decodeAs[k8sDeployment](t, o)
		pods[name] = d
		pod := d.Spec.Template.Spec
		if !subset(d.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels) {
			t.Errorf("%s: selector %v does not select its pods %v", where, d.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels)
		}
		if pod.TerminationGracePeriodSeconds < 30 {
			t.Errorf("%s: terminationGracePeriodSeconds %d: want at least 30 to drain the spool", where, pod.TerminationGracePeriodSeconds)
		}
		if len(pod.Containers) != 1 {
			t.Fatalf("%s: %d containers, want 1", where, len(pod.Containers))
		}
		c := pod.Containers[0]
		if err := pinned(c.Image); err != nil {
			t.Errorf("%s: %v", where, err)
		}
		if len(c.Ports) != 1 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != 8080 {
			t.Errorf("%s: ports %+v: want http 8080", where, c.Ports)
		}
		for _, p := range []struct {
			name  string
			probe *k8sProbe
			path  string
		}{{"readinessProbe", c.ReadinessProbe, "/readyz"}, {"livenessProbe", c.LivenessProbe, "/healthz"}} {
			if p.probe == nil || p.probe.HTTPGet == nil || p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port != "http" {
				t.Errorf("%s: %s must be an httpGet of %s on port http", where, p.name, p.path)
			}
		}
		if c.Resources.Requests["memory"] == "" || c.Resources.Limits["memory"] == "" {
			t.Errorf("%s: memory request and limit are needed (sizing in deployments/README.md)", where)
		}
		volumes := map[string]*struct {
			Name     string `yaml:"name"`
			Optional bool   `yaml:"optional"`
		}{}
		for _, v := range pod.Volumes {
			volumes[v.Name] = nil
			if v.ConfigMap != nil {
				volumes[v.Name] = v.ConfigMap
				if _, ok := configMaps[v.ConfigMap.Name]; !ok && !v.ConfigMap.Optional {
					t.Errorf("%s: volume %s: ConfigMap %s is not in the manifests", where, v.Name, v.ConfigMap.Name)
				}
			}
		}
		mounts := map[string]string{} // mountPath -> volume
		for _, m := range c.VolumeMounts {
			if _, ok := volumes[m.Name]; !ok {
				t.Errorf("%s: mount %s: no volume %s", where, m.MountPath, m.Name)
			}
			mounts[m.MountPath] = m.Name
		}
		// file resolves a path of the container to a ConfigMap key.
		file := func(p string) (cm string, key string, optional, ok bool) {
			for mp, vol := range mounts {
				if rel, err := filepath.Rel(mp, p); err == nil && !strings.HasPrefix(rel, "..") {
					if v := volumes[vol]; v != nil {
						return v.Name, rel, v.Optional, true
					}
					return "", rel, false, true
				}
			}
			return "", "", false, false
		}
		cfgPath := flagValue(c.Args, "--config")
		cm, key, _, ok := file(cfgPath)
		if len(c.Args) == 0 || c.Args[0] != "serve" || !ok || cm == "" {
			t.Fatalf("%s: args %v: want serve --config <file of a mounted ConfigMap>", where, c.Args)
		}
		text, ok := configMaps[cm][key]
		if !ok {
			t.Fatalf("%s: --config %s: ConfigMap %s has no key %s", where, cfgPath, cm, key)
		}
		cfg := checkEffidxConfig(t, cm+"/"+key, []byte(text))
		for _, k := range configPaths {
			p := lookup(cfg, k)
			if p == "" {
				continue
			}
			cm, key, optional, ok := file(p)
			switch {
			case !ok:
				t.Errorf("%s: %s %s is not on a mounted volume", where, k, p)
			case cm != "" && key != "." && !optional:
				if _, has := configMaps[cm][key]; !has {
					t.Errorf("%s: %s %s: ConfigMap %s has no key %s", where, k, p, cm, key)
				}
			}
		}
		setRoles := ""
		for _, e := range c.Env {
			if !env[e.Name] {
				t.Errorf("%s: env %s is not an effidx setting", where, e.Name)
			}
			if e.Name == "EFFIDX_ROLES" {
				setRoles = e.Value
			}
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				ref := e.ValueFrom.SecretKeyRef
				if _, ok := secrets[ref.Name][ref.Key]; !ok {
					t.Errorf("%s: env %s: Secret %s has no key %s", where, e.Name, ref.Name, ref.Key)
				}
			}
		}
		if setRoles == "" {
			t.Errorf("%s: EFFIDX_ROLES is not set: every Deployment says which roles it runs", where)
		}
		for _, r := range strings.Split(setRoles, ",") {
			if r != "collector" && r != "jobs" && r != "dashboard" {
				t.Errorf("%s: unknown role %q", where, r)
			}
			roles[r] = true
		}
	}
	if !roles["collector"] || !roles["jobs"] || !roles["dashboard"] {
		t.Errorf("the Deployments run roles %v: want collector, jobs and dashboard between them", keys(roles))
	}

	services := map[string]k8sObject{}
	for name, o := range byKind["Service"] {
		services[name] = o
		s := decodeAs[struct {
			Spec struct {
				Selector map[string]string `yaml:"selector"`
				Ports    []struct {
					Name       string `yaml:"name"`
					TargetPort string `yaml:"targetPort"`
				} `yaml:"ports"`
			} `yaml:"spec"`
		}](t, o)
		matched := false
		for _, d := range pods {
			if subset(s.Spec.Selector, d.Spec.Template.Metadata.Labels) {
				matched = true
				for _, p := range s.Spec.Ports {
					if p.TargetPort != d.Spec.Template.Spec.Containers[0].Ports[0].Name {
						t.Errorf("Service %s: targetPort %q is not the pods' port name", name, p.TargetPort)
					}
				}
			}
		}
		if !matched {
			t.Errorf("Service %s selects no Deployment's pods (%v)", name, s.Spec.Selector)
		}
	}
	if _, ok := services["effidx"]; !ok {
		t.Error("no Service effidx")
	}

	// The monitoring kustomization: ServiceMonitor over the Services.
	for _, o := range loadManifests(t, "kubernetes/monitoring") {
		if o.Kind != "ServiceMonitor" {
			continue
		}
		sm := decodeAs[struct {
			Spec struct {
				Selector struct {
					MatchLabels map[string]string `yaml:"matchLabels"`
				} `yaml:"selector"`
				Endpoints []struct {
					Port        string `yaml:"port"`
					Path        string `yaml:"path"`
					Relabelings []struct {
						TargetLabel string `yaml:"targetLabel"`
						Replacement string `yaml:"replacement"`
					} `yaml:"relabelings"`
				} `yaml:"endpoints"`
			} `yaml:"spec"`
		}](t, o)
		n := 0
		for _, s := range services {
			if subset(sm.Spec.Selector.MatchLabels, s.Metadata.Labels) {
				n++
			}
		}
		if n != len(services) {
			t.Errorf("ServiceMonitor %s selects %d of the %d Services", o.Metadata.Name, n, len(services))
		}
		for _, e := range sm.Spec.Endpoints {
			job := ""
			for _, r := range e.Relabelings {
				if r.TargetLabel == "job" {
					job = r.Replacement
				}
			}
			if e.Port != "http" || e.Path != "/metrics" || job != "effidx" {
				t.Errorf("ServiceMonitor endpoint %+v: want port http, path /metrics, job relabelled to effidx (the alert rules' job)", e)
			}
		}
	}

	for _, dir := range []string{"kubernetes", "kubernetes/monitoring"} {
		var k struct {
			Resources []string `yaml:"resources"`
		}
		if err := yaml.Unmarshal([]byte(readFile(t, dir+"/kustomization.yaml")), &k); err != nil {
			t.Fatal(err)
		}
		listed := map[string]bool{}
		for _, r := range k.Resources {
			listed[r] = true
			if _, err := os.Stat(filepath.Join(dir, r)); err != nil {
				t.Errorf("%s/kustomization.yaml: %v", dir, err)
			}
		}
		for _, p := range globFiles(t, dir, ".yaml") {
			if filepath.Dir(p) == dir && filepath.Base(p) != "kustomization.yaml" && !listed[filepath.Base(p)] {
				t.Errorf("%s is not listed in %s/kustomization.yaml", p, dir)
			}
		}
		if _, err := exec.LookPath("kubectl"); err == nil {
			out := tool(t, "kubectl", "kustomize", dir)
			if !strings.Contains(out, "namespace: effidx") {
				t.Errorf("kubectl kustomize %s: no namespace effidx in\n%s", dir, out)
			}
		}
	}
}

// The ConfigMap of the catalog and light rules, and the PrometheusRule,
// carry copies of files of the repository: generated, and checked here to
// be current.
func TestDeployKubernetesCopiesOfRulesAndCatalogAreCurrent(t *testing.T) {
	generated := map[string]string{
		"kubernetes/configmap-rules.yaml":           rulesConfigMap(t),
		"kubernetes/monitoring/prometheusrule.yaml": prometheusRule(t),
	}
	for p, want := range generated {
		if *update {
			writeFile(t, p, want)
		}
		if got := readFile(t, p); got != want {
			t.Errorf("%s is not current with its sources: run go test ./deployments -run Deploy -update", p)
		}
	}
	// The copies decode to what they copy.
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	if err := yaml.Unmarshal([]byte(generated["kubernetes/configmap-rules.yaml"]), &cm); err != nil {
		t.Fatal(err)
	}
	for key, src := range rulesSources {
		if cm.Data[key] != readFile(t, src) {
			t.Errorf("ConfigMap effidx-rules key %s differs from %s", key, src)
		}
	}
	var pr struct {
		Spec any `yaml:"spec"`
	}
	if err := yaml.Unmarshal([]byte(generated["kubernetes/monitoring/prometheusrule.yaml"]), &pr); err != nil {
		t.Fatal(err)
	}
	if want := decodeYAML(t, alertRules, []byte(readFile(t, alertRules))); !reflect.DeepEqual(pr.Spec, want) {
		t.Errorf("PrometheusRule spec differs from %s", alertRules)
	}
}

var rulesSources = map[string]string{"catalog.yaml": "../indices/catalog.yaml", "lights.yaml": "../rules/lights.yaml"}

const alertRules = "../rules/prometheus/effidx.rules.yml"

func rulesConfigMap(t *testing.T) string {
	var b strings.Builder
	b.WriteString(`# Generated from indices/catalog.yaml and rules/lights.yaml by
# go test ./deployments -run Deploy -update: edit those, not this.
# In a cluster, edit the ConfigMap itself: effidx re-reads the catalog
# when it changes (the kubelet updates mounted ConfigMaps within a minute).
apiVersion: v1
kind: ConfigMap
metadata:
  name: effidx-rules
  labels:
    app.kubernetes.io/name: effidx
data:
`)
	names := keys(rulesSources)
	for _, k := range names {
		fmt.Fprintf(&b, "  %s: |\n%s", k, indent(readFile(t, rulesSources[k]), "    "))
	}
	return b.String()
}

func prometheusRule(t *testing.T) string {
	src := readFile(t, alertRules)
	i := strings.Index(src, "\ngroups:")
	if i < 0 {
		t.Fatalf("%s: no top-level groups:", alertRules)
	}
	return `# Generated from rules/prometheus/effidx.rules.yml by
# go test ./deployments -run Deploy -update: edit that file (it has the
# conventions and promtool tests), not this.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: effidx
  labels:
    app.kubernetes.io/name: effidx
spec:
` + indent(src[i+1:], "  ")
}

func indent(s, by string) string {
	lines := strings.SplitAfter(s, "\n")
	var b strings.Builder
	for _, l := range lines {
		if strings.TrimSpace(l) != "" {
			b.WriteString(by)
		}
		b.WriteString(l)
	}
	return b.String()
}

// ---------------------------------------------------------------------------
// Helpers.

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func decodeYAML(t *testing.T, name string, b []byte) map[string]any {
	t.Helper()
	var v map[string]any
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func globFiles(t *testing.T, dir, ext string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && path.Ext(p) == ext {
			out = append(out, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// tool runs a checker that the deployment relies on; it must be installed
// (Debian: prometheus, prometheus-alertmanager, systemd, kubectl), as the
// rest of the test suite requires its tools rather than skipping.
func tool(t *testing.T, name string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s not found: install it (Debian: apt-get install prometheus prometheus-alertmanager)", name)
	}
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}
