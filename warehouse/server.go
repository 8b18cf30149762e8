package warehouse

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// ErrBinaryNotFound is wrapped by ServerConfig.Validate (and so StartServer)
// when no clickhouse-server executable can be found.
var ErrBinaryNotFound = errors.New("clickhouse-server not found")

const (
	defaultServerTimezone = "Asia/Shanghai"
	defaultStartTimeout   = 60 * time.Second
	defaultStopGrace      = 10 * time.Second
	fallbackServerBinary  = "/usr/sbin/clickhouse-server"

	// A port picked by listening on :0 can be taken by someone else before
	// clickhouse-server binds it; such a start is retried with new ports.
	serverStartAttempts = 3
	readyPollInterval   = 50 * time.Millisecond
	serverLogTailLines  = 20
)

// errPortInUse marks a start that failed because a picked port was taken.
var errPortInUse = errors.New("port already in use")

// ServerConfig says how to run an embedded clickhouse-server.
type ServerConfig struct {
	Dir          string        // data directory (created); config, data, logs, pid file all live under it
	Binary       string        // "" = find clickhouse-server on PATH, then /usr/sbin/clickhouse-server
	Timezone     string        // default "Asia/Shanghai"
	StartTimeout time.Duration // default 60s
	StopGrace    time.Duration // default 10s: SIGTERM, then SIGKILL after this
	Logger       *slog.Logger  // nil = slog.Default()
	TCPPort      int           // native protocol port; 0 = a free one
	HTTPPort     int           // HTTP port; 0 = a free one

	// Clusters become the server's remote_servers, so that several servers
	// on one machine can form a cluster (Distributed tables); their ports
	// must be fixed (TCPPort) to be known to each other in advance.
	Clusters []ClusterDef
	// Macros ({shard}, {replica}) for the paths of Replicated tables.
	Macros map[string]string
	// ZooKeeper nodes (host:port) for Replicated tables and ON CLUSTER DDL;
	// with them the server also gets an interserver HTTP port (a free one
	// unless InterserverPort is set) to fetch parts from its replicas.
	ZooKeeper       []string
	InterserverPort int
}

// ClusterDef is one entry of remote_servers.
type ClusterDef struct {
	Name   string
	Shards [][]string // per shard, its replicas as host:port of the native protocol
}

