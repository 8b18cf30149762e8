package remind

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Channel delivers messages one way.
type Channel interface {
	Name() string
	// Address is where this channel reaches p of department; "" when it
	// cannot.
	Address(p *Person, department string) string
	Send(ctx context.Context, address string, m *Message) error
}

// Headers of a webhook request.
const (
	HeaderSignature   = "X-Effidx-Signature" // "sha256=" + hex HMAC-SHA256(secret, timestamp + "." + body)
	HeaderTimestamp   = "X-Effidx-Timestamp" // Unix seconds of the signing
	HeaderIdempotency = "Idempotency-Key"    // the delivery id: the same on every attempt of a delivery
)

// Webhook posts messages as JSON to the department's gateway URL (SMS,
// DingTalk or WeCom hand-off), signed so that the gateway can tell them
// from forgeries and replays.
type Webhook struct {
	Secret []byte
	Client *http.Client
	Dir    *Directory
	now    func() time.Time
}

// NewWebhook builds the channel.
func NewWebhook(secret string, timeout time.Duration, dir *Directory) *Webhook {
	return &Webhook{Secret: []byte(secret), Client: &http.Client{Timeout: timeout}, Dir: dir, now: time.Now}
}

// Name implements Channel.
func (w *Webhook) Name() string { return "webhook" }

// Address implements Channel: the department's URL.
func (w *Webhook) Address(_ *Person, department string) string { return w.Dir.Webhook(department) }

// Sign is the signature header value of body at timestamp ts.
func Sign(secret []byte, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(strconv.FormatInt(ts, 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// ErrBadSignature is what Verify says about a request that is not ours.
var ErrBadSignature = errors.New("webhook signature does not match")

// Verify checks a webhook request as a receiver should: the signature over
// timestamp and body, in constant time, and a timestamp within tolerance
// of now (a captured request cannot be replayed later).
func Verify(secret []byte, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	ts, err := strconv.ParseInt(h.Get(HeaderTimestamp), 10, 64)
	if err != nil {
		return fmt.Errorf("webhook: %s missing or not a number", HeaderTimestamp)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("webhook: timestamp %d is %s away from now", ts, d.Round(time.Second))
	}
	if !hmac.Equal([]byte(h.Get(HeaderSignature)), []byte(Sign(secret, ts, body))) {
		return ErrBadSignature
	}
	return nil
}

// Send implements Channel: any 2xx answer is delivered.
func (w *Webhook) Send(ctx context.Context, address string, m *Message) error {
	body, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("webhook: encode message: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, address, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook %s: %w", address, err)
	}
	ts := w.now().Unix()
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "effidx-remind/1")
	req.Header.Set(HeaderIdempotency, m.ID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(w.Secret, ts, body))
	resp, err := w.Client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook %s: %w", address, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook %s answered %s: %s", address, resp.Status, strings.TrimSpace(string(snippet)))
	}
	return nil
}
