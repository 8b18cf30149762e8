package remind

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/textproto"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"effidx/warehouse/chtest"
)

func TestMain(m *testing.M) { os.Exit(chtest.Main(m)) }

const testSecret = "webhook-secret-of-the-tests"

// received is one message a test receiver accepted.
type received struct {
	Key string
	Msg Message
	At  time.Time // the simulated time of the run that sent it
}

// receiver is a webhook gateway as a city platform would run it: it
// checks the HMAC signature and the timestamp, and counts what arrives by
// Idempotency-Key. failFirst makes the first request of a key answer 500
// after it was received (a gateway that crashed before answering), so
// the retry must carry the same key.
type receiver struct {
	*httptest.Server
	mu        sync.Mutex
	ok        map[string]int // 2xx answers per key
	posts     int
	bad       int // requests failing verification
	got       []received
	failFirst func(m *Message) bool
	failed    map[string]bool
	clock     func() time.Time // the simulated time, recorded with each message
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{ok: map[string]int{}, failed: map[string]bool{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.posts++
		if err := Verify([]byte(testSecret), req.Header, body, time.Now(), 5*time.Minute); err != nil {
			r.bad++
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var m Message
		if err := json.Unmarshal(body, &m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		key := req.Header.Get(HeaderIdempotency)
		if key != m.ID {
			http.Error(w, "Idempotency-Key is not the message id", http.StatusBadRequest)
			return
		}
		if r.failFirst != nil && !r.failed[key] && r.failFirst(&m) {
			r.failed[key] = true
			http.Error(w, "gateway restarting", http.StatusInternalServerError)
			return
		}
		r.ok[key]++
		if r.ok[key] == 1 {
			at := time.Time{}
			if r.clock != nil {
				at = r.clock()
			}
			r.got = append(r.got, received{Key: key, Msg: m, At: at})
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) snapshot() (ok map[string]int, got []received, posts, bad int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ok = make(map[string]int, len(r.ok))
	for k, v := range r.ok {
		ok[k] = v
	}
	return ok, append([]received(nil), r.got...), r.posts, r.bad
}

// smtpServer is a minimal SMTP server (RFC 5321's happy path, no TLS, no
// AUTH) that keeps every message it accepted.
type smtpServer struct {
	ln   net.Listener
	mu   sync.Mutex
	msgs []smtpMessage
	wg   sync.WaitGroup
}

type smtpMessage struct {
	From string
	To   []string
	Data []byte
}

func newSMTPServer(t *testing.T) *smtpServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
	})
	return s
}

func (s *smtpServer) addr() string { return s.ln.Addr().String() }

func (s *smtpServer) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	tp := textproto.NewConn(c)
	_ = tp.PrintfLine("220 test.smtp ESMTP ready")
	var m smtpMessage
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			_ = tp.PrintfLine("250-test.smtp greets %s", arg)
			_ = tp.PrintfLine("250 8BITMIME")
		case "HELO":
			_ = tp.PrintfLine("250 test.smtp")
		case "MAIL":
			from, _, _ := strings.Cut(strings.TrimPrefix(arg, "FROM:"), " ") // "FROM:<a> BODY=8BITMIME"
			m = smtpMessage{From: strings.Trim(from, "<>")}
			_ = tp.PrintfLine("250 OK")
		case "RCPT":
			m.To = append(m.To, strings.Trim(arg[len("TO:"):], "<>"))
			_ = tp.PrintfLine("250 OK")
		case "DATA":
			_ = tp.PrintfLine("354 end with <CRLF>.<CRLF>")
			data, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			m.Data = data
			s.mu.Lock()
			s.msgs = append(s.msgs, m)
			s.mu.Unlock()
			_ = tp.PrintfLine("250 OK queued")
		case "RSET", "NOOP":
			_ = tp.PrintfLine("250 OK")
		case "QUIT":
			_ = tp.PrintfLine("221 bye")
			return
		default:
			_ = tp.PrintfLine("502 not implemented")
		}
	}
}

func (s *smtpServer) messages() []smtpMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]smtpMessage(nil), s.msgs...)
}

// parseMail reads a received message's headers and decoded body.
func parseMail(t *testing.T, data []byte) (*mail.Message, string) {
	t.Helper()
	m, err := mail.ReadMessage(bufio.NewReader(strings.NewReader(string(data))))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(m.Body)
	body, err := decodeBase64Lines(string(raw))
	if err != nil {
		t.Fatalf("body: %v", err)
	}
	return m, body
}

func decodeBase64Lines(s string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(strings.NewReplacer("\r", "", "\n", "").Replace(s))
	return string(b), err
}