// Validate fills defaults, makes Dir and Binary absolute, and checks that Dir
// is set and the binary exists.
func (c *ServerConfig) Validate() error {
	if c.Dir == "" {
		return errors.New("warehouse: ServerConfig.Dir must be set")
	}
	// Absolute, because the paths end up in the server's config and its
	// cmdline, which is how a stale server is recognised.
	dir, err := filepath.Abs(c.Dir)
	if err != nil {
		return fmt.Errorf("warehouse: server dir %q: %w", c.Dir, err)
	}
	c.Dir = dir
	bin, err := findServerBinary(c.Binary)
	if err != nil {
		return err
	}
	c.Binary = bin
	if c.Timezone == "" {
		c.Timezone = defaultServerTimezone
	}
	if c.StartTimeout <= 0 {
		c.StartTimeout = defaultStartTimeout
	}
	if c.StopGrace <= 0 {
		c.StopGrace = defaultStopGrace
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c.validateCluster()
}

// validateCluster checks what goes into the XML config: a typo there only
// shows up later as a Distributed query that cannot reach a shard.
func (c *ServerConfig) validateCluster() error {
	var errs []error
	hostPort := func(what, hp string) {
		if _, port, err := net.SplitHostPort(hp); err != nil || port == "" {
			errs = append(errs, fmt.Errorf("warehouse: %s %q: want host:port", what, hp))
		}
	}
	for _, cl := range c.Clusters {
		if !identRE.MatchString(cl.Name) {
			errs = append(errs, fmt.Errorf("warehouse: cluster name %q: use letters, digits and _", cl.Name))
		}
		if len(cl.Shards) == 0 {
			errs = append(errs, fmt.Errorf("warehouse: cluster %s has no shards", cl.Name))
		}
		for i, sh := range cl.Shards {
			if len(sh) == 0 {
				errs = append(errs, fmt.Errorf("warehouse: cluster %s shard %d has no replicas", cl.Name, i+1))
			}
			for _, hp := range sh {
				hostPort(fmt.Sprintf("cluster %s shard %d replica", cl.Name, i+1), hp)
			}
		}
	}
	for _, hp := range c.ZooKeeper {
		hostPort("zookeeper node", hp)
	}
	for k := range c.Macros {
		if !identRE.MatchString(k) {
			errs = append(errs, fmt.Errorf("warehouse: macro name %q: use letters, digits and _", k))
		}
	}
	return errors.Join(errs...)
}

func findServerBinary(name string) (string, error) {
	const hint = "install it with `apt-get install clickhouse-server`"
	if name != "" {
		p, err := exec.LookPath(name)
		if err != nil {
			return "", fmt.Errorf("warehouse: %w: %v; %s", ErrBinaryNotFound, err, hint)
		}
		return filepath.Abs(p)
	}
	if p, err := exec.LookPath("clickhouse-server"); err == nil {
		return filepath.Abs(p)
	}
	if p, err := exec.LookPath(fallbackServerBinary); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("warehouse: %w on PATH or at %s; %s", ErrBinaryNotFound, fallbackServerBinary, hint)
}

// serverFiles is where everything lives under ServerConfig.Dir.
type serverFiles struct {
	config, users, pid string
	data               string // ClickHouse <path>; holds its own "status" lock file
	log, errLog        string // ClickHouse's logger
	stdout, stderr     string // the child's own output (startup errors land here)
	dirs               []string
}

func newServerFiles(dir string) serverFiles {
	logDir := filepath.Join(dir, "log")
	data := filepath.Join(dir, "data")
	return serverFiles{
		config: filepath.Join(dir, "config.xml"),
		users:  filepath.Join(dir, "users.xml"),
		pid:    filepath.Join(dir, "clickhouse-server.pid"),
		data:   data,
		log:    filepath.Join(logDir, "clickhouse-server.log"),
		errLog: filepath.Join(logDir, "clickhouse-server.err.log"),
		stdout: filepath.Join(logDir, "stdout.log"),
		stderr: filepath.Join(logDir, "stderr.log"),
		dirs:   []string{dir, logDir, data},
	}
}

// Server is a running clickhouse-server child process.
type Server struct {
	cfg      ServerConfig
	files    serverFiles
	addr     string
	httpAddr string
	version  string
	proc     *os.Process

	done     chan struct{} // closed when the child has exited and been reaped
	waitErr  error         // the child's exit status; read only after done
	stopping atomic.Bool

	stopOnce sync.Once
	stopErr  error
}

// StartServer writes a config under cfg.Dir, kills a stale server left there
// by a crashed predecessor, starts clickhouse-server on free loopback ports
// and waits until it answers SELECT 1. ctx bounds the start only, not the
// server's lifetime: call Stop.
func StartServer(ctx context.Context, cfg ServerConfig) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	files := newServerFiles(cfg.Dir)
	for _, d := range files.dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("warehouse: %w", err)
		}
	}
	if err := os.WriteFile(files.users, []byte(serverUsersXML(len(cfg.Clusters) > 0)), 0o644); err != nil {
		return nil, fmt.Errorf("warehouse: %w", err)
	}
	if err := killStaleServer(ctx, cfg, files); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()
	var err error
	for attempt := 1; attempt <= serverStartAttempts; attempt++ {
		var s *Server
		s, err = startServerOnce(ctx, cfg, files)
		if err == nil {
			return s, nil
		}
		if !errors.Is(err, errPortInUse) {
			break
		}
		cfg.Logger.Warn("clickhouse-server port clash, retrying with new ports", "attempt", attempt, "err", err)
	}
	return nil, err
}

