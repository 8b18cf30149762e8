package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// An engine runs statements one at a time and answers in TabSeparated.
type engine interface {
	Name() string
	Run(sql string) answer
	Close() error
}

// serverEngine is a clickhouse-server through its HTTP interface, which
// answers in the same TabSeparated text as chDB (and takes an INSERT with
// inline VALUES, which hangs over the native protocol on 18.16).
type serverEngine struct {
	url, name string
	client    *http.Client
}

func newServerEngine(httpAddr string) (*serverEngine, error) {
	// wait_end_of_query: an error after the first rows is a 500 too, not
	// an exception appended to a 200.
	e := &serverEngine{url: "http://" + httpAddr + "/?wait_end_of_query=1", client: &http.Client{Timeout: 10 * time.Minute}}
	a := e.Run("SELECT version()")
	if a.Err != "" {
		return nil, fmt.Errorf("clickhouse-server at %s: %s", httpAddr, a.Err)
	}
	e.name = "ClickHouse " + strings.TrimSpace(a.Out) + " (clickhouse-server)"
	return e, nil
}

func (e *serverEngine) Name() string { return e.name }
func (e *serverEngine) Close() error { e.client.CloseIdleConnections(); return nil }

func (e *serverEngine) Run(sql string) answer {
	start := time.Now()
	resp, err := e.client.Post(e.url, "text/plain; charset=utf-8", strings.NewReader(sql))
	if err != nil {
		return answer{Err: err.Error(), Took: time.Since(start)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	took := time.Since(start)
	switch {
	case err != nil:
		return answer{Err: "reading the answer: " + err.Error(), Took: took}
	case resp.StatusCode != http.StatusOK:
		return answer{Err: strings.TrimSpace(string(body)), Took: took}
	}
	return answer{Out: string(body), Took: took}
}

// chdbEngine is ClickHouse in-process (npm's chdb) in a Node child
// process running chdb.js.
type chdbEngine struct {
	name   string
	cmd    *exec.Cmd
	in     *bufio.Writer
	stdin  io.Closer
	out    *bufio.Reader
	stderr *tail
	mu     sync.Mutex
	dead   error
}

// startChDB starts chdb.js with the packages in nodeModules and the
// session in time zone tz.
func startChDB(compatDir, nodeModules, tz string) (*chdbEngine, error) {
	cmd := exec.Command("node", filepath.Join(compatDir, "chdb.js"))
	cmd.Env = append(os.Environ(), "NODE_PATH="+nodeModules, "TZ="+tz)
	e := &chdbEngine{cmd: cmd, stderr: &tail{max: 8 << 10}}
	cmd.Stderr = e.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start node (chDB runner): %w", err)
	}
	e.stdin, e.in, e.out = stdin, bufio.NewWriterSize(stdin, 1<<20), bufio.NewReaderSize(stdout, 1<<20)
	var hello struct{ Version, Timezone, Fatal string }
	line, err := e.out.ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &hello)
	}
	switch {
	case err != nil:
		e.Close()
		return nil, fmt.Errorf("chDB runner did not start: %v %s", err, e.stderr)
	case hello.Fatal != "":
		e.Close()
		return nil, errors.New(hello.Fatal)
	case hello.Timezone != tz:
		e.Close()
		return nil, fmt.Errorf("chDB session is in time zone %q, want %q", hello.Timezone, tz)
	}
	e.name = "ClickHouse " + hello.Version + " (chDB)"
	return e, nil
}

func (e *chdbEngine) Name() string { return e.name }

func (e *chdbEngine) Run(sql string) answer {
	e.mu.Lock()
	defer e.mu.Unlock()
	start := time.Now()
	if e.dead != nil {
		return answer{Err: e.dead.Error()}
	}
	req, err := json.Marshal(struct {
		SQL string `json:"sql"`
	}{sql})
	if err != nil {
		return answer{Err: err.Error()}
	}
	var resp struct {
		OK       bool
		Out, Err string
	}
	if _, err = e.in.Write(append(req, '\n')); err == nil {
		err = e.in.Flush()
	}
	var line []byte
	if err == nil {
		line, err = e.out.ReadBytes('\n')
	}
	if err == nil {
		err = json.Unmarshal(line, &resp)
	}
	if err != nil {
		// The process died (chDB can abort the whole process): every
		// later statement fails the same way.
		e.dead = fmt.Errorf("chDB runner ended: %v; its last output: %s", err, e.stderr)
		return answer{Err: e.dead.Error(), Took: time.Since(start)}
	}
	if !resp.OK {
		return answer{Err: resp.Err, Took: time.Since(start)}
	}
	return answer{Out: resp.Out, Took: time.Since(start)}
}

func (e *chdbEngine) Close() error {
	if e.stdin != nil {
		e.stdin.Close()
	}
	done := make(chan error, 1)
	go func() { done <- e.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		_ = e.cmd.Process.Kill()
		return <-done
	}
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.TrimSpace(t.b))
}