func startServerOnce(ctx context.Context, cfg ServerConfig, files serverFiles) (*Server, error) {
	ports, err := freeLoopbackPorts(3)
	if err != nil {
		return nil, fmt.Errorf("warehouse: picking ports: %w", err)
	}
	tcpPort, httpPort, interPort := ports[0], ports[1], ports[2]
	// Fixed ports let a restarted server keep the address its clients know.
	if cfg.TCPPort != 0 {
		tcpPort = cfg.TCPPort
	}
	if cfg.HTTPPort != 0 {
		httpPort = cfg.HTTPPort
	}
	if cfg.InterserverPort != 0 {
		interPort = cfg.InterserverPort
	}
	conf := serverConfigXML(files, cfg.Timezone, tcpPort, httpPort)
	if extra := clusterXML(cfg, interPort); extra != "" {
		conf = strings.Replace(conf, "</yandex>\n", extra+"</yandex>\n", 1)
	}
	if err := os.WriteFile(files.config, []byte(conf), 0o644); err != nil {
		return nil, fmt.Errorf("warehouse: %w", err)
	}
	// Remember where this start's output begins, so a failure report shows
	// this attempt's lines and not an older run's.
	errLogFrom, stderrFrom := fileSize(files.errLog), fileSize(files.stderr)

	s := &Server{
		cfg:      cfg,
		files:    files,
		addr:     net.JoinHostPort("127.0.0.1", strconv.Itoa(tcpPort)),
		httpAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(httpPort)),
		done:     make(chan struct{}),
	}
	begin := time.Now()
	if err := s.startChild(); err != nil {
		return nil, err
	}
	if err := os.WriteFile(files.pid, []byte(strconv.Itoa(s.proc.Pid)+"\n"), 0o644); err != nil {
		s.kill()
		return nil, fmt.Errorf("warehouse: %w", err)
	}

	version, err := waitServerReady(ctx, s.addr, s.done)
	if err != nil {
		exited := false
		select {
		case <-s.done:
			exited = true
		default:
			s.kill()
		}
		s.removePIDFile()
		out := s.outputTail(errLogFrom, stderrFrom)
		if exited {
			err = fmt.Errorf("warehouse: clickhouse-server exited before it was ready (%v)%s", s.waitErr, out)
			if strings.Contains(out, "Address already in use") {
				err = fmt.Errorf("%w: %w", errPortInUse, err)
			}
			return nil, err
		}
		return nil, fmt.Errorf("warehouse: clickhouse-server not ready at %s: %w%s", s.addr, err, out)
	}
	s.version = version
	go s.watch()
	cfg.Logger.Info("clickhouse-server started",
		"version", s.version, "addr", s.addr, "http_addr", s.httpAddr,
		"dir", cfg.Dir, "pid", s.proc.Pid, "ready_in", time.Since(begin).Round(time.Millisecond))
	return s, nil
}

// startChild starts the process and a goroutine that reaps it.
func (s *Server) startChild() error {
	stdout, err := os.OpenFile(s.files.stdout, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("warehouse: %w", err)
	}
	defer stdout.Close()
	stderr, err := os.OpenFile(s.files.stderr, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("warehouse: %w", err)
	}
	defer stderr.Close()

	cmd := exec.Command(s.cfg.Binary, "--config-file="+s.files.config)
	cmd.Dir = s.cfg.Dir
	cmd.Stdout, cmd.Stderr = stdout, stderr // *os.File: handed to the child as is, no copying goroutines
	cmd.SysProcAttr = childSysProcAttr()

	started := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the OS thread that forked the child exits,
		// not when our process does, and Go retires idle threads at will.
		// So fork from a locked thread and keep it locked (this goroutine
		// parked in Wait) for the child's whole life. When this goroutine
		// returns still locked, the runtime ends the thread; the child is
		// gone by then.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		s.waitErr = cmd.Wait()
		close(s.done)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("warehouse: starting %s: %w", s.cfg.Binary, err)
	}
	s.proc = cmd.Process
	return nil
}

// watch reports a child that dies while nobody asked it to stop.
func (s *Server) watch() {
	<-s.done
	if !s.stopping.Load() {
		s.cfg.Logger.Error("clickhouse-server exited unexpectedly",
			"pid", s.proc.Pid, "err", s.waitErr, "dir", s.cfg.Dir, "error_log", s.files.errLog)
	}
}

// waitServerReady polls SELECT 1 over the native protocol until it answers,
// the child exits (done) or ctx ends; then it asks for the version.
func waitServerReady(ctx context.Context, addr string, done <-chan struct{}) (string, error) {
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:         []string{addr},
		Auth:         clickhouse.Auth{Database: "default", Username: "default"},
		DialTimeout:  time.Second,
		MaxOpenConns: 1,
	})
	if err != nil {
		return "", err
	}
	defer conn.Close()
	tick := time.NewTicker(readyPollInterval)
	defer tick.Stop()
	for {
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		var one uint8
		err = conn.QueryRow(qctx, "SELECT 1").Scan(&one)
		if err == nil {
			var version string
			err = conn.QueryRow(qctx, "SELECT version()").Scan(&version)
			cancel()
			return version, err
		}
		cancel()
		select {
		case <-done:
			return "", errors.New("exited")
		case <-ctx.Done():
			return "", fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// Addr is the native protocol address, "127.0.0.1:PORT".
func (s *Server) Addr() string { return s.addr }

// HTTPAddr is the HTTP interface address, "127.0.0.1:PORT".
func (s *Server) HTTPAddr() string { return s.httpAddr }

// Version is what the server answered to SELECT version(), e.g. "18.16.1".
func (s *Server) Version() string { return s.version }

// Config is the configuration the server runs with (defaults filled in):
// StartServer with it starts the server again on the same Dir, and on the
// same native port if that was fixed (as StartCluster fixes it).
func (s *Server) Config() ServerConfig { return s.cfg }

// PID is the process id of the clickhouse-server child.
func (s *Server) PID() int { return s.proc.Pid }

// Done is closed when the child has exited, for any reason.
func (s *Server) Done() <-chan struct{} { return s.done }

// Stop sends SIGTERM, waits up to StopGrace, then SIGKILLs, and returns once
// the child has exited. It is idempotent: later calls return the first
// call's result. It returns an error only if the server had already died
// before Stop was called.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() { s.stopErr = s.stop() })
	return s.stopErr
}

func (s *Server) stop() error {
	s.stopping.Store(true)
	defer s.removePIDFile()
	select {
	case <-s.done:
		return fmt.Errorf("warehouse: clickhouse-server (pid %d) had already exited: %v", s.proc.Pid, s.waitErr)
	default:
	}
	begin := time.Now()
	if err := signalChild(s.proc, false); err != nil {
		s.cfg.Logger.Warn("clickhouse-server: SIGTERM failed, killing", "pid", s.proc.Pid, "err", err)
		s.kill()
	}
	killed := false
	timer := time.NewTimer(s.cfg.StopGrace)
	defer timer.Stop()
	select {
	case <-s.done:
	case <-timer.C:
		killed = true
		s.cfg.Logger.Warn("clickhouse-server did not stop in time, killing", "pid", s.proc.Pid, "grace", s.cfg.StopGrace)
		s.kill()
	}
	s.cfg.Logger.Info("clickhouse-server stopped",
		"pid", s.proc.Pid, "dir", s.cfg.Dir, "took", time.Since(begin).Round(time.Millisecond), "killed", killed)
	return nil
}

// kill SIGKILLs the child and waits until it is reaped.
func (s *Server) kill() {
	if err := signalChild(s.proc, true); err != nil {
		_ = s.proc.Kill()
	}
	<-s.done
}

// removePIDFile removes the pid file if it still names our child: a newer
// server on the same Dir may have replaced it.
func (s *Server) removePIDFile() {
	if pid, ok := readPIDFile(s.files.pid); ok && pid == s.proc.Pid {
		_ = os.Remove(s.files.pid)
	}
}

// outputTail formats the last lines this start wrote to ClickHouse's error
// log and to the child's stderr (errors before the logger is set up, such as
// a bad timezone, only appear on stderr).
func (s *Server) outputTail(errLogFrom, stderrFrom int64) string {
	var b strings.Builder
	for _, f := range []struct {
		path string
		from int64
	}{{s.files.errLog, errLogFrom}, {s.files.stderr, stderrFrom}} {
		if lines := tailLines(f.path, f.from, serverLogTailLines); lines != "" {
			fmt.Fprintf(&b, "\n--- last lines of %s ---\n%s", f.path, lines)
		}
	}
	return b.String()
}

// killStaleServer kills a clickhouse-server still running on this Dir, left
// over by a predecessor that died without stopping it (where Pdeathsig is
// unavailable or the server was started some other way). Candidates are the
// pid file and the PID ClickHouse records in its "status" file; a pid only
// counts if its cmdline names our config, so a recycled pid is left alone.
// ClickHouse's status file itself needs no cleanup: it is an flock that dies
// with the process, and a leftover file only makes the next start log an
// "unclean restart" warning.
func killStaleServer(ctx context.Context, cfg ServerConfig, files serverFiles) error {
	var pids []int
	if pid, ok := readPIDFile(files.pid); ok {
		pids = append(pids, pid)
	}
	if pid, ok := statusFilePID(filepath.Join(files.data, "status")); ok && (len(pids) == 0 || pids[0] != pid) {
		pids = append(pids, pid)
	}
	for _, pid := range pids {
		if !isOurServer(pid, files.config) {
			continue
		}
		cfg.Logger.Warn("killing stale clickhouse-server", "pid", pid, "dir", cfg.Dir)
		if err := signalPID(pid, false); err != nil {
			return fmt.Errorf("warehouse: stopping stale clickhouse-server pid %d: %w", pid, err)
		}
		if waitPIDGone(ctx, pid, files.config, cfg.StopGrace) {
			continue
		}
		if err := signalPID(pid, true); err != nil {
			return fmt.Errorf("warehouse: killing stale clickhouse-server pid %d: %w", pid, err)
		}
		if !waitPIDGone(ctx, pid, files.config, 10*time.Second) {
			return fmt.Errorf("warehouse: stale clickhouse-server pid %d on %s survived SIGKILL", pid, cfg.Dir)
		}
	}
	_ = os.Remove(files.pid)
	return nil
}

func isOurServer(pid int, config string) bool {
	cmdline, ok := processCmdline(pid)
	// Match the whole flag, so /a/config.xml does not claim /a/config.xml.old.
	return ok && strings.Contains(cmdline, "clickhouse") && strings.Contains(cmdline+" ", " --config-file="+config+" ")
}

func waitPIDGone(ctx context.Context, pid int, config string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for isOurServer(pid, config) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(readyPollInterval)
	}
	return true
}

func readPIDFile(path string) (int, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid, err == nil && pid > 0
}

// statusFilePID reads the "PID: N" line of ClickHouse's status file.
func statusFilePID(path string) (int, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "PID:"); ok {
			pid, err := strconv.Atoi(strings.TrimSpace(v))
			return pid, err == nil && pid > 0
		}
	}
	return 0, false
}

// freeLoopbackPorts asks the kernel for n distinct free ports, holding all
// listeners open at once so the same port is not handed out twice.
func freeLoopbackPorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// tailLines returns the last n lines written to path after offset from
// (from the start if the file has since been rotated or truncated).
func tailLines(path string, from int64, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	size := fileSize(path)
	if from > size {
		from = 0
	}
	const maxRead = 64 << 10
	if size-from > maxRead {
		from = size - maxRead
	}
	b, err := io.ReadAll(io.NewSectionReader(f, from, size-from))
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}

func xmlText(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// serverConfigXML is the whole server config: ClickHouse 18.16 needs no more
// than this (no interserver_http_port, no include files). Unknown elements
// are ignored by 18.16, so only settings it knows are listed; it has no
// max_server_memory_usage, memory is capped per profile in users.xml.
// keep_alive_timeout bounds how long an idle HTTP keep-alive connection can
// hold up shutdown (18.16's default is 10s).
func serverConfigXML(f serverFiles, timezone string, tcpPort, httpPort int) string {
	data := f.data + string(filepath.Separator)
	return fmt.Sprintf(`<?xml version="1.0"?>
<!-- Written by effidx (warehouse.StartServer) on every start; edits are lost. -->
<yandex>
    <logger>
        <level>warning</level>
        <log>%s</log>
        <errorlog>%s</errorlog>
        <size>100M</size>
        <count>3</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <tcp_port>%d</tcp_port>
    <http_port>%d</http_port>
    <path>%s</path>
    <tmp_path>%s</tmp_path>
    <user_files_path>%s</user_files_path>
    <format_schema_path>%s</format_schema_path>
    <users_config>%s</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>%s</timezone>
    <mark_cache_size>268435456</mark_cache_size>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <max_concurrent_queries>64</max_concurrent_queries>
    <keep_alive_timeout>3</keep_alive_timeout>
</yandex>
`,
		xmlText(f.log), xmlText(f.errLog), tcpPort, httpPort,
		xmlText(data), xmlText(data+"tmp/"), xmlText(data+"user_files/"), xmlText(data+"format_schemas/"),
		xmlText(f.users), xmlText(timezone))
}

// clusterXML renders the optional cluster sections of the server config:
// remote_servers, macros, zookeeper with distributed DDL, and the
// interserver port replicas fetch parts through. internal_replication is
// true: with Replicated tables the replicas copy a Distributed insert among
// themselves, and a shard of one replica is the same either way.
func clusterXML(cfg ServerConfig, interPort int) string {
	var b strings.Builder
	node := func(hp string) string {
		host, port, _ := net.SplitHostPort(hp)
		return "<host>" + xmlText(host) + "</host><port>" + xmlText(port) + "</port>"
	}
	if len(cfg.Clusters) > 0 {
		b.WriteString("    <remote_servers>\n")
		for _, cl := range cfg.Clusters {
			fmt.Fprintf(&b, "        <%s>\n", cl.Name)
			for _, sh := range cl.Shards {
				b.WriteString("            <shard>\n                <internal_replication>true</internal_replication>\n")
				for _, hp := range sh {
					fmt.Fprintf(&b, "                <replica>%s</replica>\n", node(hp))
				}
				b.WriteString("            </shard>\n")
			}
			fmt.Fprintf(&b, "        </%s>\n", cl.Name)
		}
		b.WriteString("    </remote_servers>\n")
	}
	if len(cfg.Macros) > 0 {
		keys := make([]string, 0, len(cfg.Macros))
		for k := range cfg.Macros {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString("    <macros>\n")
		for _, k := range keys {
			fmt.Fprintf(&b, "        <%s>%s</%s>\n", k, xmlText(cfg.Macros[k]), k)
		}
		b.WriteString("    </macros>\n")
	}
	if len(cfg.ZooKeeper) > 0 {
		b.WriteString("    <zookeeper>\n")
		for _, hp := range cfg.ZooKeeper {
			fmt.Fprintf(&b, "        <node>%s</node>\n", node(hp))
		}
		b.WriteString("    </zookeeper>\n")
		b.WriteString("    <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>\n")
		fmt.Fprintf(&b, "    <interserver_http_host>127.0.0.1</interserver_http_host>\n    <interserver_http_port>%d</interserver_http_port>\n", interPort)
	}
	return b.String()
}

// serverUsersXML: user default, no password, loopback only. poll_interval
// (default 10s) is how often an idle native connection checks for shutdown:
// left at 10s, one idle client makes every SIGTERM take 10s. A server of a
// cluster gets distributed_product_mode = local in the profile, where 18.16
// has to take it from (see warehouse.Open).
//
// Threads: a query may use every CPU of the machine.
//
// Memory: a query may use 40% of the machine's memory and all queries 60%,
// and a GROUP BY spills to disk beyond 20%: the index of a year groups
// millions of cases, which failed outright at the old fixed 2 GB per query
// (bench compute, 10M cases).
func serverUsersXML(cluster bool) string {
	// 18.16 defaults max_threads to the physical cores it detects, which
	// on these virtual machines is one of two: every query ran on one
	// core (bench compute, 2026-12-07: each source query's cpu = its wall
	// time). The machine's CPUs are what a query may use.
	x := strings.Replace(usersXML, "<max_threads>1</max_threads>", fmt.Sprintf("<max_threads>%d</max_threads>", runtime.NumCPU()), 1)
	if total := totalMemory(); total > 0 {
		x = strings.NewReplacer(
			"<max_memory_usage>2000000000</max_memory_usage>", fmt.Sprintf("<max_memory_usage>%d</max_memory_usage>", max(total*2/5, 2000000000)),
			"<max_memory_usage_for_all_queries>4000000000</max_memory_usage_for_all_queries>",
			fmt.Sprintf("<max_memory_usage_for_all_queries>%d</max_memory_usage_for_all_queries>", max(total*3/5, 4000000000)),
			"<max_bytes_before_external_group_by>1000000000</max_bytes_before_external_group_by>",
			fmt.Sprintf("<max_bytes_before_external_group_by>%d</max_bytes_before_external_group_by>", max(total/5, 1000000000)),
		).Replace(x)
	}
	if !cluster {
		return x
	}
	return strings.Replace(x, "<poll_interval>1</poll_interval>\n", "<poll_interval>1</poll_interval>\n            <distributed_product_mode>local</distributed_product_mode>\n", 1)
}

const usersXML = `<?xml version="1.0"?>
<!-- Written by effidx (warehouse.StartServer) on every start; edits are lost. -->
<yandex>
    <profiles>
        <default>
            <max_memory_usage>2000000000</max_memory_usage>
            <max_memory_usage_for_all_queries>4000000000</max_memory_usage_for_all_queries>
            <max_bytes_before_external_group_by>1000000000</max_bytes_before_external_group_by>
            <use_uncompressed_cache>0</use_uncompressed_cache>
            <load_balancing>random</load_balancing>
            <log_queries>0</log_queries>
            <poll_interval>1</poll_interval>
            <max_threads>1</max_threads>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks>
                <ip>::1</ip>
                <ip>127.0.0.1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
`

// LocalCluster describes a cluster of servers on one machine.
type LocalCluster struct {
	Name     string
	Shards   int
	Replicas int // per shard; more than one needs ZooKeeper in the base config (Replicated tables)
}

// StartCluster starts Shards x Replicas clickhouse-servers on loopback
// ports, each under base.Dir/shardN (shardN-replicaM with replicas), all
// with the cluster in their remote_servers; with ZooKeeper in base, each
// gets the macros {shard} (01, 02, ...) and {replica} (s1r1, s1r2, ...) the
// Replicated tables name. For tests and benchmarks on one machine.
// base.TCPPort, HTTPPort, Clusters and Macros are ignored. The result is
// indexed by shard, then replica. On error, the servers already started
// are stopped.
func StartCluster(ctx context.Context, lc LocalCluster, base ServerConfig) ([][]*Server, error) {
	if lc.Shards < 1 || lc.Replicas < 1 {
		return nil, fmt.Errorf("warehouse: cluster %s: want at least one shard and one replica, got %d x %d", lc.Name, lc.Shards, lc.Replicas)
	}
	if lc.Replicas > 1 && len(base.ZooKeeper) == 0 {
		return nil, fmt.Errorf("warehouse: cluster %s: %d replicas per shard need ZooKeeper (ServerConfig.ZooKeeper)", lc.Name, lc.Replicas)
	}
	if base.Dir == "" {
		return nil, errors.New("warehouse: ServerConfig.Dir must be set")
	}
	// Each server must know every server's port before any of them starts.
	ports, err := freeLoopbackPorts(lc.Shards * lc.Replicas)
	if err != nil {
		return nil, fmt.Errorf("warehouse: picking ports: %w", err)
	}
	def := ClusterDef{Name: lc.Name, Shards: make([][]string, lc.Shards)}
	for i, p := range ports {
		def.Shards[i/lc.Replicas] = append(def.Shards[i/lc.Replicas], net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	}
	servers := make([][]*Server, lc.Shards)
	errs := make([]error, len(ports))
	var wg sync.WaitGroup
	for i := range ports {
		shard, replica := i/lc.Replicas, i%lc.Replicas
		if replica == 0 {
			servers[shard] = make([]*Server, lc.Replicas)
		}
		cfg := base
		cfg.Dir = filepath.Join(base.Dir, fmt.Sprintf("shard%d", shard+1))
		if lc.Replicas > 1 {
			cfg.Dir += fmt.Sprintf("-replica%d", replica+1)
		}
		cfg.TCPPort, cfg.HTTPPort, cfg.Clusters, cfg.Macros = ports[i], 0, []ClusterDef{def}, nil
		if len(base.ZooKeeper) > 0 {
			cfg.Macros = map[string]string{"shard": fmt.Sprintf("%02d", shard+1), "replica": fmt.Sprintf("s%dr%d", shard+1, replica+1)}
		}
		wg.Go(func() {
			servers[shard][replica], errs[i] = StartServer(ctx, cfg)
			if errs[i] != nil {
				errs[i] = fmt.Errorf("cluster %s shard %d replica %d: %w", lc.Name, shard+1, replica+1, errs[i])
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, sh := range servers {
			for _, s := range sh {
				if s != nil {
					_ = s.Stop()
				}
			}
		}
		return nil, err
	}
	return servers, nil
}
